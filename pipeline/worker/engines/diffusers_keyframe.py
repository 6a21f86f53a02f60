"""Diffusers text-to-image engine: one keyframe per seed, in one batched call, then a clip each.

Worker side only: this module imports torch and diffusers, and only create_engine("diffusers")
imports it.

Loaded pipelines and memory settings: model_cache.py (from the worker's settings,
pipeline.worker.settings).

Character references (IP-Adapter): a model folder that holds `ip_adapter/ip-adapter.safetensors`
(with `ip_adapter/image_encoder/`) gets that IP-Adapter loaded with it; SHOWRUNNER_IP_ADAPTER
names one for every model instead: a local weights file, or a Hub path such as
`h94/IP-Adapter/models/ip-adapter_sd15.safetensors` (its image encoder in `image_encoder/` beside
the weights). A request's reference_images then reach the pipeline as `ip_adapter_image`; a
pipeline without an IP-Adapter renders from the prompt alone, and each take's parameters say so.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image, DiffusionPipeline
from PIL import Image, UnidentifiedImageError

from pipeline.worker.engines import ProgressCallback, check_request_basics, save_take
from pipeline.worker.engines.clip import MOVES
from pipeline.worker.engines.model_cache import (
    MemoryOptions,
    ModelCache,
    compile_denoiser,
    enable_vae_tiling,
    render_in_batches,
)
from pipeline.worker.requests import MAX_REFERENCES, RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)

MAX_STEPS = 100
# share of the progress bar spent denoising; the rest is encoding clips
_KEYFRAME_SHARE = 0.8
MAX_REFERENCE_SIDE = 1024
# how strongly references steer the picture; IP-Adapter's authors suggest about 0.5-0.7 for
# keeping a likeness while the prompt still decides the scene
DEFAULT_REFERENCE_SCALE = 0.6
# where a model folder keeps its IP-Adapter (laid out like h94/IP-Adapter)
ADAPTER_FOLDER = "ip_adapter"
ADAPTER_WEIGHTS = "ip-adapter.safetensors"


def check_model_folder(model: str) -> None:
    """A model given as a local folder must be a diffusers folder; Hub ids are left to loading.

    A folder is anything that exists, or looks like a path: absolute, starting with . or ~,
    or with more than one '/' (a Hub id is "owner/name").
    """
    path = Path(model).expanduser()
    looks_local = path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1
    if not (looks_local or path.exists()):
        return
    if not path.is_dir():
        raise ValueError(f"model {model!r}: no such model folder")
    if not (path / "model_index.json").is_file():
        raise ValueError(f"model {model!r} is not a diffusers model folder (no model_index.json)")


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


@dataclass(frozen=True)
class AdapterSource:
    """Where an IP-Adapter is: load_ip_adapter(location, subfolder=..., weight_name=...)."""

    location: str
    subfolder: str
    weight_name: str


def adapter_source(model: str, configured: str = "") -> AdapterSource | None:
    """The IP-Adapter to load with model: the configured one (SHOWRUNNER_IP_ADAPTER), else one
    in the model folder."""
    configured = configured.strip()
    if configured:
        path = Path(configured)
        if path.is_file():
            return AdapterSource(str(path.parent), "", path.name)
        parts = configured.strip("/").split("/")
        if len(parts) < 3 or not parts[-1].endswith((".safetensors", ".bin")):
            raise ValueError(
                f"SHOWRUNNER_IP_ADAPTER {configured!r} must be a weights file, or a Hub path "
                "like h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
            )
        return AdapterSource("/".join(parts[:2]), "/".join(parts[2:-1]), parts[-1])
    folder = Path(model) / ADAPTER_FOLDER
    if (folder / ADAPTER_WEIGHTS).is_file():
        return AdapterSource(str(folder), "", ADAPTER_WEIGHTS)
    return None


def decode_references(encoded: Sequence[str]) -> list[Image.Image]:
    """The request's base64 PNG references as RGB images; ValueError names a bad one."""
    if len(encoded) > MAX_REFERENCES:
        raise ValueError(
            f"reference_images: {len(encoded)} given, at most {MAX_REFERENCES} are used"
        )
    images = []
    for number, text in enumerate(encoded, start=1):
        try:
            with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
                if image.format != "PNG":
                    raise ValueError(f"reference image {number} is {image.format}, not PNG")
                if max(image.size) > MAX_REFERENCE_SIDE:
                    raise ValueError(
                        f"reference image {number} is {image.width}x{image.height}: "
                        f"at most {MAX_REFERENCE_SIDE} px a side"
                    )
                images.append(image.convert("RGB"))
        except (binascii.Error, UnidentifiedImageError, OSError):
            raise ValueError(f"reference image {number} is not a base64 PNG") from None
    return images


DEFAULT_START_STRENGTH = 0.6  # how far img2img may move away from a start image (0..1)


def start_image_options(request: RenderRequest, width: int, height: int) -> dict[str, Any]:
    """img2img call options for request.init_image, cover-scaled to the keyframe size (img2img
    pipelines take their size from the image)."""
    from PIL import ImageOps

    try:
        raw = base64.b64decode(request.init_image, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            start = ImageOps.fit(image.convert("RGB"), (width, height))
    except (binascii.Error, UnidentifiedImageError, OSError):
        raise ValueError("init_image is not a base64-encoded PNG or JPEG image") from None
    strength = request.extra.get("start_strength", DEFAULT_START_STRENGTH)
    number = isinstance(strength, (int, float)) and not isinstance(strength, bool)
    if not number or not 0 < strength <= 1:
        raise ValueError(f"start_strength {strength!r} must be a number above 0 and at most 1")
    return {"image": start, "strength": float(strength)}


class _KeyframeProgress:
    """Reports denoising across batches; never goes back when a batch is retried smaller."""

    def __init__(self, progress: ProgressCallback, steps: int, takes: int) -> None:
        self.progress = progress
        self.steps = steps
        self.takes = takes
        self.done = 0.0

    def callback(self, first: int, count: int) -> Callable[..., dict[str, Any]]:
        """The callback_on_step_end for the batch of takes first .. first + count - 1."""

        def on_step_end(
            pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            total = getattr(pipe, "num_timesteps", None) or self.steps
            share = (first + count * min(1.0, (step + 1) / total)) / self.takes
            self.done = max(self.done, _KEYFRAME_SHARE * share)
            self.progress(self.done, "keyframe")
            return callback_kwargs

        return on_step_end


class DiffusersKeyframeEngine:
    """Text-to-image keyframes with any diffusers pipeline, each turned into a slow-move clip."""

    name = "diffusers"

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.device = settings.device
        self.memory = MemoryOptions.of(settings)
        self.models = ModelCache(self.device, self.memory, self._load)
        # model -> why its pipeline takes no references ("" when it has an IP-Adapter)
        self._no_references: dict[str, str] = {}
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)
        if not request.prompt.strip():
            raise ValueError("prompt is empty: the diffusers engine needs a prompt")
        if not request.model.strip():
            raise ValueError("model is empty: give a Hugging Face id or a local folder")
        check_model_folder(request.model)
        if not 1 <= request.steps <= MAX_STEPS:
            raise ValueError(f"steps {request.steps} must be from 1 to {MAX_STEPS}")
        for key in ("keyframe_width", "keyframe_height"):
            value = request.extra.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 64 <= value <= 4096
            ):
                raise ValueError(f"{key} {value!r} must be a whole number from 64 to 4096")
            if value is not None and value % 8:
                # every diffusers VAE halves the frame three times or more
                raise ValueError(f"{key} {value} must be a multiple of 8")
        move = request.extra.get("move", "push-in")
        if move not in MOVES:
            raise ValueError(f"move {move!r} must be one of {', '.join(MOVES)}")
        scale = request.extra.get("reference_scale", DEFAULT_REFERENCE_SCALE)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 2:
            raise ValueError(f"reference_scale {scale!r} must be a number from 0 to 2")
        decode_references(request.reference_images)

    def loaded_models(self) -> list[str]:
        """The models kept loaded, least recently used (the next to be evicted) first."""
        return self.models.loaded()

    def pipeline(self, model: str) -> Any:
        """The loaded pipeline for model, loaded on first use and kept while recently used.

        render() gets its pipeline only from here, so tests may replace this method.
        """
        return self.models.get(model)

    def _load(self, model: str) -> Any:
        dtype = self.memory.dtype
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(model, dtype=dtype)
        except ValueError:
            # not a model family AutoPipeline knows: let the model's own index decide
            pipe = DiffusionPipeline.from_pretrained(model, dtype=dtype)
        self._no_references[model] = self._load_adapter(model, pipe)
        self.models.place(pipe)
        if self.memory.vae_tiling:
            enable_vae_tiling(pipe)
        if self.memory.compile:
            compile_denoiser(pipe)
        pipe.set_progress_bar_config(disable=True)
        log.info("loaded %s (%s on %s)", model, dtype, self.device)
        return pipe

    def _load_adapter(self, model: str, pipe: Any) -> str:
        """Load the model's IP-Adapter into pipe; "" when loaded, else the reason it is not."""
        source = adapter_source(model, self.settings.ip_adapter)
        if source is None:
            return "no IP-Adapter is configured for this model"
        if not hasattr(pipe, "load_ip_adapter"):
            return f"{type(pipe).__name__} does not support IP-Adapter"
        try:
            pipe.load_ip_adapter(
                source.location, subfolder=source.subfolder, weight_name=source.weight_name
            )
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            # a model still renders without its adapter: takes record that references were unused
            log.warning("IP-Adapter %s not loaded for %s: %s", source.weight_name, model, error)
            return f"its IP-Adapter did not load ({type(error).__name__})"
        log.info("IP-Adapter %s loaded for %s", source.weight_name, model)
        return ""

    def _reference_options(
        self, model: str, pipe: Any, request: RenderRequest
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(pipeline call options, take parameters) for the request's character references."""
        references = decode_references(request.reference_images)
        reason = self._no_references.get(model, "no IP-Adapter is configured for this model")
        parameters: dict[str, Any] = {"references": len(references)}
        if reason:
            if references:
                parameters["references_unused"] = reason
            return {}, parameters
        # an IP-Adapter UNet needs image embeddings on every call: without references it gets
        # a blank image at scale 0, which diffusers skips
        scale = float(request.extra.get("reference_scale", DEFAULT_REFERENCE_SCALE))
        pipe.set_ip_adapter_scale(scale if references else 0.0)
        images = references or [Image.new("RGB", (64, 64))]
        if references:
            parameters["reference_scale"] = scale
        return {"ip_adapter_image": [images]}, parameters

    def start_image_pipeline(self, pipe: Any) -> Any:
        """The image-to-image pipeline sharing pipe's loaded components (tests may wrap it)."""
        from diffusers import AutoPipelineForImage2Image

        return AutoPipelineForImage2Image.from_pipe(pipe)

    def _keyframes(
        self,
        model: str,
        pipe: Any,
        options: dict[str, Any],
        seeds: Sequence[int],
        progress: _KeyframeProgress,
    ) -> list[Any]:
        """One image per seed, in seed order: one batched call, smaller ones if it runs out of
        GPU memory. Each seed has its own generator, so a take does not depend on its batch."""
        accepted = inspect.signature(pipe.__call__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())

        def run(first: int, size: int) -> list[Any]:
            call = {
                **options,
                "num_images_per_prompt": size,
                "generator": [self.models.generator(seed) for seed in seeds[first : first + size]],
                "callback_on_step_end": progress.callback(first, size),
            }
            # not every pipeline takes every option (Flux has no negative prompt)
            if not takes_any:
                call = {key: value for key, value in call.items() if key in accepted}
            return list(pipe(**call).images)

        return render_in_batches(
            len(seeds),
            run,
            self.device,
            "takes",
            f"out of GPU memory rendering 1 take of {options['width']}x{options['height']} "
            f"with {model}: use a smaller keyframe (keyframe_width, keyframe_height) "
            "or set SHOWRUNNER_CPU_OFFLOAD=1 or SHOWRUNNER_VAE_TILING=1",
        )

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        self.check_inputs(request)
        pipe = self.pipeline(request.model)
        steps = int(request.steps)
        width, height = keyframe_size(pipe, request)
        progress(0.0, "keyframe")
        options: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": steps,
            "width": width,
            "height": height,
        }
        if "guidance_scale" in request.extra:
            options["guidance_scale"] = float(request.extra["guidance_scale"])
        reference_options, parameters = self._reference_options(request.model, pipe, request)
        options.update(reference_options)
        if request.init_image:
            # continuity: img2img from the previous shot's last frame, same components
            pipe = self.start_image_pipeline(pipe)
            options.update(start_image_options(request, width, height))
            parameters["start_image_strength"] = options["strength"]
        keyframe_progress = _KeyframeProgress(progress, steps, len(request.seeds))
        images = self._keyframes(request.model, pipe, options, request.seeds, keyframe_progress)

        out_dir.mkdir(parents=True, exist_ok=True)
        takes = []
        count = len(request.seeds)
        move = str(request.extra.get("move", "push-in"))
        for number, (seed, image) in enumerate(zip(request.seeds, images, strict=True), start=1):
            take = save_take(request, out_dir, number, seed, image, move)
            takes.append(replace(take, parameters=dict(parameters)))
            progress(_KEYFRAME_SHARE + (1 - _KEYFRAME_SHARE) * number / count, "clip")
        return takes
