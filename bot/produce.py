"""`showrunner produce`: premise -> plan -> renders -> first takes approved -> cut, no Discord."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agents.tools import ToolContext
from bot.runtime import open_runtime
from bot.settings import Settings
from pipeline.render_queue import queue_episode_cut, queue_episode_render
from pipeline.scheduler import run_until_idle
from storage import events, jobs, plan, projects, takes
from storage.errors import ShowrunnerError
from storage.models import Job

HEADLESS_TITLE = "Headless productions"


def _headless_project(runtime_db, settings: Settings):
    for row in runtime_db.table("projects").rows_where(
        "guild_id IS NULL AND title = ?", [HEADLESS_TITLE], limit=1
    ):
        return projects.Project.from_row(row)
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

        shots = plan.list_shots(db, episode.id)
        last_line: dict[str, str] = {}

        def show_progress(job: Job) -> None:
            shot = next((s for s in shots if s.id == job.shot_id), None)
            label = f"shot {shot.number}/{len(shots)}" if shot else "cut"
            if job.status == "running":
                line = f"  {label}: {job.stage or 'starting'} {job.progress:.0%}"
            elif job.status == "failed":
                line = f"  {label}: failed ({job.error})"
            else:
                line = f"  {label}: {job.status}"
            if last_line.get(job.id) != line:
                last_line[job.id] = line
                say(line)

        runtime.scheduler.listener = show_progress
        say(f"Rendering {len(shots)} shots with the {runtime.engine.engine} engine…")
        _, queued = queue_episode_render(db, episode.id, runtime.engine)
        await run_until_idle(runtime.scheduler)
        failed = [jobs.get_job(db, job.id) for job in queued]
        failed = [job for job in failed if job.status != "done"]
        if failed:
            raise ShowrunnerError(f"{len(failed)} shot(s) failed to render: {failed[0].error}")

        for shot in plan.list_shots(db, episode.id):
            first = takes.takes_for_shot(db, shot.id)[0]
            takes.approve_take(db, first.id)
        say("Cutting the episode…")
        cut = queue_episode_cut(db, episode.id)
        await run_until_idle(runtime.scheduler)
        if cut is not None and jobs.get_job(db, cut.id).status != "done":
            raise ShowrunnerError(f"The cut failed: {jobs.get_job(db, cut.id).error}")
        episode = plan.get_episode(db, episode.id)
        plan.set_episode_status(db, episode.id, "delivered")
        shot_ids = {shot.id for shot in shots}
        for event in events.pending_events(db):
            payload = event.payload
            if payload.get("episode_id") == episode.id or payload.get("shot_id") in shot_ids:
                events.mark_delivered(db, event.id)  # headless: the terminal was the delivery
        assert episode.cut_path
        return Path(episode.cut_path).resolve()
