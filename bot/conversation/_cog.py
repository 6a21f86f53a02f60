"""The writers' room: messages in a project's channel go to the director agent; a turn that
changed the plan ends with the plan gate (summary, storyboard, "Go ahead" button)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from agents.director import MAX_INPUT_CHARS
from agents.tools import ToolContext
from bot import plan_gate
from bot.conversation.attachments import read_text_attachments
from bot.formatting import split_message
from bot.permissions import is_director
from storage import episodes, projects, takes
from storage.errors import ShowrunnerError

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)


class ConversationCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        db = self.bot.runtime.db
        project = projects.project_for_channel(db, message.channel.id)
        if project is None:
            return
        reference = message.reference.message_id if message.reference else None
        if reference and takes.takes_for_message(db, reference):
            return  # a reply to a draft is a retake note: the review cog's
        files_text, skipped = await read_text_attachments(message)
        text = "\n\n".join(part for part in (message.content.strip(), files_text) if part)
        if not text:
            if message.attachments:
                await message.reply(
                    "I can only read text: write a message, or upload a .txt file.",
                    mention_author=False,
                )
            return
        notes = [f"(Skipped: {', '.join(skipped)}.)"] if skipped else []
        if len(text) > MAX_INPUT_CHARS:
            notes.append(f"(That was long: I read the first {MAX_INPUT_CHARS} characters.)")
        context = ToolContext(
            db=db,
            project_id=project.id,
            user_id=message.author.id,
            is_director=is_director(message.author, project),
        )
        director = self.bot.runtime.director
        changed, episode_id = False, None
        async with self._locks[project.id]:
            try:
                turn = await director.turn(context, text, author_name=message.author.display_name)
                answer, changed, episode_id = turn.answer, turn.changed, turn.episode_id
            except ShowrunnerError as error:
                answer = f"⚠️ {error}"
                changed = bool(getattr(error, "changes_saved", False))
            except Exception:
                log.exception("agent turn failed in project %s", project.id)
                answer = "⚠️ Something went wrong on my side; it has been logged."
        for part in split_message("\n".join([answer, *notes])):
            await message.channel.send(part)
        if episode_id is None:
            current = episodes.current_episode(db, project.id)
            episode_id = current.id if current else None
        if changed and episode_id is not None:
            await plan_gate.post_for_go_ahead(message.channel, db, episode_id)
