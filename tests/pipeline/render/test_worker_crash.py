"""Crashes: a worker killed mid-job, the bot restarted mid-render, a worker that answers garbage.

Real worker subprocesses on loopback with the animatic engine; 360x640 clips of several seconds
take a few seconds to render, long enough to kill a worker or the scheduler mid-job.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import sqlite_utils
from aiohttp import web
from aiohttp.test_utils import TestServer

import pipeline.render.scheduler as scheduler_module
from pipeline.processes import stop_process
from pipeline.render.queue import EngineChoice, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.render.worker_client import LocalWorker, WorkerClient
from pipeline.worker.engines.animatic import AnimaticEngine
from pipeline.worker.requests import RenderRequest
from pipeline.worker.service import WorkerService
from pipeline.worker.settings import WorkerSettings
from storage import events, jobs, plan, projects, takes
from storage.models import Episode, Job, Shot
from tests.builders import shot_in_review

LONG = {"width": 360, "height": 640, "fps": 24}
SMALL = {"width": 180, "height": 320, "fps": 12}


@pytest.fixture(autouse=True)
def short_cooldown(monkeypatch: pytest.MonkeyPatch) -> None:
    # a dead worker comes out of its cooldown many times during one render: were it then
    # given jobs again, it would burn their attempts
    monkeypatch.setattr(scheduler_module, "WORKER_COOLDOWN", 0.5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def two_workers(tmp_path: Path) -> AsyncIterator[list[LocalWorker]]:
    pair = [LocalWorker(tmp_path / f"worker{number}") for number in (1, 2)]
    try:
        await asyncio.gather(*(worker.start() for worker in pair))
        yield pair
    finally:
        await asyncio.gather(*(worker.stop() for worker in pair))


def make_episode(
    db: sqlite_utils.Database, durations: tuple[float, ...], size: dict[str, int]
) -> tuple[Episode, list[Shot]]:
    project = projects.create_project(db, "Flood", writers_channel_id=1, **size)
    shots = tuple(
        plan.ShotPlan(f"shot {i}", "wide", seconds) for i, seconds in enumerate(durations, start=1)
    )
    draft = plan.EpisodePlan("The Flood", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    episode = plan.save_episode_plan(db, project.id, draft)
    return episode, plan.list_shots(db, episode.id)


class JobLog:
    """The scheduler's listener: every state it reported, in order."""

    def __init__(self) -> None:
        self.seen: list[Job] = []

    def __call__(self, job: Job) -> None:
        self.seen.append(job)

    def requeued(self, job_id: str) -> list[str | None]:
        """The errors with which the job went back to the queue."""
        return [job.error for job in self.seen if job.id == job_id and job.status == "queued"]


async def eventually(predicate: Callable[[], Any], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def rendering(db: sqlite_utils.Database, job: Job) -> bool:
    """The worker reported progress: it is mid-render (the first still is on its disk)."""
    return jobs.get_job(db, job.id).stage != ""


async def kill(worker: LocalWorker) -> None:
    assert worker.process is not None
    worker.process.kill()  # SIGKILL: no cleanup, the progress stream is cut mid-way
    await worker.process.wait()


async def start_worker_at(url: str, media_dir: Path) -> asyncio.subprocess.Process:
    """A fresh worker process (it knows no job) listening at a given URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline.worker.service",
        "--port",
        str(urlsplit(url).port),
        "--media-dir",
        str(media_dir),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        line = await process.stdout.readline()
    assert line.decode().strip() == f"READY {url}"
    return process


def assert_one_set_of_takes(db: sqlite_utils.Database, job: Job) -> None:
    assert job.shot_id is not None
    recorded = takes.takes_for_shot(db, job.shot_id)
    assert [take.job_id for take in recorded] == [job.id] * len(job.payload["seeds"])
    assert [take.seed for take in recorded] == job.payload["seeds"]
    assert all(Path(take.media_path).exists() for take in recorded)


async def test_a_worker_killed_mid_job_is_avoided_and_the_job_retried_on_the_other(
    fresh_db: sqlite_utils.Database,
    two_workers: list[LocalWorker],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    first, second = two_workers
    episode, shots = make_episode(fresh_db, (6.0, 4.0, 1.0, 1.0), LONG)
    _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice(takes=2))
    log = JobLog()
    clients = [WorkerClient(first.url, session), WorkerClient(second.url, session)]
    scheduler = Scheduler(fresh_db, clients, tmp_path / "media", listener=log)

    running = asyncio.create_task(run_until_idle(scheduler, timeout=90))
    killed = queued[0]
    await eventually(lambda: rendering(fresh_db, killed))
    assert jobs.get_job(fresh_db, killed.id).worker == first.url
    await kill(first)
    await running

    # the cut stream counted as 'unreachable' (one attempt), and every job, the killed one
    # included, then went to the live worker: the dead one got no job (and burnt no attempt)
    assert log.requeued(killed.id) == [f"worker {first.url} is unreachable"]
    done = [jobs.get_job(fresh_db, job.id) for job in queued]
    assert [(job.status, job.worker) for job in done] == [("done", second.url)] * 4
    assert [job.attempts for job in done] == [2, 1, 1, 1]
    for job in done:
        assert_one_set_of_takes(fresh_db, job)
    assert {shot.status for shot in plan.list_shots(fresh_db, episode.id)} == {"review"}
    assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"] * 4

    # with no worker left, a job fails after its three attempts, with the reason
    await kill(second)
    takes.request_retake(fresh_db, shots[2].id)
    _, (retake,) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    await run_until_idle(scheduler, timeout=30)
    failed = jobs.get_job(fresh_db, retake.id)
    assert (failed.status, failed.attempts) == ("failed", jobs.MAX_ATTEMPTS)
    assert failed.error is not None and failed.error.endswith("is unreachable")
    assert plan.get_shot(fresh_db, shots[2].id).status == "planned"
    assert [event.kind for event in events.pending_events(fresh_db)][-1] == "job_failed"


async def test_a_restarted_scheduler_reattaches_to_live_jobs_and_rerenders_lost_ones(
    fresh_db: sqlite_utils.Database,
    two_workers: list[LocalWorker],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    first, second = two_workers
    episode, shots = make_episode(fresh_db, (4.0, 15.0, 8.0), LONG)
    shot_in_review(fresh_db, shots[2].id)  # shot 3 was shot before: not rendered now
    _, (lost, live) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    old = Scheduler(
        fresh_db,
        [WorkerClient(first.url, session), WorkerClient(second.url, session)],
        tmp_path / "media",
    )
    old_run = asyncio.create_task(old.run())
    await eventually(lambda: rendering(fresh_db, lost) and rendering(fresh_db, live))
    # a retake asked while both workers are busy: it is ahead of both jobs in the queue
    takes.request_retake(fresh_db, shots[2].id)
    _, (retake,) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    old.stop()  # the bot dies: its tasks end, and nothing is marked in the database
    await old_run
    assert [jobs.get_job(fresh_db, job.id).status for job in (lost, live)] == ["running"] * 2

    # meanwhile the first worker restarts at the same address, and forgets its job
    await kill(first)
    restarted = await start_worker_at(first.url, tmp_path / "worker1-restarted")
    try:
        still = second.media_dir / live.id / f"{live.id}_take1.png"
        written = still.stat().st_mtime_ns
        # the same URLs, listed the other way round: only the preference for a recovered
        # job's own worker sends each job back where it was
        new = Scheduler(
            fresh_db,
            [WorkerClient(second.url, session), WorkerClient(first.url, session)],
            tmp_path / "media",
        )
        await run_until_idle(new, timeout=90)
    finally:
        await stop_process(restarted)

    after = {job.id: jobs.get_job(fresh_db, job.id) for job in (lost, live, retake)}
    assert {job.status for job in after.values()} == {"done"}
    # reattached: the live job was rendered once, in one attempt
    assert (after[live.id].worker, after[live.id].attempts) == (second.url, 1)
    assert still.stat().st_mtime_ns == written
    assert (after[lost.id].worker, after[lost.id].attempts) == (first.url, 2)
    assert (tmp_path / "worker1-restarted" / lost.id).is_dir()  # the lost job, rendered again
    assert not (tmp_path / "worker1-restarted" / live.id).exists()
    for job in after.values():
        assert_one_set_of_takes(fresh_db, job)
    assert {shot.status for shot in plan.list_shots(fresh_db, episode.id)} == {"review"}
    assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"] * 3


@asynccontextmanager
async def broken_worker(body: bytes, status: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A fake worker answering every request with `body`; yields its URL and the requests."""
    requests: list[str] = []

    async def any_route(request: web.Request) -> web.Response:
        requests.append(f"{request.method} {request.path}")
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_route)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", requests
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (json.dumps({"error": "GPU on fire"}).encode(), 500, "worker refused the job: GPU on fire"),
        (b'{"status": "ok"', 200, "answered HTTP 200 with non-JSON"),
    ],
)
async def test_a_broken_worker_costs_one_attempt_and_the_good_worker_renders_everything(
    fresh_db: sqlite_utils.Database,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    good = LocalWorker(tmp_path / "good")
    await good.start()
    try:
        async with broken_worker(body, status) as (broken_url, requests):
            episode, _ = make_episode(fresh_db, (1.0, 1.0, 1.0), SMALL)
            _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice())
            log = JobLog()
            clients = [WorkerClient(broken_url, session), WorkerClient(good.url, session)]
            scheduler = Scheduler(fresh_db, clients, tmp_path / "media", listener=log)
            await run_until_idle(scheduler, timeout=60)
    finally:
        await good.stop()

    # the first job went to the broken worker and failed there with a readable reason; from
    # then on the broken worker only got health checks (which it failed), no job
    (error,) = log.requeued(queued[0].id)
    assert error is not None and reason in error
    assert requests[0] == "POST /v1/jobs" and set(requests[1:]) == {"GET /v1/health"}
    done = [jobs.get_job(fresh_db, job.id) for job in queued]
    assert [(job.status, job.worker) for job in done] == [("done", good.url)] * 3
    assert [job.attempts for job in done] == [2, 1, 1]
    for job in done:
        assert_one_set_of_takes(fresh_db, job)
    assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"] * 3


class LongShotsRefused(AnimaticEngine):
    """The real animatic engine, except that it refuses shots over 2.5 s when they are
    submitted (HTTP 400), and finds shots over 1.5 s unrenderable only once it renders them
    (as the video engine finds a hub model's rules once it has loaded it)."""

    def check_inputs(self, request: RenderRequest) -> None:
        super().check_inputs(request)
        if request.duration > 2.5:
            raise ValueError(f"duration {request.duration} is far too long for this model")

    def render(self, request: RenderRequest, out_dir: Path, progress: Any) -> list[Any]:
        if request.duration > 1.5:
            raise ValueError(f"duration {request.duration} is too long for this model")
        return super().render(request, out_dir, progress)


async def test_a_request_the_engine_refuses_fails_once_and_the_worker_goes_on(
    fresh_db: sqlite_utils.Database, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    service = WorkerService(tmp_path / "worker-media")
    service.engines["animatic"] = LongShotsRefused(WorkerSettings())
    server = TestServer(service.app())
    await server.start_server()
    try:
        episode, _ = make_episode(fresh_db, (2.0, 3.0, 1.0, 1.0), SMALL)
        _, (refused, refused_at_once, *fine) = queue_episode_render(
            fresh_db, episode.id, EngineChoice()
        )
        log = JobLog()
        worker = WorkerClient(str(server.make_url("")).rstrip("/"), session)
        await run_until_idle(Scheduler(fresh_db, [worker], tmp_path / "media", log), timeout=60)
    finally:
        await server.close()

    # retrying the same request cannot help: one attempt each, the engine's reason kept
    for job, reason in (
        (refused, "duration 2.0 is too long for this model"),
        (refused_at_once, "duration 3.0 is far too long for this model"),
    ):
        failed = jobs.get_job(fresh_db, job.id)
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert reason in (failed.error or "")
        assert log.requeued(job.id) == []
    # the worker is not to blame: the other shots render on it right after
    assert [jobs.get_job(fresh_db, job.id).status for job in fine] == ["done", "done"]
    assert plan.get_shot(fresh_db, refused.shot_id).status == "planned"
