"""Diffusers video engine: keyframe first, then a clip from it (LTX-Video image-to-video).

Per request (one batched pipeline call for all seeds, halved on CUDA out-of-memory):
  output="keyframe"            stills only, by the keyframe engine (keyframe-first review)
  init_image given             image-to-video from that image (an approved keyframe, or the
                               previous shot's last frame for continuity), no keyframe stage
  model (keyframe model) given keyframes with the keyframe engine, then image-to-video from each
  neither                      plain text-to-video (LTXPipeline)

The pipeline renders num_frames = 8k+1 frames (extra["num_frames"], else the fewest that cover
duration x fps, at most DEFAULT_MAX_FRAMES). When that is fewer than the clip needs, the frames
are resampled in time (spread evenly over the duration, each shown a little longer), never a
held last frame. It renders at extra["video_width"] x extra["video_height"] (multiples of 32),
else at the request's aspect with the long side at most DEFAULT_LONG_SIDE; ffmpeg then scales
(cover + centre crop) to the request's size.

Worker side only: imports torch and diffusers. Memory settings as in diffusers_keyframe; the
SHOWRUNNER_MAX_MODELS bound applies to keyframe and video pipelines separately, and on CUDA the
video pipelines load in bfloat16 unless SHOWRUNNER_DTYPE says otherwise.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline, LTXImageToVideoPipeline, LTXPipeline
from PIL import Image, UnidentifiedImageError

from pipeline.engines import ProgressCallback, check_request_basics
from pipeline.engines.diffusers_keyframe import (
    MAX_STEPS,
    DiffusersKeyframeEngine,
    render_in_batches,
)
from pipeline.ffmpeg import FfmpegError, _tail, ffmpeg_binary
from pipeline.requests import RenderedTake, RenderRequest

log = logging.getLogger(__name__)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

OUTPUTS = ("keyframe", "clip")
# LTX-Video: the VAE compresses 32x in space and 8x in time
SIZE_MULTIPLE = 32
FRAME_MULTIPLE = 8
MIN_FRAMES, MAX_FRAMES = 9, 257
DEFAULT_MAX_FRAMES = 121
MAX_SIDE = 2048
DEFAULT_LONG_SIDE = 768
MAX_INIT_IMAGE_SIDE = 4096
# progress bar shares: keyframes, then denoising the clips, then encoding
_KEYFRAME_SHARE = 0.3
_ENCODE_SHARE = 0.1

# a loaded pipeline class -> (text-to-video class, image-to-video class) sharing its components
_FAMILIES: dict[str, tuple[type, type]] = {
    "LTXPipeline": (LTXPipeline, LTXImageToVideoPipeline),
    "LTXImageToVideoPipeline": (LTXPipeline, LTXImageToVideoPipeline),
}


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


def frames_needed(request: RenderRequest) -> int:
    return round(request.duration * request.fps)


def video_frames(request: RenderRequest) -> int:
    """Frames the pipeline renders: extra["num_frames"], else the fewest 8k+1 covering the clip."""
    if "num_frames" in request.extra:
        return int(request.extra["num_frames"])
    needed = frames_needed(request)
    count = FRAME_MULTIPLE * math.ceil(max(needed - 1, 0) / FRAME_MULTIPLE) + 1
    return max(MIN_FRAMES, min(count, DEFAULT_MAX_FRAMES))


def video_size(request: RenderRequest) -> tuple[int, int]:
    """(width, height) the pipeline renders: extra["video_width"/"video_height"], else the
    request's aspect with its long side at most DEFAULT_LONG_SIDE, in multiples of 32."""
    width = request.extra.get("video_width")
    height = request.extra.get("video_height")
    if width and height:
        return int(width), int(height)
    scale = min(1.0, DEFAULT_LONG_SIDE / max(request.width, request.height))

    def snap(value: float) -> int:
        return max(SIZE_MULTIPLE, round(value * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return snap(request.width), snap(request.height)


def encode_clip(
    frames: np.ndarray, out_path: Path, request: RenderRequest, *, max_seconds: float = 600
) -> None:
    """Write frames (n, h, w, 3 floats in 0..1) as an H.264 MP4 of the request's size, fps and
    duration: raw RGB piped to ffmpeg, cover-scaled and centre-cropped, resampled in time when
    there are fewer frames than the clip needs."""
    count, height, width, _ = frames.shape
    needed = frames_needed(request)
    # enough frames: play at the clip's rate and stop; too few: stretch them over the duration
    rate = request.fps if count >= needed else count / request.duration
    pixels = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    filters = (
        f"scale={request.width}:{request.height}:force_original_aspect_ratio=increase,"
        f"crop={request.width}:{request.height},setsar=1,fps={request.fps},format=yuv420p"
    )
    args = [
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-f", "rawvideo",
        "-pix_fmt", "rgb24",
        "-s", f"{width}x{height}",
        "-r", f"{rate:.6f}",
        "-i", "pipe:0",
        "-vf", filters,
        "-frames:v", str(needed),
        "-an",
        "-c:v", "libx264",
        "-preset", "veryfast",
        "-crf", "23",
        "-profile:v", "high",
        "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",
        "-f", "mp4",
        str(out_path),
    ]  # fmt: skip
    completed = subprocess.run(
        args, input=pixels.tobytes(), capture_output=True, check=False, timeout=max_seconds
    )
    if completed.returncode != 0:
        tail = _tail(completed.stderr)
        raise FfmpegError(f"ffmpeg failed ({completed.returncode}): {tail[-300:]}", tail)


class _Stages:
    """Maps each stage's own 0..1 progress onto one bar that never goes back."""

    def __init__(self, progress: ProgressCallback, keyframes: bool) -> None:
        self.progress = progress
        self.keyframe_share = _KEYFRAME_SHARE if keyframes else 0.0
        self.done = 0.0

    def report(self, stage: str, fraction: float) -> None:
        clip_share = 1.0 - self.keyframe_share - _ENCODE_SHARE
        start, share = {
            "keyframe": (0.0, self.keyframe_share),
            "clip": (self.keyframe_share, clip_share),
            "encode": (1.0 - _ENCODE_SHARE, _ENCODE_SHARE),
        }[stage]
        self.done = max(self.done, start + share * min(max(fraction, 0.0), 1.0))
        self.progress(self.done, stage)

    def keyframe_callback(self, fraction: float, stage: str) -> None:
        # the keyframe engine's own "clip" stage is its slow-move preview: still keyframes here
        self.report("keyframe", fraction)


class DiffusersVideoEngine(DiffusersKeyframeEngine):
    """Keyframes with the keyframe engine, clips with an image-to-video pipeline (or plain
    text-to-video). The inherited LRU holds the video pipelines; self.keyframes its own."""

    name = "video"

    def __init__(self, *, device: str = "cpu") -> None:
        super().__init__(device=device)
        self.keyframes = DiffusersKeyframeEngine(device=device)
        if device.startswith("cuda") and not os.environ.get("SHOWRUNNER_DTYPE", "").strip():
            # the diffusers docs recommend bfloat16 for every LTX-Video checkpoint
            self.memory = replace(self.memory, dtype=torch.bfloat16)

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)
        if request.output not in OUTPUTS:
            raise ValueError(f"output {request.output!r} must be one of {', '.join(OUTPUTS)}")
        if not request.prompt.strip():
            raise ValueError("prompt is empty: the video engine needs a prompt")
        if not 1 <= request.steps <= MAX_STEPS:
            raise ValueError(f"steps {request.steps} must be from 1 to {MAX_STEPS}")
        if request.output == "keyframe" and not request.model.strip():
            raise ValueError(
                "model is empty: output 'keyframe' needs a keyframe (text-to-image) model"
            )
        if request.model.strip():
            self.keyframes.check_inputs(request)
        if request.output == "clip":
            check_model_name(request.video_model, "video_model")
        for key in ("video_width", "video_height"):
            value = request.extra.get(key)
            if value is not None and not (
                _whole(value) and SIZE_MULTIPLE <= value <= MAX_SIDE and value % SIZE_MULTIPLE == 0
            ):
                raise ValueError(
                    f"{key} {value!r} must be a multiple of {SIZE_MULTIPLE} "
                    f"from {SIZE_MULTIPLE} to {MAX_SIDE} (LTX-Video)"
                )
        if ("video_width" in request.extra) != ("video_height" in request.extra):
            raise ValueError("give video_width and video_height together, or neither")
        frames = request.extra.get("num_frames")
        if frames is not None and not (
            _whole(frames)
            and MIN_FRAMES <= frames <= MAX_FRAMES
            and (frames - 1) % FRAME_MULTIPLE == 0
        ):
            raise ValueError(
                f"num_frames {frames!r} must be 8k+1 from {MIN_FRAMES} to {MAX_FRAMES} (LTX-Video)"
            )
        if request.init_image:
            decode_image(request.init_image)

    def loaded_models(self) -> list[str]:
        return [*self.keyframes.loaded_models(), *super().loaded_models()]

    def _load(self, model: str) -> Any:
        pipe = DiffusionPipeline.from_pretrained(model, dtype=self.memory.dtype)
        if type(pipe).__name__ not in _FAMILIES:
            raise ValueError(
                f"video_model {model!r} is a {type(pipe).__name__}; the video engine renders "
                f"with {', '.join(_FAMILIES)}"
            )
        self._place(pipe)
        if self.memory.vae_tiling:
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)
        log.info("loaded video model %s (%s on %s)", model, self.memory.dtype, self.device)
        return pipe

    def video_pipeline(self, model: str, from_image: bool) -> Any:
        """The image-to-video (from_image) or text-to-video pipeline of model; both share the
        loaded components. render() gets video pipelines only from here: tests may wrap it."""
        pipe = self.pipeline(model)
        text_class, image_class = _FAMILIES[type(pipe).__name__]
        wanted = image_class if from_image else text_class
        return pipe if isinstance(pipe, wanted) else wanted.from_pipe(pipe)

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        self.check_inputs(request)
        if request.output == "keyframe":
            return self.keyframes.render(request, out_dir, progress)
        out_dir.mkdir(parents=True, exist_ok=True)
        count = len(request.seeds)
        stills: list[Path] = []
        images: list[Image.Image] | None = None
        # what each take records about itself (the keyframe engine's notes, e.g. references)
        notes: list[dict[str, Any]] = [{} for _ in request.seeds]
        stages = _Stages(progress, keyframes=bool(request.model and not request.init_image))
        if request.init_image:
            images = [decode_image(request.init_image)] * count
        elif request.model:
            # the keyframe engine's own path (batched, references, OOM fallback); its slow-move
            # clips are replaced below by the real clips of the same names
            keyframe_takes = self.keyframes.render(request, out_dir, stages.keyframe_callback)
            stills = [Path(take.preview_path) for take in keyframe_takes]
            notes = [dict(take.parameters) for take in keyframe_takes]
            images = [Image.open(path).convert("RGB") for path in stills]

        pipe = self.video_pipeline(request.video_model, from_image=images is not None)
        width, height = video_size(request)
        options: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "width": width,
            "height": height,
            "num_frames": video_frames(request),
            "frame_rate": request.fps,
            "num_inference_steps": request.steps,
            "output_type": "np",
        }
        if "guidance_scale" in request.extra:
            options["guidance_scale"] = float(request.extra["guidance_scale"])
        if request.reference_images and not stills:
            for note in notes:
                note["references_unused"] = "the video model takes no reference images"
        stages.report("clip", 0.0)
        videos = self._clips(request, pipe, options, images, stages)

        takes = []
        for number, (seed, frames) in enumerate(zip(request.seeds, videos, strict=True), start=1):
            clip_path = out_dir / f"{request.job_id}_take{number}.mp4"
            encode_clip(frames, clip_path, request)
            if stills:
                still_path = stills[number - 1]
            else:
                still_path = out_dir / f"{request.job_id}_take{number}.png"
                Image.fromarray((np.clip(frames[0], 0, 1) * 255).round().astype(np.uint8)).save(
                    still_path
                )
            takes.append(
                RenderedTake(
                    seed=seed,
                    media_path=str(clip_path),
                    preview_path=str(still_path),
                    parameters=notes[number - 1],
                )
            )
            stages.report("encode", number / count)
        return takes

    def _clips(
        self,
        request: RenderRequest,
        pipe: Any,
        options: dict[str, Any],
        images: Sequence[Image.Image] | None,
        stages: _Stages,
    ) -> list[np.ndarray]:
        """One clip (frames, h, w, 3) per seed, in seed order: one batched call, smaller ones
        if it runs out of GPU memory. Each seed has its own generator."""
        seeds = request.seeds
        steps = options["num_inference_steps"]

        def run(first: int, size: int) -> list[np.ndarray]:
            call = {
                **options,
                "num_videos_per_prompt": size,
                "generator": [self._generator(seed) for seed in seeds[first : first + size]],
                "callback_on_step_end": self._step_callback(stages, steps, first, size, len(seeds)),
            }
            if images is not None:
                # one conditioning image per video: the pipeline pairs image[i] with generator[i]
                call["image"] = list(images[first : first + size])
            return list(np.asarray(pipe(**call).frames))

        return render_in_batches(
            len(seeds),
            run,
            self.device,
            "clips",
            f"out of GPU memory rendering 1 clip of {options['width']}x{options['height']}, "
            f"{options['num_frames']} frames with {request.video_model}: use a smaller "
            "video_width/video_height or num_frames, or set SHOWRUNNER_CPU_OFFLOAD=1",
        )

    @staticmethod
    def _step_callback(
        stages: _Stages, steps: int, first: int, count: int, total_takes: int
    ) -> Callable[..., dict[str, Any]]:
        def on_step_end(
            pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            total = getattr(pipe, "num_timesteps", None) or steps
            stages.report("clip", (first + count * min(1.0, (step + 1) / total)) / total_takes)
            return callback_kwargs

        return on_step_end
