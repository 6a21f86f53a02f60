"""The render actor: one per GPU (or one on the CPU), a Ray actor that keeps its engines' models
warm between jobs. Its methods are the worker's whole interface (pipeline/render/actors.py
calls them from the bot): submit, a job's state as a long poll, cancel, media, health.

Every method is async: the render runs in a thread (asyncio.to_thread), so a cancel or a
state poll is answered between two denoising steps.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import ray

from pipeline.ffmpeg import use_ffmpeg
from pipeline.worker.requests import RenderRequest
from pipeline.worker.runner import JobRunner
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
# the packages an actor runs: a change to any of their files makes a new code version
_ACTOR_PACKAGES = ("pipeline", "storage")


@cache
def code_version() -> str:
    """A digest of the code an actor runs, so that actors left by an older version (detached
    actors outlive the bot) are told apart and replaced."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _ACTOR_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def identity(worker_env: dict[str, str]) -> str:
    """What an actor must match to be reused: the code version and the worker settings."""
    settings = "\n".join(f"{key}={value}" for key, value in sorted(worker_env.items()))
    return f"{code_version()}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


class RenderActor:
    def __init__(self, worker_env: dict[str, str], has_gpu: bool) -> None:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s"
        )
        self._identity = identity(worker_env)
        settings = WorkerSettings.from_env(worker_env)
        if settings.device == "auto":
            # Ray has set CUDA_VISIBLE_DEVICES to this actor's GPU: it is cuda:0 here
            settings = replace(settings, device="cuda" if has_gpu else "cpu")
        if settings.torch_threads:
            # read by the OpenMP runtime as torch loads, in this process
            os.environ["OMP_NUM_THREADS"] = str(settings.torch_threads)
        use_ffmpeg(settings.ffmpeg_binary)
        media_dir = Path(tempfile.mkdtemp(prefix="showrunner-render-"))
        self.runner = JobRunner(media_dir, settings)
        log.info("render actor ready on %s (pid %d)", settings.device, os.getpid())

    async def identity(self) -> str:
        return self._identity

    async def submit(self, request: RenderRequest) -> dict[str, Any]:
        return await self.runner.submit(request)

    async def state(self, job_id: str) -> dict[str, Any] | None:
        return self.runner.state(job_id)

    async def wait(self, job_id: str, after_version: int, timeout: float) -> dict[str, Any] | None:
        return await self.runner.wait(job_id, after_version, timeout)

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        return await self.runner.cancel(job_id)

    async def media(self, job_id: str, name: str) -> bytes:
        return await asyncio.to_thread(self.runner.media, job_id, name)

    async def health(self) -> dict[str, Any]:
        return {**self.runner.health(), "node": ray.get_runtime_context().get_node_id()}
