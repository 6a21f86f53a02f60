"""The diffusers engine's memory handling on a tiny random model: smaller batches when the GPU
runs out of memory, the LRU of loaded models, and what the worker's health reports."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from pipeline.render.actors import RenderActorClient
from pipeline.worker.engines import create_engine, no_progress
from pipeline.worker.requests import RenderRequest
from pipeline.worker.runner import JobRunner, WorkerJob
from pipeline.worker.settings import WorkerSettings

SEEDS = (5, 6, 7, 8)


def make_request(model: Path, **changes: Any) -> RenderRequest:
    request = RenderRequest(
        job_id="mem1",
        engine="diffusers",
        model=str(model),
        prompt="a lighthouse in a storm",
        seeds=SEEDS,
        steps=2,
        duration=0.5,
        width=72,
        height=128,
        fps=8,
    )
    return replace(request, **changes)


def same_image(a: str, b: str) -> bool:
    with Image.open(a) as first, Image.open(b) as second:
        return ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox() is None


class Recorder:
    def __init__(self) -> None:
        self.fractions: list[float] = []

    def __call__(self, fraction: float, stage: str) -> None:
        self.fractions.append(fraction)


class OutOfMemoryAbove:
    """The real pipeline, except that a batch of more than limit images runs out of GPU memory,
    the way a CUDA card does. Records the batch size of every call."""

    def __init__(self, pipe: Any, limit: int) -> None:
        self.pipe = pipe
        self.limit = limit
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)

    def __call__(self, **options: Any) -> Any:
        import torch

        batch = len(options.get("generator") or ()) or options.get("num_images_per_prompt", 1)
        self.batches.append(batch)
        if batch > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipe(**options)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three distinct model folders (copies of one tiny model: the cache keys on the folder)."""
    import torch

    torch.set_num_threads(1)
    from pipeline.worker.tiny_models.keyframe import make_tiny_model

    root = tmp_path_factory.mktemp("models")
    first = make_tiny_model(root / "tiny-a")
    return [first, shutil.copytree(first, root / "tiny-b"), shutil.copytree(first, root / "tiny-c")]


@pytest.fixture(scope="module")
def engine(tiny_models: list[Path]) -> Any:
    return create_engine("diffusers")


# --- out of GPU memory ----------------------------------------------------------------------


def test_out_of_memory_renders_in_half_batches_with_the_same_takes(
    engine: Any, tiny_models: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = make_request(tiny_models[0])
    unconstrained = engine.render(request, tmp_path / "whole", no_progress)
    limited = OutOfMemoryAbove(engine.pipeline(request.model), limit=2)
    monkeypatch.setattr(engine, "pipeline", lambda model: limited)
    progress = Recorder()

    takes = engine.render(request, tmp_path / "halves", progress)

    assert limited.batches == [4, 2, 2]
    assert [take.seed for take in takes] == list(SEEDS)
    for whole, half in zip(unconstrained, takes, strict=True):
        assert Path(half.media_path).exists()
        assert same_image(whole.preview_path, half.preview_path)
    assert not same_image(takes[0].preview_path, takes[1].preview_path)
    assert progress.fractions == sorted(progress.fractions) and progress.fractions[-1] == 1.0


def test_out_of_memory_at_one_take_fails_naming_model_and_size(
    engine: Any, tiny_models: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = make_request(tiny_models[0], seeds=(5, 6, 7))
    limited = OutOfMemoryAbove(engine.pipeline(request.model), limit=0)
    monkeypatch.setattr(engine, "pipeline", lambda model: limited)
    out_dir = tmp_path / "out"

    message = f"out of GPU memory rendering 1 take of 64x112 with {request.model}"
    with pytest.raises(ValueError, match=message):
        engine.render(request, out_dir, no_progress)

    assert limited.batches == [3, 2, 1]
    assert not list(out_dir.glob("*"))


# --- loaded models ----------------------------------------------------------------------------


def test_one_model_slot_evicts_the_least_recently_used(
    tiny_models: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOWRUNNER_MAX_MODELS", "1")
    a, b, _ = (str(path) for path in tiny_models)
    engine = create_engine("diffusers")

    first = engine.pipeline(a)
    assert engine.pipeline(a) is first
    engine.pipeline(b)

    assert engine.loaded_models() == [b]
    assert engine.pipeline(a) is not first  # loaded again


def test_two_model_slots_keep_both_and_evict_by_last_use(
    tiny_models: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOWRUNNER_MAX_MODELS", "2")
    a, b, c = (str(path) for path in tiny_models)
    engine = create_engine("diffusers")

    first = engine.pipeline(a)
    engine.pipeline(b)
    assert engine.loaded_models() == [a, b]
    assert engine.pipeline(a) is first
    engine.pipeline(c)

    assert engine.loaded_models() == [a, c]


def test_memory_options_from_the_environment(
    tiny_models: list[Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    monkeypatch.setenv("SHOWRUNNER_DTYPE", "bfloat16")
    monkeypatch.setenv("SHOWRUNNER_VAE_TILING", "1")
    monkeypatch.setenv("SHOWRUNNER_CPU_OFFLOAD", "1")
    caplog.set_level(logging.INFO, logger="pipeline.worker.engines.model_cache")

    pipe = create_engine("diffusers").pipeline(str(tiny_models[0]))

    assert pipe.unet.dtype == torch.bfloat16
    assert pipe.vae.use_tiling
    assert "SHOWRUNNER_CPU_OFFLOAD ignored on cpu" in caplog.text


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SHOWRUNNER_DTYPE", "float8"), ("SHOWRUNNER_MAX_MODELS", "0")],
)
def test_bad_memory_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable} '{value}'"):
        create_engine("diffusers")


# --- worker health ----------------------------------------------------------------------------


class ModelEngine:
    def loaded_models(self) -> list[str]:
        return ["org/model"]


def test_health_reports_the_running_job_and_loaded_models(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path, WorkerSettings())
    runner.engines = {"animatic": object(), "diffusers": ModelEngine()}
    job = WorkerJob(make_request(Path("org/model"), job_id="run1"), status="running")
    job.progress, job.stage = 0.25, "keyframe"
    runner.jobs["run1"] = job
    runner.current = "run1"

    health = runner.health()

    assert health["loaded_models"] == ["org/model"]
    assert health["engines"] == ["animatic", "diffusers"]
    assert health["current_job"] == {
        "id": "run1",
        "engine": "diffusers",
        "model": "org/model",
        "stage": "keyframe",
        "progress": 0.25,
    }
    assert {"status", "device", "queued", "pid", "torch_threads"} <= set(health)


async def test_actor_health_lists_the_model_it_rendered_with(
    tiny_models: list[Path], worker: RenderActorClient
) -> None:
    before = await worker.health()
    request = make_request(tiny_models[1], job_id="tiny1", seeds=(3,), steps=1)
    await worker.submit(request)
    states = [state async for state in worker.follow("tiny1")]
    health = await worker.health()

    assert states[-1]["status"] == "done", states[-1]["error"]
    assert before["loaded_models"] == [] and before["torch_threads"] is None
    assert health["loaded_models"] == [request.model]
    assert health["torch_threads"] == 1
    assert health["current_job"] is None and health["device"] == "cpu"
