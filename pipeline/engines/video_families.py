"""The video model families the video engine renders with, and each family's rules.

A family is the set of diffusers pipeline classes that share one checkpoint's components
(text-to-video and image-to-video load from the same folder), plus what its VAE and
transformer require of sizes and frame counts. Worker side only: imports diffusers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusers import LTXImageToVideoPipeline, LTXPipeline
from PIL import Image

# per-batch conditioning: (start images or None, reference images) -> extra pipeline arguments
Conditioning = Callable[[Sequence[Image.Image] | None, Sequence[Image.Image]], dict[str, Any]]


def start_images(
    images: Sequence[Image.Image] | None, references: Sequence[Image.Image]
) -> dict[str, Any]:
    """One start image per video: the pipeline pairs image[i] with generator[i]."""
    return {} if images is None else {"image": list(images)}


@dataclass(frozen=True)
class VideoFamily:
    label: str
    text_to_video: type
    image_to_video: type
    # width and height must be multiples of this (VAE downscale x transformer patch)
    size_multiple: int
    # frame counts are frame_multiple * k + 1 (the VAE's temporal compression)
    frame_multiple: int
    max_frames: int
    # without extra["num_frames"] / extra["video_width"], at most this many frames / px a side
    default_max_frames: int
    default_long_side: int
    takes_frame_rate: bool = False
    # whether reference images (characters) reach the pipeline call
    takes_references: bool = False
    conditioning: Conditioning = start_images

    @property
    def min_frames(self) -> int:
        return self.frame_multiple + 1

    def pipeline_class(self, from_image: bool) -> type:
        return self.image_to_video if from_image else self.text_to_video


LTX = VideoFamily(
    label="LTX-Video",
    text_to_video=LTXPipeline,
    image_to_video=LTXImageToVideoPipeline,
    size_multiple=32,  # the VAE compresses 32x in space and 8x in time
    frame_multiple=8,
    max_frames=257,
    default_max_frames=121,
    default_long_side=768,
    takes_frame_rate=True,
)

# pipeline class name (model_index.json "_class_name") -> its family
FAMILIES: dict[str, VideoFamily] = {
    "LTXPipeline": LTX,
    "LTXImageToVideoPipeline": LTX,
}

# the rules every family meets, for checks made before a model's family is known
LOOSEST = VideoFamily(
    label="any video model",
    text_to_video=object,
    image_to_video=object,
    size_multiple=min(f.size_multiple for f in FAMILIES.values()),
    frame_multiple=min(f.frame_multiple for f in FAMILIES.values()),
    max_frames=max(f.max_frames for f in FAMILIES.values()),
    default_max_frames=LTX.default_max_frames,
    default_long_side=LTX.default_long_side,
)


def family_named(class_name: str, model: str) -> VideoFamily:
    """The family of a pipeline class name; ValueError listing the ones the engine renders."""
    try:
        return FAMILIES[class_name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise ValueError(
            f"video_model {model!r} is a {class_name}; the video engine renders with {known}"
        ) from None


def family_on_disk(model: str) -> VideoFamily | None:
    """The family of a local model folder, from its model_index.json, without loading it;
    None for a Hugging Face id (its family is known once it is loaded)."""
    index = Path(model) / "model_index.json"
    if not index.is_file():
        return None
    try:
        class_name = json.loads(index.read_text(encoding="utf-8"))["_class_name"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"video_model {model!r} has an unreadable model_index.json") from None
    return family_named(str(class_name), model)
