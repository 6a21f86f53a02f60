"""Diffusers video engine: keyframe first, then a clip from it (image-to-video).

Per request (one batched pipeline call for all seeds, halved on CUDA out-of-memory):
  output="keyframe"            stills only, by the keyframe engine (keyframe-first review)
  init_image given             image-to-video from that image (an approved keyframe, or the
                               previous shot's last frame for continuity), no keyframe stage
  model (keyframe model) given keyframes with the keyframe engine, then image-to-video from each
  neither                      plain text-to-video

The video model's family (video_families.py: LTX-Video, CogVideoX, ...) sets the rules below. The
pipeline renders num_frames = mk+1 frames (extra["num_frames"], else the fewest that cover
duration x fps, at most the family's default). When that is fewer than the clip needs, the
frames are resampled in time (spread evenly over the duration, each shown a little longer),
never a held last frame. It renders at extra["video_width"] x extra["video_height"] (multiples
of the family's size step), else at the request's aspect with the long side at most the
family's default; ffmpeg then scales (cover + centre crop) to the request's size. A model
trained at one size and length (CogVideoX-5b-I2V) renders only at those, from start images
centre-cropped to its aspect; a folder that does only image-to-video or only text-to-video
(CogVideoX, Wan 2.1) is refused for the other. Some pipelines render a batch in several calls
(the family's `calls`): Wan image-to-video takes one start image per call, Wan VACE (which
gets the characters' reference images) one video per call.

The checks and sizes are in video_shape.py. Worker side only: imports torch and diffusers.
Memory settings as in model_cache.py; the SHOWRUNNER_MAX_MODELS bound applies to keyframe and
video pipelines separately, and on CUDA the video pipelines load in bfloat16 unless
SHOWRUNNER_DTYPE says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from pipeline.ffmpeg import run_ffmpeg
from pipeline.worker.engines import ProgressCallback, check_request_basics
from pipeline.worker.engines.diffusers_keyframe import (
    MAX_STEPS,
    DiffusersKeyframeEngine,
    decode_references,
)
from pipeline.worker.engines.model_cache import MemoryOptions, ModelCache, render_in_batches
from pipeline.worker.engines.video_families import (
    LOOSEST,
    VideoFamily,
    family_named,
    family_on_disk,
)
from pipeline.worker.engines.video_shape import (
    check_model_name,
    check_task,
    check_video_shape,
    crop_to_aspect,
    decode_image,
    frames_needed,
    source_fps,
    uses_start_image,
    video_frames,
    video_size,
)
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
OUTPUTS = ("keyframe", "clip")
# progress bar shares: keyframes, then denoising the clips, then encoding
_KEYFRAME_SHARE = 0.3
_ENCODE_SHARE = 0.1


def encode_clip(
    frames: np.ndarray,
    out_path: Path,
    request: RenderRequest,
    *,
    fps: int | None = None,
    max_seconds: float = 600,
) -> None:
    """Write frames (n, h, w, 3 floats in 0..1) that move at fps (the request's by default) as
    an H.264 MP4 of the request's size, fps and duration: raw RGB piped to ffmpeg,
    cover-scaled and centre-cropped, resampled in time to the request's rate, and stretched
    over the duration when there are too few."""
    count, height, width, _ = frames.shape
    needed = frames_needed(request)
    fps = fps or request.fps
    # enough frames: play at their rate and stop; too few: stretch them over the duration
    rate = fps if count >= frames_needed(request, fps) else count / request.duration
    pixels = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    filters = (
        f"scale={request.width}:{request.height}:force_original_aspect_ratio=increase,"
        f"crop={request.width}:{request.height},setsar=1,fps={request.fps},format=yuv420p"
    )
    args = [
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
    run_ffmpeg(args, stdin=pixels.tobytes(), timeout=max_seconds)


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


class DiffusersVideoEngine:
    """Keyframes with the keyframe engine, clips with an image-to-video pipeline (or plain
    text-to-video). Each keeps its own cache of loaded pipelines (model_cache.py)."""

    name = "video"

    def __init__(self, settings: WorkerSettings) -> None:
        self.device = settings.device
        self.keyframes = DiffusersKeyframeEngine(settings)
        # the diffusers docs recommend bfloat16 for the LTX-Video, Wan and CogVideoX models
        self.memory = MemoryOptions.of(settings, cuda_default="bfloat16")
        self.videos = ModelCache(self.device, self.memory, self._load)

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
        family = LOOSEST
        if request.output == "clip":
            check_model_name(request.video_model, "video_model")
            # a local folder's family is known now; a hub id's once it is loaded (render checks)
            family = family_on_disk(request.video_model) or LOOSEST
            check_task(family, uses_start_image(request, family), request.video_model)
        check_video_shape(request, family)
        if request.init_image:
            decode_image(request.init_image)

    def loaded_models(self) -> list[str]:
        return [*self.keyframes.loaded_models(), *self.videos.loaded()]

    def _load(self, model: str) -> Any:
        family_on_disk(model)  # refuse a folder of another kind before loading it
        pipe = DiffusionPipeline.from_pretrained(model, dtype=self.memory.dtype)
        if family_named(type(pipe).__name__, model).vae_in_float32:
            pipe.vae.to(dtype=torch.float32)
        self.videos.place(pipe)
        if self.memory.vae_tiling:
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=True)
        log.info("loaded video model %s (%s on %s)", model, self.memory.dtype, self.device)
        return pipe

    def video_family(self, model: str) -> VideoFamily:
        """The rules of model as loaded: its family's, narrowed by its configs."""
        pipe = self.videos.get(model)
        # Wan 2.2 A14B's transformer is in two halves; either may be absent
        transformer = getattr(pipe, "transformer", None) or getattr(pipe, "transformer_2", None)
        config = transformer.config if transformer is not None else {}
        return family_named(type(pipe).__name__, model).for_model(pipe.config, config)

    def video_pipeline(self, model: str, from_image: bool) -> Any:
        """The image-to-video (from_image) or text-to-video pipeline of model; both share the
        loaded components. render() gets video pipelines only from here: tests may wrap it."""
        pipe = self.videos.get(model)
        wanted = self.video_family(model).pipeline_class(from_image)
        return pipe if isinstance(pipe, wanted) else wanted.from_pipe(pipe)

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        self.check_inputs(request)
        if request.output == "keyframe":
            return self.keyframes.render(request, out_dir, progress)
        out_dir.mkdir(parents=True, exist_ok=True)
        count = len(request.seeds)
        # a hub model's family is first known here: its rules are checked before any keyframe
        family = self.video_family(request.video_model)
        check_video_shape(request, family)
        from_image = uses_start_image(request, family)
        check_task(family, from_image, request.video_model)
        stills: list[Path] = []
        images: list[Image.Image] | None = None
        # what each take records about itself (the keyframe engine's notes, e.g. references)
        notes: list[dict[str, Any]] = [{} for _ in request.seeds]
        if request.init_image and not from_image:
            for note in notes:
                note["continuity_unused"] = (
                    f"this {family.label} model does text-to-video only: the clip does not "
                    "start from the previous shot's last frame"
                )
        stages = _Stages(progress, keyframes=bool(request.model and not request.init_image))
        if request.init_image and from_image:
            images = [decode_image(request.init_image)] * count
        elif request.model:
            # the keyframe engine's own path (batched, references, OOM fallback); its slow-move
            # clips are replaced below by the real clips of the same names
            keyframe_takes = self.keyframes.render(request, out_dir, stages.keyframe_callback)
            stills = [Path(take.preview_path) for take in keyframe_takes]
            notes = [dict(take.parameters) for take in keyframe_takes]
            images = [Image.open(path).convert("RGB") for path in stills]

        pipe = self.video_pipeline(request.video_model, from_image=images is not None)
        width, height = video_size(request, family)
        if family.only_size and images is not None:
            # the pipeline would stretch a start image of another aspect to the model's size
            images = [crop_to_aspect(image, width, height) for image in images]
        options: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "width": width,
            "height": height,
            "num_frames": video_frames(request, family),
            "num_inference_steps": request.steps,
            "output_type": "np",
        }
        if family.takes_frame_rate:
            options["frame_rate"] = request.fps
        if "guidance_scale" in request.extra:
            options["guidance_scale"] = float(request.extra["guidance_scale"])
        references: list[Image.Image] = []
        if request.reference_images and family.takes_references:
            references = decode_references(request.reference_images)
            for note in notes:
                note["references"] = len(references)
                # the clip took them even where the keyframe model could not
                if "references_unused" in note:
                    note["keyframe_references_unused"] = note.pop("references_unused")
        elif request.reference_images and not stills:
            for note in notes:
                note["references_unused"] = f"{family.label} takes no reference images"
        stages.report("clip", 0.0)
        videos = self._clips(request, pipe, family, options, images, references, stages)

        takes = []
        for number, (seed, frames) in enumerate(zip(request.seeds, videos, strict=True), start=1):
            clip_path = out_dir / f"{request.job_id}_take{number}.mp4"
            encode_clip(frames, clip_path, request, fps=source_fps(request, family))
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
        family: VideoFamily,
        options: dict[str, Any],
        images: Sequence[Image.Image] | None,
        references: Sequence[Image.Image],
        stages: _Stages,
    ) -> list[np.ndarray]:
        """One clip (frames, h, w, 3) per seed, in seed order: one batched call (or the calls
        the family's pipeline needs for a batch), smaller ones if it runs out of GPU memory.
        Each seed has its own generator."""
        seeds = request.seeds
        steps = options["num_inference_steps"]

        def render(first: int, size: int) -> list[np.ndarray]:
            generators = [self.videos.generator(seed) for seed in seeds[first : first + size]]
            call = {
                **options,
                "num_videos_per_prompt": size,
                "generator": generators[0] if family.single_generator else generators,
                "callback_on_step_end": self._step_callback(stages, steps, first, size, len(seeds)),
                **family.conditioning(
                    None if images is None else images[first : first + size], references, options
                ),
            }
            if family.prompt_per_video:
                # the pipeline renders one video per prompt, whatever num_videos_per_prompt says
                call["prompt"] = [options["prompt"]] * size
                call["num_videos_per_prompt"] = 1
            return list(np.asarray(pipe(**call).frames))

        def run(first: int, size: int) -> list[np.ndarray]:
            clips: list[np.ndarray] = []
            batch = None if images is None else images[first : first + size]
            for count in family.calls(pipe, batch, size):
                clips.extend(render(first + len(clips), count))
            return clips

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
