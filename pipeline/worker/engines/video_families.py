"""The video model families the video engine renders with, and each family's rules.

A family is the set of diffusers pipeline classes that share one checkpoint's components
(text-to-video and image-to-video load from the same folder), plus what its VAE and
transformer require of sizes and frame counts. Worker side only: imports diffusers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from diffusers import (
    CogVideoXImageToVideoPipeline,
    CogVideoXPipeline,
    LTXImageToVideoPipeline,
    LTXPipeline,
    WanImageToVideoPipeline,
    WanPipeline,
    WanVACEPipeline,
)
from PIL import Image, ImageOps

# per-call conditioning: (start images or None, reference images, the call's other arguments:
# width, height, num_frames...) -> extra pipeline arguments
Conditioning = Callable[
    [Sequence[Image.Image] | None, Sequence[Image.Image], Mapping[str, Any]], dict[str, Any]
]
# how a batch of videos goes into pipeline calls: (pipeline, start images or None, count) ->
# how many consecutive videos each call renders; ValueError when the pipeline cannot render them
CallPlan = Callable[[Any, Sequence[Image.Image] | None, int], list[int]]


def start_images(
    images: Sequence[Image.Image] | None,
    references: Sequence[Image.Image],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """One start image per video: the pipeline pairs image[i] with generator[i]."""
    return {} if images is None else {"image": list(images)}


def one_call(pipe: Any, images: Sequence[Image.Image] | None, count: int) -> list[int]:
    return [count]


def as_is(
    family: VideoFamily, pipeline_config: Mapping[str, Any], transformer_config: Mapping[str, Any]
) -> VideoFamily:
    return family


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
    # the frame rate a model not told the rate (takes_frame_rate) moves at: its frames are
    # counted at this rate, so motion plays at its natural speed at any project fps
    native_fps: int | None = None
    # whether reference images (characters) reach the pipeline call
    takes_references: bool = False
    conditioning: Conditioning = start_images
    # the pipelines ignore num_videos_per_prompt (CogVideoX's set it to 1): N videos, N prompts
    prompt_per_video: bool = False
    # "image-to-video" / "text-to-video" when a folder does only that task (its transformer
    # takes the start image's latents or not); "both" when from_pipe switches between them
    task: str = "both"
    # a model trained at one (width, height) / frame count renders only at that
    only_size: tuple[int, int] | None = None
    only_frames: int | None = None
    # (family, the model's pipeline config (model_index.json), its transformer's config) ->
    # the rules for that very model
    narrow: Callable[[VideoFamily, Mapping[str, Any], Mapping[str, Any]], VideoFamily] = as_is
    calls: CallPlan = one_call
    # the pipeline takes one torch.Generator, not a list (so it renders one video per call)
    single_generator: bool = False
    # its VAE stays in float32 when the rest loads in half precision (as its authors run it)
    vae_in_float32: bool = False

    @property
    def min_frames(self) -> int:
        return self.frame_multiple + 1

    def for_model(
        self, pipeline_config: Mapping[str, Any], transformer_config: Mapping[str, Any]
    ) -> VideoFamily:
        """These rules narrowed to one model, from its pipeline's and transformer's configs."""
        return self.narrow(self, pipeline_config, transformer_config)

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


def cogvideox_rules(
    family: VideoFamily, pipeline_config: Mapping[str, Any], config: Mapping[str, Any]
) -> VideoFamily:
    """CogVideoX 1.0 (2B, 5B, 5B-I2V) or 1.5, and text- or image-to-video, from the config."""
    in_channels, out_channels = config.get("in_channels"), config.get("out_channels")
    if in_channels and out_channels:
        # image-to-video transformers take the image latents beside the noise: twice the
        # channels, so a text-to-video pipeline cannot run on them, nor the other way round
        family = replace(
            family,
            task="image-to-video" if in_channels == 2 * out_channels else "text-to-video",
        )
    if config.get("patch_size_t"):
        # 1.5 model card: 16N+1 frames up to 161 (10 s at 16 fps, default 81), 1360x768
        family = replace(
            family,
            label="CogVideoX 1.5",
            frame_multiple=16,
            max_frames=161,
            default_max_frames=81,
            default_long_side=1360,
            native_fps=16,
        )
    if config.get("use_learned_positional_embeddings"):
        # CogVideoX-5b-I2V: its positional embeddings are learned for one latent size and
        # clip length; diffusers refuses another size and swaps in untrained ones for
        # another length (videos collapse), so it renders only what it was trained at
        # (720x480, 49 frames). Its latents are the pixels / 8 (the VAE).
        width, height = int(config["sample_width"]) * 8, int(config["sample_height"]) * 8
        family = replace(
            family, only_size=(width, height), only_frames=int(config["sample_frames"])
        )
    return family


COGVIDEOX = VideoFamily(
    label="CogVideoX",
    text_to_video=CogVideoXPipeline,
    image_to_video=CogVideoXImageToVideoPipeline,
    size_multiple=16,  # the VAE compresses 8x in space (4x in time), the transformer patch is 2
    # 1.0 model card: 8N+1 frames up to 49 (6 s at 8 fps) at 720x480; cogvideox_rules sets
    # the 1.5 models' rules
    frame_multiple=8,
    max_frames=49,
    default_max_frames=49,
    default_long_side=720,
    native_fps=8,
    prompt_per_video=True,
    narrow=cogvideox_rules,
)


def wan_rules(
    family: VideoFamily, pipeline_config: Mapping[str, Any], config: Mapping[str, Any]
) -> VideoFamily:
    """Which Wan model: Wan2.2-TI2V-5B (expand_timesteps) does text- and image-to-video at
    24 fps, with a VAE that compresses 16x (sizes in multiples of 32); the image-to-video
    transformers (Wan2.1-I2V, Wan2.2-I2V-A14B) take the start image's latents and mask beside
    the noise (36 channels in, 16 out): image-to-video only; the others (Wan2.1-T2V,
    Wan2.2-T2V-A14B) text-to-video only."""
    if pipeline_config.get("expand_timesteps"):
        return replace(family, size_multiple=32, native_fps=24)
    in_channels, out_channels = config.get("in_channels"), config.get("out_channels")
    if in_channels and out_channels and in_channels != out_channels:
        return replace(family, task="image-to-video")
    if in_channels and out_channels:
        return replace(family, task="text-to-video")
    return family


def wan_calls(pipe: Any, images: Sequence[Image.Image] | None, count: int) -> list[int]:
    """WanImageToVideoPipeline takes one start image per call (a list is refused, a batched
    tensor is encoded once per generator), and Wan 2.1's, with a CLIP image encoder, one video
    per call (its image embeddings are not repeated per video): consecutive takes with the
    same start image (an init_image) share a call, each keyframe has its own."""
    if images is None:
        return [count]
    # Wan 2.2 A14B's transformer is in two halves; either may be absent
    transformer = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    if transformer.config.image_dim is not None:
        return [1] * count
    sizes = [1]
    for before, image in pairwise(images):
        if image is before:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def wan_image(
    images: Sequence[Image.Image] | None,
    references: Sequence[Image.Image],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The call's one start image (wan_calls gives each call the same image for all videos)."""
    return {} if images is None else {"image": images[0]}


# Wan's VAE compresses 8x in space and 4x in time and its transformer's patch is 2. The Wan 2.1
# and 2.2 model cards: 81 frames at 16 fps (5 s), at 480p (832x480) or 720p (1280x720); Wan2.2
# TI2V-5B 121 frames at 24 fps, 1280x704 (its own VAE compresses 16x: sizes not a multiple of
# 32 are rounded down by its pipeline).
WAN = VideoFamily(
    label="Wan",
    text_to_video=WanPipeline,
    image_to_video=WanImageToVideoPipeline,
    size_multiple=16,
    frame_multiple=4,
    max_frames=121,
    default_max_frames=81,
    default_long_side=832,
    native_fps=16,
    vae_in_float32=True,  # diffusers' Wan examples: bfloat16 transformer, float32 VAE
    conditioning=wan_image,
    narrow=wan_rules,
    calls=wan_calls,
)


def vace_conditioning(
    images: Sequence[Image.Image] | None,
    references: Sequence[Image.Image],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """WanVACEPipeline's inputs for one video: the characters' reference images (a flat list
    for the one video), and a start image as a control video whose first frame is the image
    (cover-scaled to the render size) and the rest neutral grey, with a mask that keeps the
    first frame (black) and generates the rest (white), as in diffusers' VACE examples."""
    call: dict[str, Any] = {}
    if references:
        call["reference_images"] = list(references)
    if images is not None:
        size = (int(options["width"]), int(options["height"]))
        rest = int(options["num_frames"]) - 1
        first = ImageOps.fit(images[0], size, Image.Resampling.LANCZOS)
        call["video"] = [first] + [Image.new("RGB", size, (128, 128, 128))] * rest
        call["mask"] = [Image.new("L", size, 0)] + [Image.new("L", size, 255)] * rest
    return call


def one_video_each(pipe: Any, images: Sequence[Image.Image] | None, count: int) -> list[int]:
    return [1] * count


# Wan2.1-VACE-1.3B / -14B: Wan's VAE and sizes; the pipeline renders one video per call from
# one generator (it refuses num_videos_per_prompt > 1 and a list of generators)
WAN_VACE = replace(
    WAN,
    label="Wan VACE",
    text_to_video=WanVACEPipeline,
    image_to_video=WanVACEPipeline,
    takes_references=True,
    conditioning=vace_conditioning,
    narrow=as_is,
    calls=one_video_each,
    single_generator=True,
)

# pipeline class name (model_index.json "_class_name") -> its family
FAMILIES: dict[str, VideoFamily] = {
    "LTXPipeline": LTX,
    "LTXImageToVideoPipeline": LTX,
    "CogVideoXPipeline": COGVIDEOX,
    "CogVideoXImageToVideoPipeline": COGVIDEOX,
    "WanPipeline": WAN,
    "WanImageToVideoPipeline": WAN,
    "WanVACEPipeline": WAN_VACE,
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
        pipeline_config = json.loads(index.read_text(encoding="utf-8"))
        class_name = pipeline_config["_class_name"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"video_model {model!r} has an unreadable model_index.json") from None
    return family_named(str(class_name), model).for_model(
        pipeline_config, _transformer_config(model)
    )


def _transformer_config(model: str) -> dict[str, Any]:
    """A local folder's transformer/config.json; empty if it has none or it is unreadable
    (loading the model then fails with the real reason)."""
    try:
        config = json.loads((Path(model) / "transformer" / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}
