"""Retakes with notes: a reply to a draft post becomes a revised prompt and a retake job
(pipeline.workflow.retake_with_note decides; this says what happened in Discord)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from agents.tools import ToolContext
from bot.formatting import clip, split_message
from bot.permissions import is_director
from pipeline import workflow
from storage import episodes, plan, projects
from storage.errors import ShowrunnerError
from storage.models import Shot, Take

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def take_note(
    bot: ShowrunnerBot, message: discord.Message, post_id: int, post_takes: list[Take]
) -> None:
    """Store the note on the post's takes, revise the shot's prompt, queue the retake, reply."""
    note = workflow.clean_note(message.content)
    if not note:
        return
    db = bot.runtime.db
    episode = episodes.get_episode(db, plan.get_shot(db, post_takes[0].shot_id).episode_id)
    project = projects.get_project(db, episode.project_id)
    director = is_director(message.author, project)
    context = ToolContext(db, project.id, user_id=message.author.id, is_director=director)

    async def revise(shot: Shot, text: str) -> Shot | None:
        return await bot.runtime.director.revise_for_note(context, shot, text)

    try:
        outcome = await workflow.retake_with_note(
            db,
            post_id,
            note,
            director=director,
            requester=message.author.id,
            channel_id=message.channel.id,
            choice=bot.runtime.engine,
            revise=revise,
            max_queued_per_user=bot.runtime.settings.showrunner_max_queued_per_user,
        )
    except ShowrunnerError as error:
        await message.reply(f"⚠️ Note stored, but no retake was queued: {error}")
        return
    if isinstance(outcome, workflow.NoteKept):
        await message.reply(f"📝 Note stored. {outcome.reason}", mention_author=False)
        return
    if isinstance(outcome, workflow.ReadingQueued):
        bot.runtime.scheduler.wake()
        await message.reply(
            f"🎙️ Shot {outcome.shot_number}'s line will be read again ({outcome.reading}); "
            "the picture stays. The new reading is posted here.",
            mention_author=False,
        )
        return
    bot.runtime.scheduler.wake()
    number = outcome.shot.number
    lines = [
        f"🔁 Retake of shot {number} queued"
        + (f" (position {outcome.position} in the queue)." if outcome.position else "."),
        f"New prompt: {clip(outcome.shot.prompt, 1200)}",
    ]
    if outcome.fallback:
        lines.append(outcome.fallback)
    for part in split_message("\n".join(lines)):
        await message.reply(part, mention_author=False)
    # one status message per render request, edited by the status board as the retake renders
    await bot.status_board.post(
        message.channel, outcome.render.id, f"⏳ Retake of shot {number}: queued"
    )
