"""What the video engine tests share: a spy around the real pipeline, clip checks, PNG data."""

from __future__ import annotations

import base64
import io
import subprocess
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.ffmpeg import ffmpeg_binary, probe
from pipeline.worker.requests import RenderRequest

# the video engine tests' shot: 1.5 s of 96x160 at 8 fps, two takes, two steps
SHOT = RenderRequest(
    job_id="video1",
    engine="video",
    prompt="a red door in the rain, cinematic",
    seeds=(1, 2),
    duration=1.5,
    width=96,
    height=160,
    fps=8,
    steps=2,
)


def video_request(defaults: dict[str, Any], changes: dict[str, Any]) -> RenderRequest:
    """SHOT with a test file's defaults (models, job id), then one test's changes."""
    return replace(SHOT, **(defaults | changes))


class Spy:
    """Wraps a real pipeline: records each call's keyword arguments (and its frames), then
    returns the real output; runs out of memory for calls of more than fail_over videos."""

    def __init__(self, pipe: Any, calls: list[dict[str, Any]], fail_over: int = 0) -> None:
        self.pipe = pipe
        self.calls = calls
        self.fail_over = fail_over

    def __call__(self, **kwargs: Any) -> Any:
        call = {**kwargs, "pipeline": type(self.pipe).__name__}
        self.calls.append(call)
        if self.fail_over and len(seeds_of(kwargs)) > self.fail_over:
            import torch

            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        output = self.pipe(**kwargs)
        call["frames"] = np.asarray(output.frames)
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)


def spy_on(
    engine: Any, monkeypatch: pytest.MonkeyPatch, fail_over: int = 0
) -> list[dict[str, Any]]:
    """Every video pipeline call the engine makes from now on, recorded."""
    calls: list[dict[str, Any]] = []
    original = engine.video_pipeline

    def wrapped(model: str, from_image: bool) -> Spy:
        return Spy(original(model, from_image), calls, fail_over)

    monkeypatch.setattr(engine, "video_pipeline", wrapped)
    return calls


def seeds_of(call: dict[str, Any]) -> list[int]:
    """The seeds of a call's generator (one, or a list of them)."""
    generator = call["generator"]
    generators = generator if isinstance(generator, list) else [generator]
    return [g.initial_seed() for g in generators]


def frame_count(path: str) -> int:
    """Frames in a video, by decoding it to 8x8 grey pictures."""
    decode = ["-vf", "scale=8:8", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    completed = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-i", path, *decode], capture_output=True, check=True
    )
    return len(completed.stdout) // 64


def assert_clip(path: str, width: int, height: int, seconds: float, frames: int) -> None:
    info = probe(path)
    assert (info.width, info.height, info.video_codec) == (width, height, "h264")
    assert abs(info.duration - seconds) < 0.05
    assert frame_count(path) == frames


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
