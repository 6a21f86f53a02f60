"""Crashes: a render actor killed mid-job, the bot restarted mid-render, an engine that refuses
a request, an actor whose GPU state is broken.

Real render actors (Ray, this test run's local cluster) with the animatic engine; 360x640 clips
of several seconds take a few seconds to render, long enough to kill an actor or the scheduler
mid-job. A killed actor is restarted by Ray as a fresh process that knows no job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import ray
import sqlite_utils

from pipeline.errors import WorkerGone
from pipeline.ffmpeg import ffmpeg_binary
from pipeline.render.actors import RenderActorClient
from pipeline.render.cluster import NAMESPACE
from pipeline.render.queue import EngineChoice, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.worker.actor import RenderActor
from pipeline.worker.engines.animatic import AnimaticEngine
from pipeline.worker.requests import RenderRequest
from storage import events, jobs, plan, projects, takes
from storage.models import Episode, Job, Shot
from tests.builders import shot_in_review
from tests.ray_cluster import cpu_actor, pid_of, render_actors

LONG = {"width": 360, "height": 640, "fps": 24}
SMALL = {"width": 180, "height": 320, "fps": 12}


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
    """The actor reported progress: it is mid-render (the first still is on its disk)."""
    return jobs.get_job(db, job.id).stage != ""


async def kill(client: RenderActorClient) -> int:
    """SIGKILL the actor's process (no cleanup: its calls in flight are cut); Ray restarts it.
    Returns the pid it had."""
    pid = await pid_of(client)
    os.kill(pid, signal.SIGKILL)
    return pid


async def restarted(client: RenderActorClient, old_pid: int, timeout: float = 60.0) -> int:
    """Wait until Ray has restarted the actor (a new process answers); its new pid."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                pid = await pid_of(client)
            except WorkerGone:  # still restarting
                pid = old_pid
            if pid != old_pid:
                return pid
            await asyncio.sleep(0.2)


async def media_dir_of(client: RenderActorClient) -> Path:
    """The folder where the actor's process writes its jobs' files (same machine here)."""
    return Path(await client.handle.__ray_call__.remote(lambda actor: actor.runner.media_dir))


def assert_one_set_of_takes(db: sqlite_utils.Database, job: Job) -> None:
    assert job.shot_id is not None
    recorded = takes.takes_for_shot(db, job.shot_id)
    assert [take.job_id for take in recorded] == [job.id] * len(job.payload["seeds"])
    assert [take.seed for take in recorded] == job.payload["seeds"]
    assert all(Path(take.media_path).exists() for take in recorded)


async def test_an_actor_killed_mid_job_is_restarted_and_the_job_retried_on_the_other(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    episode, _ = make_episode(fresh_db, (8.0, 1.0), LONG)
    _, (killed, short) = queue_episode_render(fresh_db, episode.id, EngineChoice(takes=2))
    log = JobLog()
    async with render_actors(2) as (first, second):
        scheduler = Scheduler(fresh_db, [first, second], tmp_path / "media", listener=log)
        running = asyncio.create_task(run_until_idle(scheduler, timeout=120))
        # the short job is done on the second actor while the long one renders on the first:
        # when the first dies, both actors are free, and the retry goes to the one that lives
        await eventually(
            lambda: (
                rendering(fresh_db, killed) and jobs.get_job(fresh_db, short.id).status == "done"
            )
        )
        assert jobs.get_job(fresh_db, killed.id).worker == first.name
        killed_pid = await kill(first)
        await running

        # the cut call counted as one attempt; the job was rendered again, once, elsewhere
        (error,) = log.requeued(killed.id)
        assert error is not None and error.startswith(f"render actor {first.name} stopped (")
        done = [jobs.get_job(fresh_db, job.id) for job in (killed, short)]
        assert [(job.status, job.worker) for job in done] == [("done", second.name)] * 2
        assert [job.attempts for job in done] == [2, 1]
        for job in done:
            assert_one_set_of_takes(fresh_db, job)
        assert {shot.status for shot in plan.list_shots(fresh_db, episode.id)} == {"review"}
        assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"] * 2
        # Ray restarted the killed actor: a new process, which the scheduler may use again
        await restarted(first, killed_pid)


async def test_a_restarting_actor_gets_no_job_until_it_is_back(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    episode, _ = make_episode(fresh_db, (8.0, 6.0, 1.0), LONG)
    _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice())
    killed = queued[0]
    log = JobLog()
    async with render_actors(2) as (first, second):
        scheduler = Scheduler(fresh_db, [first, second], tmp_path / "media", listener=log)
        running = asyncio.create_task(run_until_idle(scheduler, timeout=120))
        # both actors busy, a job waiting: when the first dies, no actor is free until Ray
        # has restarted it or the second is done
        await eventually(lambda: all(rendering(fresh_db, job) for job in queued[:2]))
        await kill(first)
        await running

    # the killed job's one attempt was the cut one: no job burnt an attempt on the actor
    # while Ray restarted it
    assert len(log.requeued(killed.id)) == 1
    done = [jobs.get_job(fresh_db, job.id) for job in queued]
    assert [job.status for job in done] == ["done"] * 3
    assert [job.attempts for job in done] == [2, 1, 1]
    for job in done:
        assert_one_set_of_takes(fresh_db, job)


async def test_a_restarted_scheduler_reattaches_to_live_jobs_and_rerenders_lost_ones(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    episode, shots = make_episode(fresh_db, (4.0, 15.0, 8.0), LONG)
    shot_in_review(fresh_db, shots[2].id)  # shot 3 was shot before: not rendered now
    _, (lost, live) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    async with render_actors(2) as (first, second):
        old = Scheduler(fresh_db, [first, second], tmp_path / "media")
        old_run = asyncio.create_task(old.run())
        await eventually(lambda: rendering(fresh_db, lost) and rendering(fresh_db, live))
        # a retake asked while both actors are busy: it is ahead of both jobs in the queue
        takes.request_retake(fresh_db, shots[2].id)
        _, (retake,) = queue_episode_render(fresh_db, episode.id, EngineChoice())
        old.stop()  # the bot dies: its tasks end, and nothing is marked in the database
        await old_run
        assert [jobs.get_job(fresh_db, job.id).status for job in (lost, live)] == ["running"] * 2
        assert [jobs.get_job(fresh_db, job.id).worker for job in (lost, live)] == [
            first.name,
            second.name,
        ]

        # meanwhile the first actor dies and Ray restarts it: it forgets its job
        await restarted(first, await kill(first))
        still = await media_dir_of(second) / live.id / f"{live.id}_take1.png"
        written = still.stat().st_mtime_ns
        # the new bot finds the detached actors by name (new handles), listed the other way
        # round: only the preference for a recovered job's own actor sends each job back
        found = [
            RenderActorClient(client.name, ray.get_actor(client.name, namespace=NAMESPACE))
            for client in (second, first)
        ]
        new = Scheduler(fresh_db, found, tmp_path / "media")
        await run_until_idle(new, timeout=120)
        first_media = await media_dir_of(first)

    after = {job.id: jobs.get_job(fresh_db, job.id) for job in (lost, live, retake)}
    assert {job.status for job in after.values()} == {"done"}
    # reattached: the live job was rendered once, in one attempt
    assert (after[live.id].worker, after[live.id].attempts) == (second.name, 1)
    assert still.stat().st_mtime_ns == written
    # the restarted actor rendered the lost job again, and not the live one
    assert (after[lost.id].worker, after[lost.id].attempts) == (first.name, 2)
    assert (first_media / lost.id).is_dir()
    assert not (first_media / live.id).exists()
    for job in after.values():
        assert_one_set_of_takes(fresh_db, job)
    assert {shot.status for shot in plan.list_shots(fresh_db, episode.id)} == {"review"}
    assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"] * 3


class LongShotsRefused(AnimaticEngine):
    """The real animatic engine, except that it refuses shots over 2.5 s when they are
    submitted, and finds shots over 1.5 s unrenderable only once it renders them (as the video
    engine finds a hub model's rules once it has loaded it)."""

    def check_inputs(self, request: RenderRequest) -> None:
        super().check_inputs(request)
        if request.duration > 2.5:
            raise ValueError(f"duration {request.duration} is far too long for this model")

    def render(self, request: RenderRequest, out_dir: Path, progress: Any) -> list[Any]:
        if request.duration > 1.5:
            raise ValueError(f"duration {request.duration} is too long for this model")
        return super().render(request, out_dir, progress)


class RefusingActor(RenderActor):
    """A real render actor whose animatic engine is LongShotsRefused."""

    def __init__(self, worker_env: dict[str, str], has_gpu: bool) -> None:
        super().__init__(worker_env, has_gpu)
        self.runner.engines["animatic"] = LongShotsRefused(self.runner.settings)


@asynccontextmanager
async def refusing_actor(name: str) -> AsyncIterator[RenderActorClient]:
    client = cpu_actor(name, RefusingActor)
    try:
        yield client
    finally:
        ray.kill(client.handle, no_restart=True)


async def test_a_request_the_engine_refuses_fails_once_and_the_actor_goes_on(
    fresh_db: sqlite_utils.Database, ray_cluster: None, tmp_path: Path
) -> None:
    episode, _ = make_episode(fresh_db, (2.0, 3.0, 1.0, 1.0), SMALL)
    _, (refused, refused_at_once, *fine) = queue_episode_render(
        fresh_db, episode.id, EngineChoice()
    )
    log = JobLog()
    async with refusing_actor(f"test-refusing-{os.getpid()}") as worker:
        pid = await pid_of(worker)
        await run_until_idle(Scheduler(fresh_db, [worker], tmp_path / "media", log), timeout=60)
        assert await pid_of(worker) == pid  # a refusal is no crash: the actor stayed up

    # retrying the same request cannot help: one attempt each, the engine's reason kept
    for job, reason in (
        (refused, "duration 2.0 is too long for this model"),
        (refused_at_once, "duration 3.0 is far too long for this model"),
    ):
        failed = jobs.get_job(fresh_db, job.id)
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert reason in (failed.error or "")
        assert log.requeued(job.id) == []
    # the actor is not to blame: the other shots render on it right after
    assert [jobs.get_job(fresh_db, job.id).status for job in fine] == ["done", "done"]
    assert plan.get_shot(fresh_db, refused.shot_id).status == "planned"


def ffmpeg_on_a_broken_gpu(folder: Path) -> Path:
    """An ffmpeg whose first run fails as CUDA does once a kernel fault has poisoned the
    context (as a hardware-accelerated ffmpeg would on that GPU); later runs are the real
    ffmpeg. The first run is told apart by a folder it makes."""
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        f"if mkdir '{folder / 'faulted'}' 2>/dev/null; then\n"
        "  echo 'CUDA error: an illegal memory access was encountered' >&2\n"
        "  exit 1\n"
        "fi\n"
        f"exec '{ffmpeg_binary()}' \"$@\"\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_an_actor_whose_gpu_state_is_broken_exits_and_the_job_is_retried(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    episode, _ = make_episode(fresh_db, (1.0,), SMALL)
    _, (job,) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    ffmpeg = ffmpeg_on_a_broken_gpu(tmp_path)
    log = JobLog()
    async with (
        render_actors(1, FFMPEG_BINARY=str(ffmpeg)) as [broken],
        render_actors(1) as [good],
    ):
        broken_pid = await pid_of(broken)
        scheduler = Scheduler(fresh_db, [broken, good], tmp_path / "media", listener=log)
        await run_until_idle(scheduler, timeout=60)

        # the actor exited (no job can use that GPU any more): its job was cut like a crash's
        # and went to the other actor
        (error,) = log.requeued(job.id)
        assert error is not None and error.startswith(f"render actor {broken.name} stopped (")
        done = jobs.get_job(fresh_db, job.id)
        assert (done.status, done.worker, done.attempts) == ("done", good.name, 2)
        assert_one_set_of_takes(fresh_db, done)
        assert [event.kind for event in events.pending_events(fresh_db)] == ["shot_ready"]

        # Ray restarted it as a new process, with a working GPU again: it renders
        await restarted(broken, broken_pid)
        request = RenderRequest(
            job_id="aftergpu", engine="animatic", prompt="x", seeds=(1,), duration=0.5, **SMALL
        )
        await broken.submit(request)
        states = [state async for state in broken.follow(request.job_id)]
    assert states[-1]["status"] == "done", states[-1]["error"]


async def test_an_actor_killed_for_good_mid_job_is_started_again_and_renders_the_job(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    """`ray kill` (no restart by Ray): the only actor is started again under its name, and
    the job it lost is rendered once on the new one, its lost attempt counted."""
    episode, _ = make_episode(fresh_db, (8.0,), LONG)
    _, (lost,) = queue_episode_render(fresh_db, episode.id, EngineChoice())
    log = JobLog()
    async with render_actors(1) as (only,):
        old_pid = await pid_of(only)
        scheduler = Scheduler(fresh_db, [only], tmp_path / "media", listener=log)
        running = asyncio.create_task(run_until_idle(scheduler, timeout=120))
        await eventually(lambda: rendering(fresh_db, lost))
        ray.kill(only.handle, no_restart=True)
        await running

        (error,) = log.requeued(lost.id)
        assert error is not None and error.startswith(f"render actor {only.name} stopped (")
        done = jobs.get_job(fresh_db, lost.id)
        assert (done.status, done.attempts, done.worker) == ("done", 2, only.name)
        assert_one_set_of_takes(fresh_db, done)
        assert await pid_of(only) != old_pid  # a new actor under the same name
        assert ray.get_actor(only.name, namespace=NAMESPACE)._actor_id == only.handle._actor_id
