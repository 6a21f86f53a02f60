"""Diffusers text-to-image engine: one keyframe per seed, in one batched call, then a clip each.

Worker side only: this module imports torch and diffusers, and only create_engine("diffusers")
imports it.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image, DiffusionPipeline

from pipeline.clip import MOVES, still_to_clip
from pipeline.engines import ProgressCallback, check_request_basics
from pipeline.requests import RenderedTake, RenderRequest

MAX_STEPS = 100
# share of the progress bar spent denoising; the rest is encoding clips
_KEYFRAME_SHARE = 0.8


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _size_multiple(pipe: Any) -> int:
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    # transformer models pack 2x2 latent patches, so they need twice the VAE factor
    patched = getattr(pipe, "transformer", None) is not None
    return max(8, scale * 2 if patched else scale)


def _native_side(pipe: Any) -> int:
    """The side in pixels the model was trained at (512 for SD 1.x, 1024 for SDXL/Flux)."""
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    sample = getattr(pipe, "default_sample_size", None)
    for name in ("unet", "transformer"):
        model = getattr(pipe, name, None)
        if sample is None and model is not None:
            sample = getattr(model.config, "sample_size", None)
    if isinstance(sample, (list, tuple)):
        sample = max(sample)
    return int(sample) * scale if isinstance(sample, int) and sample > 0 else 512


def keyframe_size(pipe: Any, request: RenderRequest) -> tuple[int, int]:
    """(width, height) for the keyframe: extra["keyframe_width"/"keyframe_height"] if given,
    else the model's native side on the long edge, the short edge following the request."""
    multiple = _size_multiple(pipe)
    aspect = request.width / request.height
    width = request.extra.get("keyframe_width")
    height = request.extra.get("keyframe_height")
    if width and height:
        return _round_to(int(width), multiple), _round_to(int(height), multiple)
    if width:
        return _round_to(int(width), multiple), _round_to(int(width) / aspect, multiple)
    if height:
        return _round_to(int(height) * aspect, multiple), _round_to(int(height), multiple)
    side = _native_side(pipe)
    if aspect <= 1:
        return _round_to(side * aspect, multiple), _round_to(side, multiple)
    return _round_to(side, multiple), _round_to(side / aspect, multiple)


class DiffusersKeyframeEngine:
    """Text-to-image keyframes with any diffusers pipeline, each turned into a slow-move clip."""

    name = "diffusers"

    def __init__(self, *, device: str = "cpu") -> None:
        self.device = device
        self._pipelines: dict[str, Any] = {}
        threads = os.environ.get("SHOWRUNNER_TORCH_THREADS")
        if threads:
            torch.set_num_threads(int(threads))

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)
        if not request.prompt.strip():
            raise ValueError("prompt is empty: the diffusers engine needs a prompt")
        if not request.model.strip():
            raise ValueError("model is empty: give a Hugging Face id or a local folder")
        for key in ("keyframe_width", "keyframe_height"):
            value = request.extra.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 64 <= value <= 4096
            ):
                raise ValueError(f"{key} {value!r} must be a whole number from 64 to 4096")
        move = request.extra.get("move", "push-in")
        if move not in MOVES:
            raise ValueError(f"move {move!r} must be one of {', '.join(MOVES)}")

    def pipeline(self, model: str) -> Any:
        """The loaded pipeline for model; loaded on first use and kept."""
        if model not in self._pipelines:
            dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(model, dtype=dtype)
            except ValueError:
                # not a model family AutoPipeline knows: let the model's own index decide
                pipe = DiffusionPipeline.from_pretrained(model, dtype=dtype)
            pipe = pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            self._pipelines[model] = pipe
        return self._pipelines[model]

    def _generator(self, seed: int) -> torch.Generator:
        # MPS generators are not reproducible across runs; the CPU one is
        device = "cpu" if self.device.startswith("mps") else self.device
        return torch.Generator(device).manual_seed(seed)

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        self.check_inputs(request)
        out_dir.mkdir(parents=True, exist_ok=True)
        pipe = self.pipeline(request.model)
        steps = min(max(int(request.steps), 1), MAX_STEPS)
        width, height = keyframe_size(pipe, request)
        progress(0.0, "keyframe")

        def on_step_end(
            pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            total = getattr(pipe, "num_timesteps", None) or steps
            progress(_KEYFRAME_SHARE * min(1.0, (step + 1) / total), "keyframe")
            return callback_kwargs

        options: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_images_per_prompt": len(request.seeds),
            "generator": [self._generator(seed) for seed in request.seeds],
            "num_inference_steps": steps,
            "width": width,
            "height": height,
            "callback_on_step_end": on_step_end,
        }
        if "guidance_scale" in request.extra:
            options["guidance_scale"] = float(request.extra["guidance_scale"])
        # not every pipeline takes every option (Flux has no negative prompt, for one)
        accepted = inspect.signature(pipe.__call__).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            options = {key: value for key, value in options.items() if key in accepted}
        images = pipe(**options).images

        takes = []
        count = len(request.seeds)
        for index, (seed, image) in enumerate(zip(request.seeds, images, strict=True)):
            number = index + 1
            still = out_dir / f"{request.job_id}_take{number}.png"
            clip = out_dir / f"{request.job_id}_take{number}.mp4"
            image.save(still)
            still_to_clip(
                still,
                clip,
                width=request.width,
                height=request.height,
                duration=request.duration,
                fps=request.fps,
                move=str(request.extra.get("move", "push-in")),
            )
            progress(_KEYFRAME_SHARE + (1 - _KEYFRAME_SHARE) * number / count, "clip")
            takes.append(RenderedTake(seed=seed, media_path=str(clip), preview_path=str(still)))
        return takes
