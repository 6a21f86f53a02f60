"""The render actor (a real Ray actor), its job runner, and the scheduler, with real engines."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlite_utils

from pipeline.errors import BadRequest
from pipeline.ffmpeg import probe
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice, queue_episode_cut, queue_episode_render
from pipeline.render.scheduler import Scheduler, models_of, run_until_idle
from pipeline.worker import runner as runner_module
from pipeline.worker.engines import MIN_DRAFT_BYTES, check_request_basics
from pipeline.worker.requests import RenderRequest
from pipeline.worker.runner import JobRunner
from pipeline.worker.settings import WorkerSettings
from storage import episodes, events, jobs, plan, projects, takes
from storage.errors import InvalidInput
from storage.models import Episode
from tests.ray_cluster import render_actors

SMALL = {"width": 180, "height": 320, "fps": 12}


def request(job_id: str = "job1", **changes: object) -> RenderRequest:
    values: dict[str, object] = dict(
        job_id=job_id,
        engine="animatic",
        prompt="storm",
        seeds=(1, 2),
        duration=1.5,
        description="Waves crash on the shore",
        camera="wide",
        dialogue="Kneel!",
        **SMALL,
    )
    values.update(changes)
    return RenderRequest(**values)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    """A job id no other test gives the session's shared actor."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def test_worker_renders_streams_progress_and_serves_media(
    worker: RenderActorClient, tmp_path: Path
) -> None:
    await worker.submit(request())
    states = [state async for state in worker.follow("job1")]
    assert states[-1]["status"] == "done"
    assert [take["seed"] for take in states[-1]["takes"]] == [1, 2]
    media = await worker.download("job1", states[-1]["takes"][0]["media"], tmp_path / "take.mp4")
    info = probe(media)
    assert (info.width, info.height) == (180, 320) and abs(info.duration - 1.5) < 0.1
    again = await worker.submit(request())  # same id: the same job, not a second render
    assert again["status"] == "done" and again["reattached"] is True
    assert again["version"] == states[-1]["version"]
    health = await worker.health()
    assert health["status"] == "ok" and health["engines"] == ["animatic"]
    assert health["current_job"] is None and health["queued"] == 0


async def test_worker_refuses_bad_parameters_naming_the_value(
    shared_worker: RenderActorClient,
) -> None:
    wide, unknown = unique("wide"), unique("sora")
    with pytest.raises(BadRequest, match="width 181"):
        await shared_worker.submit(request(wide, width=181))
    with pytest.raises(BadRequest, match="unknown engine 'sora'"):
        await shared_worker.submit(request(unknown, engine="sora"))
    with pytest.raises(BadRequest, match="bad job_id"):
        await shared_worker.submit(request("../etc"))
    assert await shared_worker.state(wide) is None
    assert await shared_worker.state(unknown) is None


BAD_DIFFUSERS_PARAMETERS = [
    ({"steps": 0}, "steps 0"),
    ({"steps": 101}, "steps 101"),
    ({"seeds": tuple(range(9))}, "give 1 to 8 seeds"),
    ({"extra": {"keyframe_width": 100}}, "keyframe_width 100 must be a multiple of 8"),
    ({"model": "/nowhere/tiny-sd"}, "'/nowhere/tiny-sd': no such model folder"),
    ({"max_draft_bytes": 1000}, "max_draft_bytes 1000"),
    ({"reference_images": ("bm90IGEgcG5n",)}, "reference image 1 is not a base64 PNG"),
]


async def test_worker_refuses_bad_diffusers_parameters_naming_the_value(
    shared_worker: RenderActorClient,
) -> None:
    # one actor for every case: its first diffusers job imports torch, which takes seconds
    job_id = unique("bad")
    for changes, named in BAD_DIFFUSERS_PARAMETERS:
        fields = {"engine": "diffusers", "model": "some/model", **changes}
        with pytest.raises(BadRequest) as refused:
            await shared_worker.submit(request(job_id, **fields))
        assert named in str(refused.value), changes
        assert await shared_worker.state(job_id) is None


OUT_OF_RANGE = [
    ({"duration": float("nan")}, "duration nan"),
    ({"duration": float("inf")}, "duration inf"),
    ({"duration": 0.0}, "duration 0.0"),
    ({"duration": 60.01}, "duration 60.01"),
    ({"width": 62}, "width 62"),
    ({"width": 4098}, "width 4098"),
    ({"height": 321}, "height 321"),
    ({"fps": 0}, "fps 0"),
    ({"fps": 61}, "fps 61"),
    ({"seeds": ()}, "give 1 to 8 seeds"),
    ({"seeds": (2**63,)}, f"seed {2**63}"),
    ({"max_draft_bytes": MIN_DRAFT_BYTES - 1}, f"max_draft_bytes {MIN_DRAFT_BYTES - 1}"),
]


async def test_worker_refuses_values_out_of_range_naming_them(
    shared_worker: RenderActorClient,
) -> None:
    job_id = unique("range")
    for changes, named in OUT_OF_RANGE:
        with pytest.raises(BadRequest) as refused:
            await shared_worker.submit(request(job_id, **changes))
        assert named in str(refused.value), changes
    assert await shared_worker.state(job_id) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"duration": 60.0},
        {"width": 64, "height": 4096},
        {"fps": 1, "duration": 1.0},
        {"fps": 60},
        {"seeds": tuple(range(8))},
        {"seeds": (2**63 - 1,)},
        {"max_draft_bytes": MIN_DRAFT_BYTES},
    ],
)
def test_values_at_the_limits_are_accepted(changes) -> None:
    check_request_basics(request("edge", **changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"job_id": "bad id"}, "job_id 'bad id' must be letters, digits, '_', '-' or '.'"),
        ({"job_id": "a..b"}, "job_id 'a..b' must be letters, digits, '_', '-' or '.'"),
        ({"seeds": tuple(range(9))}, f"seeds {list(range(9))!r}: give 1 to 8 seeds"),
        ({"seeds": (1, -1)}, "seed -1 must be between 0 and 2**63 - 1"),
        ({"seeds": (2**63,)}, f"seed {2**63} must be between 0 and 2**63 - 1"),
        ({"duration": float("nan")}, "duration nan must be above 0 and at most 60 seconds"),
        ({"duration": 0.0}, "duration 0.0 must be above 0 and at most 60 seconds"),
        ({"duration": 60.01}, "duration 60.01 must be above 0 and at most 60 seconds"),
        ({"width": 62}, "width 62 must be an even number from 64 to 4096"),
        ({"width": 4098}, "width 4098 must be an even number from 64 to 4096"),
        ({"height": 321}, "height 321 must be an even number from 64 to 4096"),
        (
            {"max_draft_bytes": MIN_DRAFT_BYTES - 1},
            f"max_draft_bytes {MIN_DRAFT_BYTES - 1} must be at least {MIN_DRAFT_BYTES}",
        ),
        ({"fps": 0}, "fps 0 must be from 1 to 60"),
        ({"fps": 61}, "fps 61 must be from 1 to 60"),
        ({"duration": 0.02, "fps": 24}, "duration 0.02 is shorter than one frame at 24 fps"),
    ],
)
def test_values_past_the_limits_are_refused_by_name(changes, message) -> None:
    with pytest.raises(ValueError) as refused:
        check_request_basics(request(**({"job_id": "edge"} | changes)))
    assert str(refused.value) == message


def make_episode(
    db: sqlite_utils.Database,
    shots: tuple[float, ...] = (1.5, 1.0, 2.0),
    channel: int = 1,
    size: dict[str, int] = SMALL,
) -> Episode:
    project = projects.create_project(db, "Flood", writers_channel_id=channel, **size)
    draft = plan.EpisodePlan(
        "The Flood",
        "",
        scenes=(
            plan.ScenePlan(
                "Shore",
                "",
                tuple(
                    plan.ShotPlan(f"shot {i}", "wide", seconds, f"Line {i}")
                    for i, seconds in enumerate(shots, start=1)
                ),
            ),
        ),
    )
    return plan.save_episode_plan(db, project.id, draft)


async def test_scheduler_renders_a_plan_records_takes_and_cuts_the_episode(
    fresh_db: sqlite_utils.Database, shared_worker: RenderActorClient, tmp_path: Path
) -> None:
    episode = make_episode(fresh_db)
    scheduler = Scheduler(fresh_db, [shared_worker], tmp_path / "media")
    _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice(takes=2))
    await run_until_idle(scheduler, timeout=120)
    done = [jobs.get_job(fresh_db, job.id) for job in queued]
    assert {job.status for job in done} == {"done"}
    assert {(job.worker, job.attempts) for job in done} == {(shared_worker.name, 1)}
    shots = plan.list_shots(fresh_db, episode.id)
    assert {shot.status for shot in shots} == {"review"}
    kinds = [event.kind for event in events.pending_events(fresh_db)]
    assert kinds == ["shot_ready"] * 3
    for shot in shots:
        shot_takes = takes.takes_for_shot(fresh_db, shot.id)
        assert len(shot_takes) == 2 and all(Path(t.media_path).exists() for t in shot_takes)
        takes.approve_take(fresh_db, shot_takes[1].id)
    cut = queue_episode_cut(fresh_db, episode.id)
    assert queue_episode_cut(fresh_db, episode.id) is None  # one cut, however often asked
    await run_until_idle(scheduler, timeout=120)
    assert jobs.get_job(fresh_db, cut.id).status == "done"
    path = episodes.get_episode(fresh_db, episode.id).cut_path
    info = probe(path)
    assert abs(info.duration - 4.5) < 0.2
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


async def test_a_job_failing_on_the_worker_is_retried_then_fails_with_its_reason(
    fresh_db: sqlite_utils.Database, ray_cluster: None, tmp_path: Path
) -> None:
    # an actor whose ffmpeg is broken: every render fails there, with ffmpeg's words
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'GPU on fire' >&2\nexit 1\n")
    broken.chmod(0o755)
    episode = make_episode(fresh_db, shots=(1.0,))
    async with render_actors(1, FFMPEG_BINARY=str(broken)) as [actor]:
        scheduler = Scheduler(fresh_db, [actor], tmp_path / "media")
        _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice())
        await run_until_idle(scheduler, timeout=60)
    job = jobs.get_job(fresh_db, queued[0].id)
    # not a refused value (a ValueError): retried up to the limit, each time on the worker
    assert job.status == "failed" and job.attempts == jobs.MAX_ATTEMPTS
    assert "GPU on fire" in job.error and "FfmpegError" in job.error
    assert plan.list_shots(fresh_db, episode.id)[0].status == "planned"
    failed = [(e.kind, e.payload) for e in events.pending_events(fresh_db)]
    assert failed == [("job_failed", {"job_id": job.id})]  # the bot reports this job


async def test_render_without_a_plan_is_refused_and_stores_nothing(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = projects.create_project(fresh_db, "Empty", writers_channel_id=3)
    episode = plan.EpisodePlan("x", "", scenes=(plan.ScenePlan("a", "", (plan.ShotPlan("s"),)),))
    stored = plan.save_episode_plan(fresh_db, project.id, episode)
    fresh_db.execute("DELETE FROM shots")
    with pytest.raises(InvalidInput) as refused:
        queue_episode_render(fresh_db, stored.id, EngineChoice())
    assert str(refused.value) == "This episode has no shots yet: plan it with the agent first."
    assert fresh_db.table("jobs").count == 0


def test_rendering_again_what_is_rendered_or_queued_is_refused_by_name(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = projects.create_project(fresh_db, "Flood", writers_channel_id=3)
    episode = plan.EpisodePlan("x", "", scenes=(plan.ScenePlan("a", "", (plan.ShotPlan("s"),)),))
    stored = plan.save_episode_plan(fresh_db, project.id, episode)
    render, (job,) = queue_episode_render(
        fresh_db, stored.id, EngineChoice(), requester=7, channel_id=77
    )
    assert (render.channel_id, job.render_id) == (77, render.id)  # its status message goes there
    assert render.requester == job.requester == 7
    with pytest.raises(InvalidInput) as refused:
        queue_episode_render(fresh_db, stored.id, EngineChoice(), channel_id=77)
    assert str(refused.value) == "Every shot of this episode is already rendered or in the queue."
    assert fresh_db.table("jobs").count == 1


async def test_a_cancel_that_overtakes_its_submit_stops_the_job_before_it_renders(
    worker: RenderActorClient,
) -> None:
    await worker.cancel("job1")  # the bot cancelled while its submit was on the way
    accepted = await worker.submit(request("job1", seeds=(1,)))
    assert accepted["status"] == "cancelled"
    states = [state async for state in worker.follow("job1")]
    # it never ran: no 'running' state, no progress, no take
    assert [state["status"] for state in states] == ["cancelled"]
    assert (states[0]["progress"], states[0]["stage"], states[0]["takes"]) == (0.0, "", [])
    assert (await worker.health())["current_job"] is None
    # only that one submit is cancelled: the id can be submitted again and runs
    again = await worker.submit(request("job1", seeds=(1,)))
    assert "reattached" not in again
    final = [state async for state in worker.follow("job1")][-1]
    assert final["status"] == "done" and len(final["takes"]) == 1


async def test_a_runner_forgets_its_oldest_finished_jobs_and_their_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in-process: the limit is a module constant of the runner (200 in an actor)
    monkeypatch.setattr(runner_module, "MAX_FINISHED_JOBS", 2)
    media = tmp_path / "worker-media"
    runner = JobRunner(media, WorkerSettings(device="cpu"))
    try:
        for job_id in ("job1", "job2", "job3"):
            await runner.submit(request(job_id, seeds=(1,)))
            state = await runner.wait(job_id, 0, 60)
            while state is not None and state["status"] not in runner_module.TERMINAL:
                state = await runner.wait(job_id, state["version"], 60)
            assert state is not None and state["status"] == "done"
            assert runner.media(job_id, state["takes"][0]["media"])  # served while kept
        assert runner.state("job1") is None
        assert not (media / "job1").exists()
        with pytest.raises(FileNotFoundError):
            runner.media("job1", "job1_take1.mp4")
        assert runner.state("job2")["status"] == "done"  # type: ignore[index]
        assert runner.state("job3")["status"] == "done"  # type: ignore[index]
        assert (media / "job3").is_dir()
    finally:
        await runner.close()


async def test_a_job_goes_to_the_actor_that_has_its_model_warm(
    fresh_db: sqlite_utils.Database, ray_cluster: None, tiny_model: Path, tmp_path: Path
) -> None:
    tiny = {"width": 96, "height": 160, "fps": 8}
    choices = {
        "animatic": EngineChoice(),
        "tiny": EngineChoice(engine="diffusers", model=str(tiny_model), steps=2),
    }
    channels = iter(range(1, 10))

    def queue(name: str) -> str:
        episode = make_episode(fresh_db, (0.5,), next(channels), tiny)
        _, (job,) = queue_episode_render(fresh_db, episode.id, choices[name])
        return job.id

    async with render_actors(2) as (first, second):
        scheduler = Scheduler(fresh_db, [first, second], tmp_path / "media")
        # both cold: the first in the queue takes the first actor, the tiny model the second
        cards, tiny_job = queue("animatic"), queue("tiny")
        await run_until_idle(scheduler, timeout=180)
        assert jobs.get_job(fresh_db, cards).worker == first.name
        assert jobs.get_job(fresh_db, tiny_job).worker == second.name
        # both idle now: the next tiny-model job goes to the actor that has it loaded, though
        # the first actor comes first in order
        again = queue("tiny")
        await run_until_idle(scheduler, timeout=180)
        loaded = [(await actor.health())["loaded_models"] for actor in (first, second)]
    done = jobs.get_job(fresh_db, again)
    assert (done.status, done.worker, done.attempts) == ("done", second.name, 1)
    assert models_of(done) == ("diffusers", str(tiny_model), "")
    assert loaded == [[], [str(tiny_model)]]  # the scheduler's guess is what the actor holds
