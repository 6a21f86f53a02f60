"""Retakes with notes: a reply to a draft post becomes a revised prompt and a retake job."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import discord

from agents.tools import ToolContext
from bot.formatting import clip, split_message
from bot.permissions import is_director
from pipeline.render_queue import queue_shot_retake
from storage import jobs, plan, projects, takes
from storage.errors import ShowrunnerError
from storage.models import Shot, Take

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
MAX_NOTE_CHARS = 500
IN_FLIGHT = {"queued", "rendering"}
# one note at a time per shot: two quick replies must not both queue a retake
_shot_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)


def fallback_prompt(shot: Shot, note: str) -> str:
    """The note appended in code, when the model cannot revise the prompt."""
    base = shot.prompt or shot.description
    return f"{base}, {note}"[:1000]


async def take_note(
    bot: ShowrunnerBot, message: discord.Message, post_id: int, post_takes: list[Take]
) -> None:
    """Store the note on the post's takes, revise the shot's prompt, queue the retake, reply."""
    note = " ".join(message.content.split())[:MAX_NOTE_CHARS]
    if not note:
        return
    async with _shot_locks[post_takes[0].shot_id]:
        await _take_note(bot, message, post_id, post_takes, note)


def _why_not_retake(shot: Shot, episode_status: str, director: bool) -> str:
    """Why this note cannot send the shot back for a retake now ('' if it can)."""
    if shot.status in IN_FLIGHT:
        return f"Shot {shot.number} is already queued or rendering."
    if shot.status == "planned":
        return f"Shot {shot.number} has no draft in review; /render shoots it."
    if shot.status == "approved" and episode_status == "cutting":
        return f"Shot {shot.number} is approved and the episode is being cut."
    if shot.status == "approved" and not director:
        return f"Shot {shot.number} is already approved; a director's note re-opens it."
    return ""


async def _take_note(
    bot: ShowrunnerBot, message: discord.Message, post_id: int, post_takes: list[Take], note: str
) -> None:
    db = bot.runtime.db
    shot = plan.get_shot(db, post_takes[0].shot_id)
    episode = plan.get_episode(db, shot.episode_id)
    project = projects.get_project(db, episode.project_id)
    takes.set_note(db, post_id, note)
    director = is_director(message.author, project)
    reason = _why_not_retake(shot, episode.status, director)
    if reason:
        await message.reply(f"📝 Note stored. {reason}", mention_author=False)
        return
    if shot.status != "retake":
        takes.request_retake(db, shot.id)
    shot = plan.get_shot(db, shot.id)
    context = ToolContext(
        db=db,
        project_id=project.id,
        user_id=message.author.id,
        is_director=director,
    )
    fallback = ""
    try:
        revised = await bot.runtime.director.revise_for_note(context, shot, note)
    except ShowrunnerError as error:
        log.info("retake note for shot %s: model failed: %s", shot.id, error)
        revised, fallback = None, "The model is not answering, so I added your note to the prompt."
    if revised is None:
        fallback = fallback or "The model did not revise the prompt, so I added your note to it."
        revised = plan.edit_shot(
            db,
            shot.id,
            author_id=message.author.id,
            reason="retake note (appended in code)",
            prompt=fallback_prompt(shot, note),
        )
    try:
        render, job = queue_shot_retake(
            db,
            shot.id,
            bot.runtime.engine,
            requester=message.author.id,
            channel_id=message.channel.id,
            max_queued_per_user=bot.runtime.settings.showrunner_max_queued_per_user,
        )
    except ShowrunnerError as error:
        await message.reply(f"⚠️ Note stored, but no retake was queued: {error}")
        return
    bot.runtime.scheduler.wake()
    position = jobs.queue_positions(db).get(job.id)
    lines = [
        f"🔁 Retake of shot {shot.number} queued"
        + (f" (position {position} in the queue)." if position else "."),
        f"New prompt: {clip(revised.prompt, 1200)}",
    ]
    if fallback:
        lines.append(fallback)
    for part in split_message("\n".join(lines)):
        await message.reply(part, mention_author=False)
    # one status message per render request, edited by the status board as the retake renders
    status = await message.channel.send(f"⏳ Retake of shot {shot.number}: queued")
    jobs.set_render_message(db, render.id, status.id)
