"""Cancel stops a running diffusers render at its next denoising step (a real render actor)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice, queue_episode_render
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.worker.requests import RenderRequest
from storage import jobs, plan, projects, takes
from storage.models import Job

STEPS = 80
KEYFRAME_SHARE = (
    0.8  # of the progress bar, spent denoising (pipeline.worker.engines.diffusers_keyframe)
)


def render(job_id: str, model: Path, steps: int, side: int) -> RenderRequest:
    return RenderRequest(
        job_id=job_id,
        engine="diffusers",
        model=str(model),
        prompt="a lighthouse in a storm",
        seeds=(7,),
        duration=0.5,
        width=180,
        height=320,
        fps=12,
        steps=steps,
        # a big keyframe makes each step of the tiny model slow enough to see where it stopped
        extra={"keyframe_width": side, "keyframe_height": side * 16 // 9 // 8 * 8},
    )


def step_of(progress: float) -> float:
    """Denoising steps done, from a one-take job's progress fraction."""
    return progress / KEYFRAME_SHARE * STEPS


def job_folders(job_id: str) -> list[Path]:
    """The job's media folder in every render actor's temporary media folder on this host
    (the actors' processes share this process's temporary directory)."""
    return list(Path(tempfile.gettempdir()).glob(f"showrunner-render-*/{job_id}"))


async def test_cancel_stops_the_render_within_a_step_and_the_actor_stays_warm(
    worker: RenderActorClient, tiny_model: Path
) -> None:
    pid = (await worker.health())["pid"]
    long = f"long{uuid.uuid4().hex[:10]}"  # unique on this host: its media folder is looked for
    await worker.submit(render(long, tiny_model, STEPS, 256))
    at_cancel = None
    states = []
    async for state in worker.follow(long):
        states.append(state)
        if at_cancel is None and state["status"] == "running" and state["progress"] > 0:
            at_cancel = await worker.cancel(long)
    assert at_cancel is not None, "no progress event before the job ended"
    final = states[-1]
    assert final["status"] == "cancelled" and final["takes"] == []
    # the job was still running when asked, and stopped at most about a step later
    assert at_cancel["status"] == "running"
    stopped_after = step_of(final["progress"]) - step_of(at_cancel["progress"])
    assert 0 <= stopped_after <= 2, (at_cancel, final)
    assert step_of(final["progress"]) < STEPS / 2
    (folder,) = job_folders(long)  # it ran, and wrote no clip
    assert not list(folder.glob("*.mp4"))

    # the same actor process, its model still loaded, is free at once: the next job renders
    health = await worker.health()
    assert health["pid"] == pid and health["loaded_models"] == [str(tiny_model)]
    assert health["current_job"] is None
    await worker.submit(render("next1", tiny_model, 2, 64))
    after = [state async for state in worker.follow("next1")]
    assert after[-1]["status"] == "done" and len(after[-1]["takes"]) == 1
    assert (await worker.health())["pid"] == pid


async def test_cancel_of_a_queued_job_ends_it_before_it_starts(
    worker: RenderActorClient, tiny_model: Path
) -> None:
    await worker.submit(render("first2", tiny_model, STEPS, 256))
    await worker.submit(render("second2", tiny_model, 2, 64))
    await worker.cancel("second2")
    assert (await worker.state("second2"))["status"] == "cancelled"
    await worker.cancel("first2")
    first = [state async for state in worker.follow("first2")]
    assert first[-1]["status"] == "cancelled"
    second = [state async for state in worker.follow("second2")]
    assert [state["status"] for state in second] == ["cancelled"]


async def test_the_schedulers_cancel_stops_the_worker_and_records_no_take(
    fresh_db, worker: RenderActorClient, tiny_model: Path, tmp_path: Path
) -> None:
    project = projects.create_project(
        fresh_db, "Storm", writers_channel_id=1, width=180, height=320
    )
    draft = plan.EpisodePlan(
        "Pilot", "", scenes=(plan.ScenePlan("Sea", "", (plan.ShotPlan("Waves", "wide", 1.0),)),)
    )
    episode = plan.save_episode_plan(fresh_db, project.id, draft)
    pid = (await worker.health())["pid"]
    cancelled: list[str] = []

    def on_job(job: Job) -> None:
        # the first progress report from the worker: the render is under way
        if job.status == "running" and job.progress > 0 and not cancelled:
            cancelled.append(job.id)
            scheduler.cancel(job.id)

    scheduler = Scheduler(fresh_db, [worker], tmp_path / "media", listener=on_job)
    choice = EngineChoice(engine="diffusers", model=str(tiny_model), takes=1, steps=100)
    _, (job,) = queue_episode_render(fresh_db, episode.id, choice)
    await run_until_idle(scheduler, timeout=300)

    assert cancelled == [job.id]
    assert jobs.get_job(fresh_db, job.id).status == "cancelled"
    assert takes.takes_for_shot(fresh_db, job.shot_id) == []
    assert plan.get_shot(fresh_db, job.shot_id).status == "planned"
    final = [state async for state in worker.follow(job.id)][-1]
    assert final["status"] == "cancelled" and final["takes"] == []
    # it stopped mid-denoising, far from the end of its 100 steps
    assert final["stage"] == "keyframe" and final["progress"] < KEYFRAME_SHARE * 0.9
    # told to stop, not killed: the same actor process, its model still loaded
    health = await worker.health()
    assert health["pid"] == pid and health["loaded_models"] == [str(tiny_model)]
