"""A worker's jobs, one rendered at a time: what the render actor does, without Ray.

The actor (pipeline/worker/actor.py) calls these from its event loop. A job's state is a plain
dict with a version number that grows at every change, so a caller can wait for a state newer
than the one it has (a long poll), and come back after a restart with the job's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.delivery.copy_for_upload import fit_to_size
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
TERMINAL = {"done", "failed", "cancelled"}
# finished jobs (and their media) kept for callers that come back late; older ones are dropped
MAX_FINISHED_JOBS = 200
# ids cancelled before their submit arrived (a cancel racing the submit), newest kept
MAX_EARLY_CANCELS = 1000
# a state is pushed to waiting callers at most this often while a job reports progress
PROGRESS_INTERVAL = 0.2


class JobCancelled(Exception):
    pass


@dataclass
class WorkerJob:
    request: RenderRequest
    status: str = "queued"
    progress: float = 0.0
    stage: str = ""
    error: str | None = None
    # False when the engine refused a value of the request (ValueError): a retry cannot help
    retryable: bool = True
    takes: list[RenderedTake] = field(default_factory=list)
    version: int = 0
    # set by cancel; the render thread checks it at every progress report (each denoising step)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def state(self) -> dict[str, Any]:
        return {
            "id": self.request.job_id,
            "status": self.status,
            "progress": round(self.progress, 4),
            "stage": self.stage,
            "error": self.error,
            "retryable": self.retryable,
            "version": self.version,
            "takes": [
                {
                    "seed": take.seed,
                    "media": Path(take.media_path).name,
                    "preview": Path(take.preview_path).name if take.preview_path else "",
                    "parameters": take.parameters,
                }
                for take in self.takes
            ],
        }


def check_job_id(job_id: str) -> None:
    if not job_id or len(job_id) > 64 or not job_id.isalnum():
        raise ValueError(f"bad job_id: {job_id!r}")


class JobRunner:
    def __init__(self, media_dir: Path, settings: WorkerSettings) -> None:
        self.media_dir = media_dir
        self.settings = settings
        self.jobs: dict[str, WorkerJob] = {}
        # a cancel can overtake its job's submit (the caller cancelled while submitting): the
        # submit that follows then ends cancelled instead of rendering a job nobody follows
        self.cancelled_early: dict[str, None] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.engines: dict[str, Any] = {}
        self.current: str | None = None
        self._changed = asyncio.Condition()
        self._engine_lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run_jobs())

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    def _engine(self, name: str) -> Any:
        from pipeline.worker.engines import create_engine

        if name not in self.engines:
            self.engines[name] = create_engine(name, self.settings)
        return self.engines[name]

    async def _touch(self, job: WorkerJob) -> None:
        job.version += 1
        async with self._changed:
            self._changed.notify_all()

    async def submit(self, request: RenderRequest) -> dict[str, Any]:
        """Queue the job; a ValueError names a value the engine cannot render. The id of a live
        job answers its state with "reattached": True (no second render)."""
        self._start()
        check_job_id(request.job_id)
        existing = self.jobs.get(request.job_id)
        if existing is not None and existing.status not in {"failed", "cancelled"}:
            return {**existing.state(), "reattached": True}
        # the first use of an engine imports torch/diffusers (seconds): keep the loop free
        async with self._engine_lock:
            engine = await asyncio.to_thread(self._engine, request.engine)
        engine.check_inputs(request)
        job = WorkerJob(request)
        self.jobs[request.job_id] = job
        if request.job_id in self.cancelled_early:
            del self.cancelled_early[request.job_id]  # a later submit of the id runs again
            job.status = "cancelled"
            log.info("job %s was cancelled before it arrived: not rendered", request.job_id)
            return job.state()
        await self.queue.put(request.job_id)
        return job.state()

    def state(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return job.state() if job is not None else None

    async def wait(self, job_id: str, after_version: int, timeout: float) -> dict[str, Any] | None:
        """The job's state once its version is past `after_version` (or after `timeout`)."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: job.version > after_version)
        return job.state()

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job at once, a running one at its next step (it ends 'cancelled'
        once its render has really stopped). None for an id not seen yet, whose next submit
        then ends 'cancelled' unrendered: the cancel overtook the submit."""
        job = self.jobs.get(job_id)
        if job is None:
            self.cancelled_early[job_id] = None
            while len(self.cancelled_early) > MAX_EARLY_CANCELS:
                del self.cancelled_early[next(iter(self.cancelled_early))]
            return None
        job.cancel_requested.set()
        if job.status == "queued":
            job.status = "cancelled"
            await self._touch(job)
        return job.state()

    def media(self, job_id: str, name: str) -> bytes:
        job = self.jobs.get(job_id)
        for take in job.takes if job is not None else ():
            for path in (take.media_path, take.preview_path):
                if path and Path(path).name == name:
                    return Path(path).read_bytes()
        raise FileNotFoundError(f"job {job_id} has no file {name!r}")

    def health(self) -> dict[str, Any]:
        current = self.jobs.get(self.current) if self.current else None
        engines = dict(self.engines)  # a render thread may be adding one meanwhile
        return {
            "status": "ok",
            "device": self.settings.device,
            "engines": sorted(engines),
            "loaded_models": [
                model
                for engine in engines.values()
                if hasattr(engine, "loaded_models")
                for model in engine.loaded_models()
            ],
            "torch_threads": _torch_threads(),
            "current_job": None
            if current is None
            else {
                "id": current.request.job_id,
                "engine": current.request.engine,
                "model": current.request.model,
                "stage": current.stage,
                "progress": round(current.progress, 4),
            },
            "queued": self.queue.qsize(),
            "pid": os.getpid(),
        }

    def _forget_old_jobs(self) -> None:
        """Keep the newest MAX_FINISHED_JOBS finished jobs; drop older ones and their media."""
        finished = [job_id for job_id, job in self.jobs.items() if job.status in TERMINAL]
        for job_id in finished[: max(0, len(finished) - MAX_FINISHED_JOBS)]:
            del self.jobs[job_id]
            shutil.rmtree(self.media_dir / job_id, ignore_errors=True)

    async def _run_jobs(self) -> None:
        while True:
            job = self.jobs[await self.queue.get()]
            if job.status != "cancelled":
                await self._run(job)

    async def _run(self, job: WorkerJob) -> None:
        loop = asyncio.get_running_loop()
        job_id = job.request.job_id
        self.current = job_id
        job.status = "running"
        await self._touch(job)
        last_push = 0.0

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_push
            if job.cancel_requested.is_set():
                raise JobCancelled
            job.progress, job.stage = fraction, stage
            now = time.monotonic()
            if now - last_push >= PROGRESS_INTERVAL or fraction >= 1.0:
                last_push = now
                asyncio.run_coroutine_threadsafe(self._touch(job), loop)

        out_dir = self.media_dir / job_id
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            engine = self._engine(job.request.engine)
            rendered = await asyncio.to_thread(engine.render, job.request, out_dir, progress)
            job.takes = await self._fit_drafts(job, rendered)
            if job.cancel_requested.is_set():
                raise JobCancelled
            job.status, job.progress, job.stage = "done", 1.0, "done"
            log.info("job %s done in %.2fs", job_id, time.monotonic() - started)
        except JobCancelled:
            job.status, job.takes = "cancelled", []
            log.info("job %s cancelled at %.0f%% (%s)", job_id, job.progress * 100, job.stage)
        except Exception as error:  # the job fails, the worker goes on
            log.exception("job %s failed", job_id)
            job.status, job.error = "failed", f"{type(error).__name__}: {error}"[:500]
            job.retryable = not isinstance(error, ValueError)
            if gpu_state_broken(error):
                log.critical("the GPU's state is broken (%s): exiting to be restarted", error)
                os._exit(70)
        finally:
            self.current = None
            await self._touch(job)
            self._forget_old_jobs()

    async def _fit_drafts(self, job: WorkerJob, rendered: list[RenderedTake]) -> list[RenderedTake]:
        """The takes, each MP4 re-encoded to fit request.max_draft_bytes when it is bigger."""
        limit = job.request.max_draft_bytes
        fitted = []
        for take in rendered:
            media = Path(take.media_path)
            if job.cancel_requested.is_set():
                raise JobCancelled
            if media.suffix != ".mp4" or media.stat().st_size <= limit:
                fitted.append(take)
                continue
            job.stage = "encode"
            await self._touch(job)
            size = media.stat().st_size
            small = await fit_to_size(media, limit, media.with_name(f"{media.stem}.fit.mp4"))
            os.replace(small, media)
            log.info("take %s: %d bytes re-encoded to %d", media.name, size, media.stat().st_size)
            fitted.append(replace(take, parameters={**take.parameters, "draft_refit_from": size}))
        return fitted


def _torch_threads() -> int | None:
    """Torch's CPU threads, None before an engine has imported it: health must not import it
    just to count them, nor fail while a render thread is still importing it."""
    torch = sys.modules.get("torch")
    try:
        return int(torch.get_num_threads()) if torch is not None else None
    except (AttributeError, RuntimeError):  # torch half imported
        return None


# what CUDA says once a kernel fault has poisoned the context: every later call fails too, and
# only a new process gets a working GPU (an out-of-memory error is not one of these)
_BROKEN_GPU_MARKERS = ("device-side assert", "illegal memory access", "unspecified launch failure")


def gpu_state_broken(error: BaseException) -> bool:
    text = str(error).lower()
    return "cuda" in text and any(marker in text for marker in _BROKEN_GPU_MARKERS)
