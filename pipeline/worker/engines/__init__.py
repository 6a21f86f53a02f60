"""Render engines: the protocol they share and a factory that imports them lazily.

Importing this package must stay cheap and torch-free: the bot process imports `pipeline`,
and only the worker loads models.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipeline.worker.engines.clip import still_to_clip
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from PIL import Image

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction done (0..1) and the stage: "keyframe", "clip" or "encode"."""

# engine name -> (module, class); modules are imported only when asked for
_ENGINES: dict[str, tuple[str, str]] = {
    "animatic": ("pipeline.worker.engines.animatic", "AnimaticEngine"),
    "diffusers": ("pipeline.worker.engines.diffusers_keyframe", "DiffusersKeyframeEngine"),
    "video": ("pipeline.worker.engines.diffusers_video", "DiffusersVideoEngine"),
    "speech": ("pipeline.worker.engines.speech", "SpeechEngine"),
    "music": ("pipeline.worker.engines.music", "MusicEngine"),
}

ENGINE_NAMES: tuple[str, ...] = tuple(_ENGINES)


class Engine(Protocol):
    name: str

    def check_inputs(self, request: RenderRequest) -> None:
        """Raise ValueError naming the first bad value of the request."""
        ...

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        """Render one take per seed into out_dir, in seed order."""
        ...


def create_engine(name: str, settings: WorkerSettings | None = None) -> Engine:
    """Build the engine called name with the worker's settings (read from the environment when
    none are given); its module (and torch, for model engines) loads now."""
    try:
        module_name, class_name = _ENGINES[name]
    except KeyError:
        known = ", ".join(ENGINE_NAMES)
        raise ValueError(f"unknown engine {name!r}; known engines: {known}") from None
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(settings or WorkerSettings.from_env())  # type: ignore[no-any-return]


def no_progress(fraction: float, stage: str) -> None:
    """A ProgressCallback that ignores progress."""


MAX_TAKES = 8
MAX_DURATION = 60.0
MIN_DRAFT_BYTES = 64 * 1024  # below this a clip of a few seconds is mush at any size
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_request_basics(request: RenderRequest) -> None:
    """The checks every engine shares: job id, seeds, duration, size, fps."""
    if not _JOB_ID.fullmatch(request.job_id) or ".." in request.job_id:
        raise ValueError(f"job_id {request.job_id!r} must be letters, digits, '_', '-' or '.'")
    if not 1 <= len(request.seeds) <= MAX_TAKES:
        raise ValueError(f"seeds {list(request.seeds)!r}: give 1 to {MAX_TAKES} seeds")
    for seed in request.seeds:
        if not 0 <= seed < 2**63:
            raise ValueError(f"seed {seed} must be between 0 and 2**63 - 1")
    if not (math.isfinite(request.duration) and 0 < request.duration <= MAX_DURATION):
        raise ValueError(f"duration {request.duration} must be above 0 and at most 60 seconds")
    for label, value in (("width", request.width), ("height", request.height)):
        if not 64 <= value <= 4096 or value % 2:
            raise ValueError(f"{label} {value} must be an even number from 64 to 4096")
    if request.max_draft_bytes < MIN_DRAFT_BYTES:
        raise ValueError(
            f"max_draft_bytes {request.max_draft_bytes} must be at least {MIN_DRAFT_BYTES}"
        )
    if not 1 <= request.fps <= 60:
        raise ValueError(f"fps {request.fps} must be from 1 to 60")
    if round(request.duration * request.fps) < 1:
        raise ValueError(
            f"duration {request.duration} is shorter than one frame at {request.fps} fps"
        )


def save_take(
    request: RenderRequest, out_dir: Path, number: int, seed: int, still: Image.Image, move: str
) -> RenderedTake:
    """Write take `number` (1-based): its still as PNG and its clip as MP4, named by ids."""
    still_path = out_dir / f"{request.job_id}_take{number}.png"
    clip_path = out_dir / f"{request.job_id}_take{number}.mp4"
    still.save(still_path)
    still_to_clip(
        still_path,
        clip_path,
        width=request.width,
        height=request.height,
        duration=request.duration,
        fps=request.fps,
        move=move,
    )
    return RenderedTake(seed=seed, media_path=str(clip_path), preview_path=str(still_path))
