"""The generation worker: an aiohttp service that renders one job at a time.

API (JSON; errors are {"error": message}):
  POST /v1/jobs                 submit a RenderRequest; the job id makes it idempotent (the id
                                of a live job answers its state with "reattached": true)
  GET  /v1/jobs/{id}            the job's state
  GET  /v1/jobs/{id}/events     its state as NDJSON lines, until it ends
  GET  /v1/jobs/{id}/media/{n}  a file it produced
  DELETE /v1/jobs/{id}          cancel it: a queued job at once, a running one at its next step
                                (it reports 'cancelled' once its render has really stopped)
                                (404 for an id not seen yet, whose next submit then ends
                                'cancelled' unrendered: the cancel overtook the submit)
  GET  /v1/health               device, loaded engines, what it is doing

With SHOWRUNNER_WORKER_TOKEN set, every call needs "Authorization: Bearer <token>".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from pipeline.delivery.copy_for_upload import fit_to_size
from pipeline.ffmpeg import use_ffmpeg
from pipeline.processes import Stopped, exit_with_parent, run_until_signalled
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)
# room for a start image and four character references (base64 PNGs)
MAX_REQUEST_BYTES = 8 * 1024 * 1024
TERMINAL = {"done", "failed", "cancelled"}
# finished jobs (and their media) kept for clients that come back late; older ones are dropped
MAX_FINISHED_JOBS = 200
# ids cancelled before their submit arrived (a cancel racing the submit), newest kept
MAX_EARLY_CANCELS = 1000


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
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # set by DELETE; the render thread checks it at every progress report (each denoising step)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def state(self) -> dict[str, Any]:
        base = f"/v1/jobs/{self.request.job_id}/media"
        return {
            "id": self.request.job_id,
            "status": self.status,
            "progress": round(self.progress, 4),
            "stage": self.stage,
            "error": self.error,
            "retryable": self.retryable,
            "takes": [
                {
                    "seed": take.seed,
                    "media": f"{base}/{Path(take.media_path).name}",
                    "preview": f"{base}/{Path(take.preview_path).name}"
                    if take.preview_path
                    else "",
                    "parameters": take.parameters,
                }
                for take in self.takes
            ],
        }

    def touch(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class WorkerService:
    def __init__(self, media_dir: Path, settings: WorkerSettings | None = None) -> None:
        self.media_dir = media_dir
        self.settings = settings or WorkerSettings()
        self.jobs: dict[str, WorkerJob] = {}
        # a DELETE can overtake its job's POST (the client cancelled while submitting): the
        # submit that follows then ends cancelled instead of rendering a job nobody follows
        self.cancelled_early: dict[str, None] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.engines: dict[str, Any] = {}
        self._engine_lock = asyncio.Lock()
        self.current: str | None = None
        self._runner_task: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[self._check_token])
        app.add_routes(
            [
                web.post("/v1/jobs", self.submit),
                web.get("/v1/jobs/{id}", self.get_job),
                web.delete("/v1/jobs/{id}", self.cancel),
                web.get("/v1/jobs/{id}/events", self.events),
                web.get("/v1/jobs/{id}/media/{name}", self.media),
                web.get("/v1/health", self.health),
            ]
        )
        app.on_startup.append(self._start_runner)
        app.on_cleanup.append(self._stop_runner)
        return app

    @web.middleware
    async def _check_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.settings.token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.settings.token}".encode()):
                return _error(401, "missing or wrong worker token (SHOWRUNNER_WORKER_TOKEN)")
        return await handler(request)

    def _forget_old_jobs(self) -> None:
        """Keep the newest MAX_FINISHED_JOBS finished jobs; drop older ones and their media."""
        finished = [job_id for job_id, job in self.jobs.items() if job.status in TERMINAL]
        for job_id in finished[: max(0, len(finished) - MAX_FINISHED_JOBS)]:
            del self.jobs[job_id]
            shutil.rmtree(self.media_dir / job_id, ignore_errors=True)

    async def _start_runner(self, _app: web.Application) -> None:
        self._runner_task = asyncio.create_task(self._run_jobs())

    async def _stop_runner(self, _app: web.Application) -> None:
        if self._runner_task:
            self._runner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner_task

    def _engine(self, name: str) -> Any:
        from pipeline.worker.engines import create_engine

        if name not in self.engines:
            self.engines[name] = create_engine(name, self.settings)
        return self.engines[name]

    async def submit(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            render = RenderRequest.from_json(data)
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            return _error(400, f"bad request body: {error}")
        if not render.job_id or len(render.job_id) > 64 or not render.job_id.isalnum():
            return _error(400, f"bad job_id: {render.job_id!r}")
        existing = self.jobs.get(render.job_id)
        if existing is not None and existing.status not in {"failed", "cancelled"}:
            # a retry of a live job reattaches to it: no second render
            return web.json_response({**existing.state(), "reattached": True})
        try:
            # the first use of an engine imports torch/diffusers (seconds): keep the loop free
            async with self._engine_lock:
                engine = await asyncio.to_thread(self._engine, render.engine)
            engine.check_inputs(render)
        except ValueError as error:
            return _error(400, str(error))
        job = WorkerJob(render)
        self.jobs[render.job_id] = job
        if render.job_id in self.cancelled_early:
            del self.cancelled_early[render.job_id]  # a later submit of the id runs again
            job.status = "cancelled"
            log.info("job %s was cancelled before it arrived: not rendered", render.job_id)
            return web.json_response(job.state())
        await self.queue.put(render.job_id)
        return web.json_response(job.state(), status=202)

    def _job_or_404(self, request: web.Request) -> WorkerJob | web.Response:
        job = self.jobs.get(request.match_info["id"])
        return job if job is not None else _error(404, "no such job")

    async def get_job(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        return job if isinstance(job, web.Response) else web.json_response(job.state())

    async def cancel(self, request: web.Request) -> web.Response:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            self.cancelled_early[request.match_info["id"]] = None
            while len(self.cancelled_early) > MAX_EARLY_CANCELS:
                del self.cancelled_early[next(iter(self.cancelled_early))]
            return job
        job.cancel_requested.set()
        if job.status == "queued":
            job.status = "cancelled"
            job.touch()
        # a running job ends 'cancelled' when its render thread stops, at its next step
        return web.json_response(job.state())

    async def events(self, request: web.Request) -> web.StreamResponse:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            return job
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            while True:
                changed = job.changed
                await response.write((json.dumps(job.state()) + "\n").encode())
                if job.status in TERMINAL:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(15):
                        await changed.wait()
            await response.write_eof()
        except ConnectionResetError:
            pass  # the follower went away (cancelled or restarted); the job goes on
        return response

    async def media(self, request: web.Request) -> web.StreamResponse:
        job = self._job_or_404(request)
        if isinstance(job, web.Response):
            return job
        name = request.match_info["name"]
        for take in job.takes:
            for path in (take.media_path, take.preview_path):
                if path and Path(path).name == name:
                    return web.FileResponse(path)
        return _error(404, "no such file")

    async def health(self, _request: web.Request) -> web.Response:
        # only a model engine imports torch; health must not load it just to count threads
        torch = sys.modules.get("torch")
        return web.json_response(
            {
                "status": "ok",
                "device": self.settings.device,
                "engines": sorted(self.engines),
                "loaded_models": self._loaded_models(),
                "torch_threads": torch.get_num_threads() if torch is not None else None,
                "current_job": self._current_job(),
                "queued": self.queue.qsize(),
                "pid": os.getpid(),
            }
        )

    def _loaded_models(self) -> list[str]:
        return [
            model
            for engine in self.engines.values()
            if hasattr(engine, "loaded_models")
            for model in engine.loaded_models()
        ]

    def _current_job(self) -> dict[str, Any] | None:
        job = self.jobs.get(self.current) if self.current else None
        if job is None:
            return None
        return {
            "id": job.request.job_id,
            "engine": job.request.engine,
            "model": job.request.model,
            "stage": job.stage,
            "progress": round(job.progress, 4),
        }

    async def _run_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job_id = await self.queue.get()
            job = self.jobs[job_id]
            if job.status == "cancelled":
                continue
            self.current = job_id
            job.status = "running"
            job.touch()
            last_touch = 0.0

            def progress(fraction: float, stage: str, job: WorkerJob = job) -> None:
                nonlocal last_touch
                if job.cancel_requested.is_set():
                    raise JobCancelled
                job.progress, job.stage = fraction, stage
                now = time.monotonic()
                if now - last_touch >= 0.2 or fraction >= 1.0:
                    last_touch = now
                    loop.call_soon_threadsafe(job.touch)

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
            finally:
                self.current = None
                job.touch()
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
            job.touch()
            size = media.stat().st_size
            small = await fit_to_size(media, limit, media.with_name(f"{media.stem}.fit.mp4"))
            os.replace(small, media)
            log.info("take %s: %d bytes re-encoded to %d", media.name, size, media.stat().st_size)
            fitted.append(replace(take, parameters={**take.parameters, "draft_refit_from": size}))
        return fitted


class JobCancelled(Exception):
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="showrunner worker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--media-dir", type=Path, default=Path("data/worker-media"))
    parser.add_argument("--device", help="torch device (default: SHOWRUNNER_DEVICE, else cpu)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    try:
        settings = WorkerSettings.from_env()  # read once: the engines get this object
    except ValueError as error:
        parser.error(str(error))
    if args.device:
        settings = replace(settings, device=args.device)
    if settings.torch_threads:
        # read by the OpenMP runtime as torch loads, in this process
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.torch_threads))
    use_ffmpeg(settings.ffmpeg_binary)
    exit_with_parent()
    with contextlib.suppress(Stopped):  # SIGINT / SIGTERM: the server closes, then we exit
        run_until_signalled(serve(args.host, args.port, args.media_dir, settings))


async def serve(host: str, port: int, media_dir: Path, settings: WorkerSettings) -> None:
    media_dir.mkdir(parents=True, exist_ok=True)
    service = WorkerService(media_dir, settings)
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    # the launcher reads this line to learn the port
    print(f"READY http://{host}:{bound}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
