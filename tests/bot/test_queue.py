"""The render queue: the per-member limit, /queue, and cancelling queued and running jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.queue.lines import queue_text
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice, queue_episode_render, queue_shot_retake
from pipeline.render.scheduler import Scheduler, run_until_idle
from storage import episodes, jobs, plan, projects, takes
from storage.db import open_db
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Episode, Job
from tests.builders import make_episode, make_project, shot_in_review
from tests.ray_cluster import render_actors
from tests.studio import (
    Studio,
    chat_a_plan,
    drafts,
    open_studio,
    plan_model,
    running_bot,
    start_project,
)

ANA = 7
BEN = 8


async def eventually(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until predicate() is truthy and return it."""
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(0.05)
    return result


async def wait_worker_status(worker: RenderActorClient, job_id: str, status: str) -> None:
    """Poll the render actor until the job has this status there."""
    async with asyncio.timeout(10):
        while ((await worker.state(job_id)) or {}).get("status") != status:
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- storage


def test_a_member_past_the_limit_is_refused_and_nothing_is_stored(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = make_project(fresh_db)
    first = make_episode(fresh_db, project)
    second = make_episode(fresh_db, project, (1.0, 1.0))
    queue_episode_render(fresh_db, first.id, EngineChoice(), requester=ANA, max_queued_per_user=4)

    with pytest.raises(InvalidInput, match="You already have 3 shots queued; the limit is 4"):
        queue_episode_render(
            fresh_db, second.id, EngineChoice(), requester=ANA, max_queued_per_user=4
        )
    assert fresh_db.table("jobs").count == 3 and fresh_db.table("renders").count == 1
    assert {shot.status for shot in plan.list_shots(fresh_db, second.id)} == {"planned"}
    assert episodes.get_episode(fresh_db, second.id).status == "writing"

    # the limit is per member
    _, queued = queue_episode_render(
        fresh_db, second.id, EngineChoice(), requester=BEN, max_queued_per_user=4
    )
    assert len(queued) == 2 and jobs.count_active_renders(fresh_db, ANA) == 3


def marked_for_retake(db: sqlite_utils.Database, episode: Episode) -> int:
    """Shot 1 of the episode, rendered, reviewed and marked for a retake: its id."""
    shot = plan.list_shots(db, episode.id)[0]
    shot_in_review(db, shot.id)
    takes.request_retake(db, shot.id)
    return shot.id


def test_a_retake_counts_against_the_members_limit(fresh_db: sqlite_utils.Database) -> None:
    project = make_project(fresh_db)
    episode = make_episode(fresh_db, project, (1.0, 1.0))
    shot_id = marked_for_retake(fresh_db, episode)
    queue_episode_render(
        fresh_db, make_episode(fresh_db, project, (1.0,)).id, EngineChoice(), requester=ANA
    )

    # ana has one job running or queued: a limit of one leaves no room for the retake
    with pytest.raises(InvalidInput, match="You already have 1 shot queued; the limit is 1"):
        queue_shot_retake(fresh_db, shot_id, EngineChoice(), requester=ANA, max_queued_per_user=1)
    assert plan.get_shot(fresh_db, shot_id).status == "retake"
    assert fresh_db.table("jobs").count == 1 and fresh_db.table("renders").count == 1

    # ben has none: his note queues the retake, as his, in the channel he wrote in
    render, job = queue_shot_retake(
        fresh_db, shot_id, EngineChoice(), requester=BEN, channel_id=55, max_queued_per_user=1
    )
    assert (job.requester, job.shot_id, job.status) == (BEN, shot_id, "queued")
    assert (render.requester, render.channel_id) == (BEN, 55)
    assert plan.get_shot(fresh_db, shot_id).status == "queued"


def test_only_a_shot_marked_for_retake_is_queued_again(fresh_db: sqlite_utils.Database) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db))
    shot = plan.list_shots(fresh_db, episode.id)[1]
    with pytest.raises(InvalidInput) as refused:
        queue_shot_retake(fresh_db, shot.id, EngineChoice(), requester=ANA)
    assert str(refused.value) == "Shot 2 is planned, not marked for a retake."
    assert fresh_db.table("jobs").count == 0


def test_cancelling_queued_jobs_frees_their_shots_and_room_in_the_limit(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = make_project(fresh_db)
    episode = make_episode(fresh_db, project)
    _, queued = queue_episode_render(
        fresh_db, episode.id, EngineChoice(), requester=ANA, max_queued_per_user=3
    )

    cancelled = jobs.cancel_render_job(fresh_db, queued[0].id)
    assert cancelled.status == "cancelled" and cancelled.finished_at
    assert plan.get_shot(fresh_db, queued[0].shot_id).status == "planned"
    assert jobs.count_active_renders(fresh_db, ANA) == 2
    with pytest.raises(InvalidState, match="already cancelled"):
        jobs.cancel_render_job(fresh_db, queued[0].id)

    jobs.start_job(fresh_db, queued[1].id, "render-0")
    jobs.finish_job(fresh_db, queued[1].id)
    with pytest.raises(InvalidState, match="already done"):
        jobs.cancel_render_job(fresh_db, queued[1].id)

    # the cancelled shot can be queued again, within the limit
    _, again = queue_episode_render(
        fresh_db, episode.id, EngineChoice(), requester=ANA, max_queued_per_user=2
    )
    assert [job.shot_id for job in again] == [queued[0].shot_id]


def test_a_job_is_found_by_a_unique_prefix_of_its_id_within_the_project(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = make_project(fresh_db)
    _, queued = queue_episode_render(fresh_db, make_episode(fresh_db, project).id, EngineChoice())
    for job, new_id in zip(queued, ("abcdef01", "abcdef02", "0123456789"), strict=True):
        fresh_db.execute("UPDATE jobs SET id = ? WHERE id = ?", [new_id, job.id])
    other = make_project(fresh_db, channel=2)
    queue_episode_render(fresh_db, make_episode(fresh_db, other).id, EngineChoice())

    assert jobs.find_project_job(fresh_db, project.id, " ABCDEF02 ").id == "abcdef02"
    with pytest.raises(InvalidInput, match="Several jobs"):
        jobs.find_project_job(fresh_db, project.id, "abcdef")
    with pytest.raises(InvalidInput, match="at least 6"):
        jobs.find_project_job(fresh_db, project.id, "abc")
    with pytest.raises(InvalidInput, match="at least 6"):
        jobs.find_project_job(fresh_db, project.id, "<@&123>")
    with pytest.raises(NotFound):
        jobs.find_project_job(fresh_db, other.id, "012345")


def test_queue_text_lists_running_then_queued_jobs_within_one_message(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = make_project(fresh_db)
    assert queue_text(fresh_db, project) == "The queue is empty."
    episode = make_episode(fresh_db, project, (1.0,) * 40)
    _, queued = queue_episode_render(
        fresh_db, episode.id, EngineChoice(), requester=ANA, max_queued_per_user=40
    )
    jobs.start_job(fresh_db, queued[0].id, "render-0")
    jobs.report_progress(fresh_db, queued[0].id, 0.5, "keyframe")

    text = queue_text(fresh_db, project)
    lines = text.splitlines()
    assert len(text) <= 2000
    assert lines[0] == "**Queue of Flood** · 1 running, 39 queued"
    assert lines[1] == f"▶️ now · `{queued[0].id[:8]}` · episode 1, shot 1 · keyframe 50% · <@{ANA}>"
    assert lines[2] == f"#1 · `{queued[1].id[:8]}` · episode 1, shot 2 · queued · <@{ANA}>"
    shown = len(lines) - 2
    assert lines[-1] == f"… and {40 - shown} more" and shown < 40


# --------------------------------------------------------------------------- scheduler


async def test_a_running_render_cancelled_mid_way_ends_cancelled_with_no_takes(
    fresh_db: sqlite_utils.Database, worker: RenderActorClient, tmp_path: Path
) -> None:
    # four 10 s takes at 360x640 take a few seconds; the short shot shows the worker is free
    project = make_project(fresh_db, width=360, height=640, fps=24)
    episode = make_episode(fresh_db, project, (10.0, 1.0))
    _, (long, short) = queue_episode_render(fresh_db, episode.id, EngineChoice(takes=4))
    scheduler = Scheduler(fresh_db, [worker], tmp_path / "media")
    running = asyncio.create_task(scheduler.run())
    try:
        await eventually(lambda: jobs.get_job(fresh_db, long.id).stage == "keyframe")
        scheduler.cancel(long.id)
        assert jobs.get_job(fresh_db, long.id).status == "cancelled"
        assert plan.get_shot(fresh_db, long.shot_id).status == "planned"
        await wait_worker_status(worker, long.id, "cancelled")
        await eventually(lambda: jobs.get_job(fresh_db, short.id).status == "done", 60)
    finally:
        scheduler.stop()
        await running

    job = jobs.get_job(fresh_db, long.id)
    assert (job.status, job.attempts, job.error) == ("cancelled", 1, None)
    assert plan.get_shot(fresh_db, long.shot_id).status == "planned"
    assert takes.takes_for_shot(fresh_db, long.shot_id) == []
    assert len(takes.takes_for_shot(fresh_db, short.shot_id)) == 4


# --------------------------------------------------------------------------- Discord


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[Studio]:
    """Like test_discord_bot's studio, with animatic renders slow enough to stay in the queue."""
    async with open_studio(
        tmp_path / "data", showrunner_engine="animatic", showrunner_takes=4
    ) as world:
        yield world


async def command(world: Studio, user: int, name: str, **options: object) -> dict[str, Any]:
    """Run a slash command in the writers' room: its response data, ephemeral and mention_ids."""
    record = await world.emulator.slash_command(world.writers, user, name, options)
    await record.wait_response()
    return (record.response_data or {}) | {
        "ephemeral": record.ephemeral,
        "mention_ids": (record.original or {}).get("mention_ids"),
    }


def active_jobs(world: Studio) -> list[Job]:
    db = open_db(world.settings.database_path)
    try:
        project = projects.project_for_channel(db, world.writers)
        return jobs.active_jobs_for_project(db, project.id)
    finally:
        db.close()


async def test_queue_lists_jobs_and_only_requesters_or_directors_cancel(studio: Studio) -> None:
    world = studio
    async with running_bot(world, plan_model((2, 2))):
        await start_project(world)
        await chat_a_plan(world, (2, 2))
        rendered = await command(world, world.ana, "render")
        assert "Queued 4 shot(s)" in rendered["content"]
        queued = [job for job in active_jobs(world) if job.kind == "render"]

        listing = await command(world, world.ben, "queue")
        assert not listing["ephemeral"] and listing["mention_ids"] == []  # shown, not pinged
        lines = listing["content"].splitlines()
        assert "**Queue of Gong Gong**" in lines[0]
        # each shot's line is spoken before it renders: those jobs may be listed first
        renders = [line for line in lines[1:] if "'s line" not in line]
        for line, job, number in zip(renders, queued, (1, 2, 3, 4), strict=True):
            assert f"`{job.id[:8]}` · episode 1, shot {number} ·" in line
            assert line.endswith(f"<@{world.ana}>")
        review = await world.emulator.slash_command(world.review, world.ben, "queue")
        await review.wait_response()
        assert review.response_data["content"].splitlines()[0] == lines[0]

        refused = await command(world, world.ben, "cancel", job=queued[3].id[:8])
        assert refused["ephemeral"] and "Only the member who queued" in refused["content"]
        refused = await command(world, world.ana, "cancel")
        assert refused["ephemeral"] and "Only members with" in refused["content"]
        unknown = await command(world, world.ana, "cancel", job="ffffffffff")
        assert unknown["ephemeral"] and "No job of this project" in unknown["content"]
        assert [job.id for job in active_jobs(world) if job.kind == "render"] == [
            job.id for job in queued
        ]

        own = await command(world, world.ana, "cancel", job=queued[3].id[:8])
        assert not own["ephemeral"]
        assert own["content"] == f"Cancelled job `{queued[3].id[:8]}` (episode 1, shot 4)."
        assert queued[3].id not in {job.id for job in active_jobs(world)}

    db = open_db(world.settings.database_path)
    assert jobs.get_job(db, queued[3].id).status == "cancelled"
    assert plan.get_shot(db, queued[3].shot_id).status == "planned"


async def test_a_director_cancels_the_episode_including_the_running_render(studio: Studio) -> None:
    world = studio
    async with running_bot(world, plan_model((2, 2))) as bot:
        await start_project(world)
        await chat_a_plan(world, (2, 2))
        await command(world, world.ana, "render")
        # the shots' lines are spoken first, in a moment; then the first render runs
        await world.emulator.wait_until(lambda: active_jobs(world)[0].kind == "render")
        first = active_jobs(world)[0]
        await world.emulator.wait_until(lambda: active_jobs(world)[0].status == "running")
        # 'running' in the database comes just before the submit reaches the worker
        await wait_worker_status(bot.runtime.scheduler.workers[0], first.id, "running")

        cancelled = await command(world, world.director, "cancel")
        assert cancelled["content"] == "Cancelled 4 jobs of episode 1."
        await wait_worker_status(bot.runtime.scheduler.workers[0], first.id, "cancelled")
        assert (await command(world, world.ana, "queue"))["content"] == "The queue is empty."
        await asyncio.sleep(1.0)  # a late worker answer must not turn into a take
        assert not drafts(world)

    db = open_db(world.settings.database_path)
    statuses = db.execute("SELECT DISTINCT status FROM jobs WHERE kind = 'render'").fetchall()
    assert statuses == [("cancelled",)]
    assert {shot[0] for shot in db.execute("SELECT status FROM shots")} == {"planned"}
    assert db.table("takes").count == 0


async def test_a_job_goes_to_the_free_worker_that_has_its_model_warm(
    fresh_db: sqlite_utils.Database, ray_cluster: None, tmp_path: Path
) -> None:
    channels = iter(range(1, 10))

    def queue(model: str) -> Job:
        episode = make_episode(fresh_db, make_project(fresh_db, next(channels)), (1.0,))
        _, (job,) = queue_episode_render(fresh_db, episode.id, EngineChoice(model=model))
        return job

    async with render_actors(2) as pair:
        scheduler = Scheduler(fresh_db, pair, tmp_path / "media")
        first = queue("keyframes-a")
        await run_until_idle(scheduler, timeout=60)
        # both actors are free; the first in the queue wants a model neither has loaded
        other, same = queue("keyframes-b"), queue("keyframes-a")
        await run_until_idle(scheduler, timeout=60)
        # now each actor has one warm: the first in the queue goes to its own
        then_b, then_a = queue("keyframes-b"), queue("keyframes-a")
        await run_until_idle(scheduler, timeout=60)

    done = {job.id: jobs.get_job(fresh_db, job.id) for job in (first, other, same, then_b, then_a)}
    assert {job.status for job in done.values()} == {"done"}
    assert done[first.id].worker == pair[0].name
    # the job on the warm model went back to that actor; the other job took the cold one
    assert done[same.id].worker == pair[0].name
    assert done[other.id].worker == pair[1].name
    assert (done[then_b.id].worker, done[then_a.id].worker) == (pair[1].name, pair[0].name)
