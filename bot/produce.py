"""`showrunner produce`: premise -> plan -> renders -> first takes approved -> cut, no Discord.

Stopped part way (Ctrl-C, SIGTERM), what is stored stays: `showrunner produce --resume`
finishes the newest unfinished headless episode from where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlite_utils
from langchain_core.language_models import BaseChatModel

from agents.tools import ToolContext
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from pipeline import workflow
from pipeline.render.scheduler import run_until_idle
from storage import episodes, events, jobs, plan, projects, takes
from storage.errors import ShowrunnerError
from storage.models import Episode, Job
from storage.status import RENDERABLE, EpisodeStatus, JobStatus

HEADLESS_TITLE = "Headless productions"


def _headless_project(runtime_db, settings: Settings):
    found = projects.headless_project(runtime_db, HEADLESS_TITLE)
    if found is not None:
        return found
    return projects.create_project(
        runtime_db,
        HEADLESS_TITLE,
        width=settings.showrunner_width,
        height=settings.showrunner_height,
        fps=settings.showrunner_fps,
    )


async def produce(
    settings: Settings,
    premise: str,
    *,
    say: Callable[[str], None] = print,
    chat_model: BaseChatModel | None = None,
) -> Path:
    if not premise.strip():
        raise ShowrunnerError('Give a premise, e.g. showrunner produce "A mortal defies a god".')
    async with open_runtime(settings, chat_model=chat_model) as runtime:
        db = runtime.db
        project = _headless_project(db, settings)
        context = ToolContext(db, project.id, user_id=None, is_director=True)
        say("Writing the plan…")
        episode = await runtime.director.write_plan(context, premise)
        say(plan.plan_summary(db, episode.id, limit=4000))
        return await _finish(runtime, episode, say)


async def resume(
    settings: Settings,
    *,
    say: Callable[[str], None] = print,
    chat_model: BaseChatModel | None = None,
) -> Path:
    """Finish the newest headless episode that was not delivered (renders, approvals, cut)."""
    async with open_runtime(settings, chat_model=chat_model) as runtime:
        project = _headless_project(runtime.db, settings)
        episode = episodes.current_episode(runtime.db, project.id)
        if episode is None or episode.status == EpisodeStatus.DELIVERED:
            raise ShowrunnerError(
                'No unfinished episode to resume: start one with showrunner produce "<premise>".'
            )
        say(f"Resuming episode {episode.number}…")
        return await _finish(runtime, episode, say)


async def _finish(runtime: Runtime, episode: Episode, say: Callable[[str], None]) -> Path:
    """Render what is not rendered, approve each shot's first take, cut, mark delivered."""
    db = runtime.db
    shots = plan.list_shots(db, episode.id)
    last_line: dict[str, str] = {}

    def show_progress(job: Job) -> None:
        shot = next((s for s in shots if s.id == job.shot_id), None)
        label = f"shot {shot.number}/{len(shots)}" if shot else "cut"
        if job.status == JobStatus.RUNNING:
            line = f"  {label}: {job.stage or 'starting'} {job.progress:.0%}"
        elif job.status == JobStatus.FAILED:
            line = f"  {label}: failed ({job.error})"
        else:
            line = f"  {label}: {job.status}"
        if last_line.get(job.id) != line:
            last_line[job.id] = line
            say(line)

    runtime.scheduler.listener = show_progress
    say(f"Rendering {len(shots)} shots with the {runtime.engine.engine} engine…")
    if any(shot.status in RENDERABLE for shot in shots):
        workflow.render_episode(db, episode.id, runtime.engine)
    await run_until_idle(runtime.scheduler)  # also what a stopped run left queued or running
    shots = plan.list_shots(db, episode.id)
    shot_takes = {shot.id: takes.takes_for_shot(db, shot.id) for shot in shots}
    unrendered = [shot for shot in shots if not shot_takes[shot.id]]
    if unrendered:
        renders = jobs.jobs_for_episode(db, episode.id, "render")
        failed = [job for job in renders if job.status == JobStatus.FAILED]
        reason = failed[-1].error if failed else "no take was made"
        raise ShowrunnerError(f"{len(unrendered)} shot(s) failed to render: {reason}")

    workflow.approve_first_takes(db, episode.id)  # and queues the cut
    say("Cutting the episode…")
    await run_until_idle(runtime.scheduler)
    cut = jobs.jobs_for_episode(db, episode.id, "assemble")[-1]
    if cut.status != JobStatus.DONE:
        raise ShowrunnerError(f"The cut failed: {cut.error}")
    workflow.delivered(db, episode.id)
    shot_ids = {shot.id for shot in shots}
    for event in events.pending_events(db):
        if _about(db, events.decode(event), episode.id, shot_ids):
            events.mark_delivered(db, event.id)  # headless: the terminal was the delivery
    cut_path = episodes.get_episode(db, episode.id).cut_path
    assert cut_path
    return Path(cut_path).resolve()


def _about(
    db: sqlite_utils.Database, event: events.OutboxEvent | None, episode_id: int, shot_ids: set[int]
) -> bool:
    """Whether an outbox event is about this episode (its shots, its cut, or one of its jobs)."""
    match event:
        case events.EpisodeCut(episode_id=about) | events.DeliveryReady(episode_id=about):
            return about == episode_id
        case events.ShotReady(shot_id=shot) | events.ClipApproved(shot_id=shot):
            return shot in shot_ids
        case events.JobFailed(job_id=job_id):
            return jobs.get_job(db, job_id).episode_id == episode_id
    return False
