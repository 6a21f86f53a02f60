"""The queue as lines of text, and which jobs a cancel stops."""

from __future__ import annotations

import discord
import sqlite_utils

from bot.formatting import MESSAGE_LIMIT
from bot.permissions import is_director, require_director
from pipeline.delivery.jobs import DELIVER
from pipeline.sound.music_jobs import MUSIC
from pipeline.sound.speech_jobs import SPEECH
from storage import episodes, jobs, plan
from storage.errors import InvalidInput, NotAllowed
from storage.models import Episode, Job, Project
from storage.status import JobStatus

FOOTER_ROOM = 40  # room kept for "… and N more"


def job_target(db: sqlite_utils.Database, job: Job) -> str:
    """'episode 1, shot 3' (or 'episode 1, shot 3's line', 'episode 1, cut', 'episode 1,
    delivery copy')."""
    episode = episodes.get_episode(db, job.episode_id)
    if job.kind == SPEECH and job.shot_id is None:
        return f"a voice for {job.payload.get('speaker', 'a character')}'s audition"
    if job.shot_id is not None:
        target = f"shot {plan.get_shot(db, job.shot_id).number}"
        target += "'s line" if job.kind == SPEECH else ""
    elif job.kind == MUSIC:
        target = f"score ({job.payload.get('mood', '')})"
    else:
        target = "delivery copy" if job.kind == DELIVER else "cut"
    return f"episode {episode.number}, {target}"


def job_line(db: sqlite_utils.Database, job: Job, position: int) -> str:
    """One job: position, short id, episode and shot, status, who asked (a mention, no ping)."""
    if job.status == JobStatus.RUNNING:
        place, state = "▶️ now", f"{job.stage or 'starting'} {job.progress:.0%}"
    else:
        place, state = f"#{position}", "queued"
    who = f"<@{job.requester}>" if job.requester else "—"
    return f"{place} · `{job.id[:8]}` · {job_target(db, job)} · {state} · {who}"


def fit_lines(lines: list[str], limit: int = MESSAGE_LIMIT) -> str:
    """Join lines; when they do not fit, keep the first ones and end with '… and N more'."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = FOOTER_ROOM
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, f"… and {len(lines) - len(kept)} more"])


def queue_text(db: sqlite_utils.Database, project: Project) -> str:
    """The project's running and queued jobs in order, within one message."""
    active = jobs.active_jobs_for_project(db, project.id)
    if not active:
        return "The queue is empty."
    positions = jobs.queue_positions(db)
    running = sum(job.status == JobStatus.RUNNING for job in active)
    header = f"**Queue of {project.title}** · {running} running, {len(active) - running} queued"
    return fit_lines([header, *(job_line(db, job, positions.get(job.id, 0)) for job in active)])


def job_to_cancel(
    db: sqlite_utils.Database, project: Project, member: discord.Member | discord.User, prefix: str
) -> Job:
    """The job the prefix names, if this member may cancel it (its requester or a director)."""
    job = jobs.find_project_job(db, project.id, prefix)
    if job.requester != member.id and not is_director(member, project):
        raise NotAllowed("Only the member who queued this job or a director can cancel it.")
    return job


def episode_jobs_to_cancel(
    db: sqlite_utils.Database, project: Project, member: discord.Member | discord.User
) -> tuple[Episode, list[Job]]:
    """The current episode's queued and running renders and lines to speak; cancelling them all
    needs a director."""
    require_director(member, project)
    episode = episodes.current_episode(db, project.id)
    if episode is None:
        raise InvalidInput("This project has no episode yet, so nothing to cancel.")
    active = [
        job
        for kind in ("render", SPEECH, MUSIC)
        for job in jobs.active_jobs_for_episode(db, episode.id, kind)
    ]
    if not active:
        raise InvalidInput(f"Episode {episode.number} has no queued or running renders.")
    return episode, active


def jobs_phrase(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"
