"""The worker service (a real subprocess on loopback) and the scheduler, with real engines."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pipeline.errors import WorkerError
from pipeline.ffmpeg import probe
from pipeline.render.queue import EngineChoice, queue_episode_cut, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.render.worker_client import LocalWorker, WorkerClient
from pipeline.worker.engines import MIN_DRAFT_BYTES, check_request_basics
from pipeline.worker.requests import RenderRequest
from storage import episodes, events, jobs, plan, projects, takes
from storage.errors import InvalidInput

SMALL = {"width": 180, "height": 320, "fps": 12}


def request(job_id: str = "job1", **changes) -> RenderRequest:
    values = dict(
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
    return RenderRequest(**values)


async def test_worker_renders_streams_progress_and_serves_media(worker, tmp_path):
    await worker.submit(request())
    states = [state async for state in worker.follow("job1")]
    assert states[-1]["status"] == "done"
    assert [take["seed"] for take in states[-1]["takes"]] == [1, 2]
    media = await worker.download(states[-1]["takes"][0]["media"], tmp_path / "take.mp4")
    info = probe(media)
    assert (info.width, info.height) == (180, 320) and abs(info.duration - 1.5) < 0.1
    again = await worker.submit(request())  # same id: the same job, not a second render
    assert again["status"] == "done"
    health = await worker.health()
    assert health["status"] == "ok" and health["engines"] == ["animatic"]


async def test_worker_refuses_bad_parameters_naming_the_value(worker):
    with pytest.raises(WorkerError, match="width 181"):
        await worker.submit(request("job2", width=181))
    with pytest.raises(WorkerError, match="unknown engine 'sora'"):
        await worker.submit(request("job3", engine="sora"))
    assert await worker.state("job2") is None


BAD_DIFFUSERS_PARAMETERS = [
    ({"steps": 0}, "steps 0"),
    ({"steps": 101}, "steps 101"),
    ({"seeds": tuple(range(9))}, "give 1 to 8 seeds"),
    ({"extra": {"keyframe_width": 100}}, "keyframe_width 100 must be a multiple of 8"),
    ({"model": "/nowhere/tiny-sd"}, "'/nowhere/tiny-sd': no such model folder"),
    ({"max_draft_bytes": 1000}, "max_draft_bytes 1000"),
    ({"reference_images": ("bm90IGEgcG5n",)}, "reference image 1 is not a base64 PNG"),
]


async def test_worker_refuses_bad_diffusers_parameters_with_a_plain_json_400(worker):
    # one worker for every case: its first diffusers job imports torch, which takes seconds
    for changes in BAD_DIFFUSERS_PARAMETERS:
        fields = {"engine": "diffusers", "model": "some/model", **changes[0]}
        body = request("bad1", **fields).to_json()
        async with worker.session.post(f"{worker.base_url}/v1/jobs", json=body) as response:
            assert response.status == 400, changes
            assert response.content_type == "application/json"
            answer = await response.json()
        assert list(answer) == ["error"] and changes[1] in answer["error"], answer
        assert await worker.state("bad1") is None


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


async def test_worker_refuses_values_out_of_range_naming_them(worker):
    for changes, named in OUT_OF_RANGE:
        body = request("bad2", **changes).to_json()  # NaN and inf travel as JSON's NaN/Infinity
        async with worker.session.post(f"{worker.base_url}/v1/jobs", json=body) as response:
            assert response.status == 400, changes
            answer = await response.json()
        assert named in answer["error"], (changes, answer)
    assert await worker.state("bad2") is None


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


def make_episode(db, shots=(1.5, 1.0, 2.0)):
    project = projects.create_project(db, "Flood", writers_channel_id=1, **SMALL)
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
    fresh_db, worker, tmp_path
):
    episode = make_episode(fresh_db)
    scheduler = Scheduler(fresh_db, [worker], tmp_path / "media")
    _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice(takes=2))
    await run_until_idle(scheduler, timeout=120)
    assert {jobs.get_job(fresh_db, job.id).status for job in queued} == {"done"}
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


async def broken_worker(aiohttp_body: bytes, status: int):
    async def any_route(_request: web.Request) -> web.Response:
        return web.Response(body=aiohttp_body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"<html>oops</html>", 500, "non-JSON"),
        (json.dumps({"error": "GPU on fire"}).encode(), 500, "GPU on fire"),
    ],
)
async def test_a_broken_worker_fails_the_job_with_a_readable_reason(
    fresh_db, tmp_path, body, status, reason
):
    runner, url = await broken_worker(body, status)
    try:
        episode = make_episode(fresh_db, shots=(1.0,))
        async with aiohttp.ClientSession() as session:
            scheduler = Scheduler(fresh_db, [WorkerClient(url, session)], tmp_path / "media")
            _, queued = queue_episode_render(fresh_db, episode.id, EngineChoice())
            await run_until_idle(scheduler, timeout=30)
        job = jobs.get_job(fresh_db, queued[0].id)
        assert job.status == "failed" and job.attempts == jobs.MAX_ATTEMPTS
        assert reason in job.error
        assert plan.list_shots(fresh_db, episode.id)[0].status == "planned"
        failed = [(e.kind, e.payload) for e in events.pending_events(fresh_db)]
        assert failed == [("job_failed", {"job_id": job.id})]  # the bot reports this job
    finally:
        await runner.cleanup()


async def test_render_without_a_plan_is_refused_and_stores_nothing(fresh_db):
    project = projects.create_project(fresh_db, "Empty", writers_channel_id=3)
    episode = plan.EpisodePlan("x", "", scenes=(plan.ScenePlan("a", "", (plan.ShotPlan("s"),)),))
    stored = plan.save_episode_plan(fresh_db, project.id, episode)
    fresh_db.execute("DELETE FROM shots")
    with pytest.raises(InvalidInput) as refused:
        queue_episode_render(fresh_db, stored.id, EngineChoice())
    assert str(refused.value) == "This episode has no shots yet: plan it with the agent first."
    assert fresh_db.table("jobs").count == 0


def test_rendering_again_what_is_rendered_or_queued_is_refused_by_name(fresh_db) -> None:
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


async def test_a_worker_with_a_token_refuses_calls_without_it(tmp_path):
    local = LocalWorker(tmp_path / "worker-media", {"SHOWRUNNER_WORKER_TOKEN": "s3cret-token"})
    url = await local.start()
    try:
        async with aiohttp.ClientSession() as session:
            for wrong in ("", "guess"):
                with pytest.raises(WorkerError, match="worker token"):
                    await WorkerClient(url, session, wrong).submit(request("job1"))
            worker = WorkerClient(url, session, "s3cret-token")
            await worker.submit(request("job1"))
            states = [state async for state in worker.follow("job1")]
            assert states[-1]["status"] == "done"
            assert "s3cret-token" not in repr(worker)
    finally:
        await local.stop()


async def test_a_cancel_that_overtakes_its_submit_stops_the_job_before_it_renders(tmp_path):
    from aiohttp.test_utils import TestServer

    import pipeline.worker.service as worker_module

    service = worker_module.WorkerService(tmp_path / "worker-media")
    server = TestServer(service.app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            worker = WorkerClient(str(server.make_url("")).rstrip("/"), session)
            await worker.cancel("job1")  # the bot cancelled while its submit was on the way
            accepted = await worker.submit(request("job1", seeds=(1,)))
            assert accepted["status"] == "cancelled"
            assert [s["status"] async for s in worker.follow("job1")] == ["cancelled"]
            assert not (tmp_path / "worker-media" / "job1").exists()  # nothing rendered
            # only that one submit is cancelled: the id can be submitted again and runs
            await worker.submit(request("job1", seeds=(1,)))
            assert [s async for s in worker.follow("job1")][-1]["status"] == "done"
    finally:
        await server.close()


async def test_a_worker_forgets_its_oldest_finished_jobs_and_their_media(tmp_path, monkeypatch):
    from aiohttp.test_utils import TestServer

    import pipeline.worker.service as worker_module

    monkeypatch.setattr(worker_module, "MAX_FINISHED_JOBS", 2)
    service = worker_module.WorkerService(tmp_path / "worker-media")
    server = TestServer(service.app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            worker = WorkerClient(str(server.make_url("")).rstrip("/"), session)
            for job_id in ("job1", "job2", "job3"):
                await worker.submit(request(job_id, seeds=(1,)))
                assert [s async for s in worker.follow(job_id)][-1]["status"] == "done"
            assert await worker.state("job1") is None
            assert not (tmp_path / "worker-media" / "job1").exists()
            assert (await worker.state("job3"))["status"] == "done"
            assert (tmp_path / "worker-media" / "job3").is_dir()
    finally:
        await server.close()
