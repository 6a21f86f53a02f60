"""`showrunner produce`: premise -> season map -> per episode: plan -> renders -> first takes
approved -> cut, no Discord.

Stopped part way (Ctrl-C, SIGTERM), what is stored stays: `showrunner produce --resume`
finishes the newest unfinished headless episode from where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import sqlite_utils
from langchain_core.language_models import BaseChatModel

from agents.tools import ToolContext
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from pipeline import workflow
from pipeline.pictures.season_sheet import draw_season_sheet, load_season_sheet
from pipeline.render.scheduler import run_until_idle
from pipeline.sound.music_jobs import MUSIC
from pipeline.sound.score import why_no_score
from pipeline.sound.speech_jobs import SPEECH
from storage import canon, episodes, events, jobs, lines, plan, projects, seasons, takes
from storage.errors import ShowrunnerError
from storage.models import Episode, Job, Season, Shot
from storage.music import episode_music
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
    episode_count: int = 1,
    minutes: float = 1.0,
    say: Callable[[str], None] = print,
    chat_model: BaseChatModel | None = None,
) -> list[Path]:
    """A season of `episode_count` episodes of about `minutes` each from the premise: the season
    map, then each episode written, rendered and cut in turn; the MP4s' paths. The same command
    run again continues that season where it stopped."""
    if not premise.strip():
        raise ShowrunnerError('Give a premise, e.g. showrunner produce "A mortal defies a god".')
    seasons.check_season_shape(premise, episode_count, minutes)  # before anything starts
    silent = "" if settings.showrunner_music_model else why_no_score()
    if silent:
        say(f"The episodes will be silent unless the project has a music bed: no score, {silent}.")
    async with open_runtime(settings, chat_model=chat_model) as runtime:
        db = runtime.db
        project = _headless_project(db, settings)
        context = ToolContext(db, project.id, user_id=None, is_director=True)
        season = seasons.unfinished_season(db, project.id, premise, episode_count, minutes * 60)
        if season is not None:
            say(f"Continuing season {season.number} where it stopped…")
        else:
            say("Writing the plan of the season…")
            season = await runtime.director.write_season(context, premise, episode_count, minutes)
        say(seasons.season_summary(db, season.id))
        return await _make_season(runtime, context, season, say)


async def _make_season(
    runtime: Runtime, context: ToolContext, season: Season, say: Callable[[str], None]
) -> list[Path]:
    """Each episode on the map in turn: written if it has no plan, then rendered and cut
    unless an earlier run delivered it."""
    db = runtime.db
    paths = []
    for entry in seasons.season_map(db, season.id):
        if entry.episode_id is None:
            say(f"Writing episode {entry.number} of {season.episode_count}…")
            episode = await runtime.director.write_next_episode(context, season)
            assert episode is not None  # this entry had no plan
            say(plan.plan_summary(db, episode.id, limit=4000))
        else:
            episode = episodes.get_episode(db, entry.episode_id)
        if episode.status == EpisodeStatus.DELIVERED and episode.cut_path:
            paths.append(Path(episode.cut_path).resolve())  # made by an earlier run
            continue
        paths.append(await _finish(runtime, episode, say))
        # approved: what it established holds in the episodes after it
        try:
            facts = await runtime.director.extend_canon(context, season, episode)
        except ShowrunnerError as error:  # the episode is made; its canon can wait
            say(f"No canon facts from episode {entry.number}: {error}")
            continue
        if facts:
            say(f"Canon from episode {entry.number}: {canon.listed(facts)}")
    sheet_name = f"project{context.project_id}_season{season.number}.png"
    sheet = runtime.settings.media_dir / "episodes" / sheet_name
    await asyncio.to_thread(draw_season_sheet, *load_season_sheet(db, season.id), sheet)
    say(f"Season contact sheet: {sheet.resolve()}")
    return paths


async def resume(
    settings: Settings,
    *,
    say: Callable[[str], None] = print,
    chat_model: BaseChatModel | None = None,
) -> list[Path]:
    """Finish what the last headless run left: the rest of its season, or its episode."""
    async with open_runtime(settings, chat_model=chat_model) as runtime:
        db = runtime.db
        project = _headless_project(db, settings)
        context = ToolContext(db, project.id, user_id=None, is_director=True)
        season = seasons.current_season(db, project.id)
        entry = seasons.first_unfinished(db, season.id) if season is not None else None
        if season is not None and entry is not None:
            say(f"Resuming episode {entry.number} of season {season.number}…")
            return await _make_season(runtime, context, season, say)
        episode = episodes.current_episode(db, project.id)
        if episode is None or episode.status == EpisodeStatus.DELIVERED:
            raise ShowrunnerError(
                'No unfinished episode to resume: start one with showrunner produce "<premise>".'
            )
        say(f"Resuming episode {episode.number}…")
        return [await _finish(runtime, episode, say)]


async def _finish(runtime: Runtime, episode: Episode, say: Callable[[str], None]) -> Path:
    """Render what is not rendered, approve each shot's first take, cut, mark delivered."""
    db = runtime.db
    shots = plan.list_shots(db, episode.id)
    last_line: dict[str, str] = {}

    def show_progress(job: Job) -> None:
        shot = next((s for s in shots if s.id == job.shot_id), None)
        label = f"shot {shot.number}/{len(shots)}" if shot else "cut"
        label += " line" if job.kind == SPEECH else ""
        if job.kind == MUSIC:
            label = f"score ({job.payload.get('mood', '')})"
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
    say(_lines_spoken(db, shots))
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
    say(_score_made(db, episode.id))
    workflow.delivered(db, episode.id)
    shot_ids = {shot.id for shot in shots}
    for event in events.pending_events(db):
        if _about(db, events.decode(event), episode.id, shot_ids):
            events.mark_delivered(db, event.id)  # headless: the terminal was the delivery
    cut_path = episodes.get_episode(db, episode.id).cut_path
    assert cut_path
    return Path(cut_path).resolve()


def _score_made(db: sqlite_utils.Database, episode_id: int) -> str:
    """Who made the score: the music model (its pieces, by mood), or the composer in code."""
    pieces = episode_music(db, episode_id)
    if not pieces:
        silent = why_no_score()
        return f"Score: none, {silent}." if silent else "Score: composed in code (fluidsynth)."
    models = ", ".join(sorted({piece.model for piece in pieces.values()}))
    moods = ", ".join(sorted(pieces))
    return f"Score: the {moods} music made by {models}; any other mood composed in code."


def _lines_spoken(db: sqlite_utils.Database, shots: list[Shot]) -> str:
    """How many lines were spoken, by which engines, and which were not (and why)."""
    read = [(shot, lines.current_line(db, shot)) for shot in shots if shot.dialogue.strip()]
    spoken = [line for _, line in read if line is not None and line.spoken]
    engines = ", ".join(sorted({line.engine for line in spoken})) or "none"
    text = f"Lines spoken: {len(spoken)} of {len(read)} (engines: {engines})."
    for shot, line in read:
        if line is None or not line.spoken:
            why = line.error if line is not None else "no speech job ran"
            text += f"\n  shot {shot.number}'s line is silent, subtitled only: {why[:200]}"
    return text


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
