"""The shape of a video engine's clip: the checks on a request against its video model's family
(size steps, frame counts, aspect, the task a folder does) and the size and length it renders
at. Pure functions of the request and the family (video_families.py); no torch."""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from pipeline.worker.engines.video_families import VideoFamily
from pipeline.worker.requests import RenderRequest

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

MAX_SIDE = 2048
MAX_INIT_IMAGE_SIDE = 4096


def decode_image(data: str, label: str = "init_image") -> Image.Image:
    """A base64 PNG/JPEG as an RGB image; ValueError naming label if it is not one."""
    try:
        raw = base64.b64decode(data, validate=True)
        image = Image.open(io.BytesIO(raw))
        width, height = image.size
    except (binascii.Error, ValueError, UnidentifiedImageError) as error:
        raise ValueError(f"{label} is not a base64-encoded PNG or JPEG image ({error})") from None
    if max(width, height) > MAX_INIT_IMAGE_SIDE:
        raise ValueError(f"{label} is {width}x{height}: at most {MAX_INIT_IMAGE_SIDE} px a side")
    return image.convert("RGB")


def check_model_name(model: str, label: str) -> None:
    """A local folder that exists, or something shaped like a Hugging Face id (owner/name)."""
    if not model.strip():
        raise ValueError(f"{label} is empty: give a Hugging Face id or a local folder")
    if Path(model).is_dir():
        return
    if model.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(model):
        raise ValueError(f"{label} {model!r} is neither a local folder nor a Hugging Face id")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def frames_needed(request: RenderRequest, fps: int | None = None) -> int:
    """Frames that fill the clip at fps (the request's by default)."""
    return round(request.duration * (fps or request.fps))


def source_fps(request: RenderRequest, family: VideoFamily) -> int:
    """The rate the family's frames move at: its own, or the project's when it is told that."""
    return family.native_fps or request.fps


def video_frames(request: RenderRequest, family: VideoFamily) -> int:
    """Frames the pipeline renders: extra["num_frames"], else the fewest mk+1 covering the clip
    at the rate the model moves at."""
    if "num_frames" in request.extra:
        return int(request.extra["num_frames"])
    if family.only_frames:
        return family.only_frames
    step = family.frame_multiple
    needed = frames_needed(request, source_fps(request, family))
    count = step * math.ceil(max(needed - 1, 0) / step) + 1
    return max(family.min_frames, min(count, family.default_max_frames))


def video_size(request: RenderRequest, family: VideoFamily) -> tuple[int, int]:
    """(width, height) the pipeline renders: extra["video_width"/"video_height"], else the
    request's aspect with its long side at most the family's default, in its size steps."""
    width = request.extra.get("video_width")
    height = request.extra.get("video_height")
    if width and height:
        return int(width), int(height)
    if family.only_size:
        return family.only_size
    scale = min(1.0, family.default_long_side / max(request.width, request.height))
    step = family.size_multiple

    def snap(value: float) -> int:
        return max(step, round(value * scale / step) * step)

    return snap(request.width), snap(request.height)


def check_video_shape(request: RenderRequest, family: VideoFamily) -> None:
    """extra's video_width/video_height/num_frames against the family's rules."""
    step = family.size_multiple
    for key in ("video_width", "video_height"):
        value = request.extra.get(key)
        if value is not None and not (
            _whole(value) and step <= value <= MAX_SIDE and value % step == 0
        ):
            raise ValueError(
                f"{key} {value!r} must be a multiple of {step} from {step} to {MAX_SIDE} "
                f"({family.label})"
            )
    if ("video_width" in request.extra) != ("video_height" in request.extra):
        raise ValueError("give video_width and video_height together, or neither")
    frames = request.extra.get("num_frames")
    if frames is not None and not (
        _whole(frames)
        and family.min_frames <= frames <= family.max_frames
        and (frames - 1) % family.frame_multiple == 0
    ):
        raise ValueError(
            f"num_frames {frames!r} must be {family.frame_multiple}k+1 from {family.min_frames} "
            f"to {family.max_frames} ({family.label})"
        )
    if family.only_size and request.output == "clip":
        check_aspect(request, family)
    only = dict(zip(("video_width", "video_height"), family.only_size or (), strict=False))
    if family.only_frames:
        only["num_frames"] = family.only_frames
    for key, value in only.items():
        if key in request.extra and request.extra[key] != value:
            raise ValueError(
                f"{key} {request.extra[key]!r} must be {value}: this {family.label} model "
                "renders only at the size and length it was trained at"
            )


# how far a project's aspect may be from a fixed-size model's before its clip loses too much
ASPECT_TOLERANCE = 0.1


def check_aspect(request: RenderRequest, family: VideoFamily) -> None:
    """A model that renders only one size, for a project of another shape: cover-cropping its
    clip to the project's frame would keep only a sliver of it (3:2 in 9:16: 14%)."""
    assert family.only_size is not None
    width, height = family.only_size
    theirs, ours = width / height, request.width / request.height
    if abs(math.log(theirs / ours)) > math.log(1 + ASPECT_TOLERANCE):
        kept = min(theirs / ours, ours / theirs) ** 2
        raise ValueError(
            f"video_model renders only {width}x{height} ({family.label}, the size it was "
            f"trained at); in this project's {request.width}x{request.height} frame its clip "
            f"would keep {kept:.0%} of the picture: use a video model that renders any size "
            "(LTX-Video, Wan, CogVideoX 1.5)"
        )


def uses_start_image(request: RenderRequest, family: VideoFamily) -> bool:
    """Whether the clip starts from an image: a keyframe, or the request's init_image unless
    that is only continuity (the previous shot's last frame) and the model cannot take it."""
    if request.model.strip():
        return True
    continuity_only = request.extra.get("start") == "continuity"
    return bool(request.init_image) and not (continuity_only and family.task == "text-to-video")


def check_task(family: VideoFamily, from_image: bool, model: str) -> None:
    """A folder that does only image-to-video or only text-to-video, asked for the other."""
    if family.task == "image-to-video" and not from_image:
        raise ValueError(
            f"video_model {model!r} is a {family.label} image-to-video model: give a keyframe "
            "model or an init_image to start the clip from"
        )
    if family.task == "text-to-video" and from_image:
        raise ValueError(
            f"video_model {model!r} is a {family.label} text-to-video model: it cannot start "
            "from a keyframe or an init_image (leave model and init_image empty, or use an "
            "image-to-video model)"
        )


def crop_to_aspect(image: Image.Image, width: int, height: int) -> Image.Image:
    """The centre of image with the aspect of width x height."""
    scale = min(image.width / width, image.height / height)
    crop_width, crop_height = round(width * scale), round(height * scale)
    left, top = (image.width - crop_width) // 2, (image.height - crop_height) // 2
    return image.crop((left, top, left + crop_width, top + crop_height))
