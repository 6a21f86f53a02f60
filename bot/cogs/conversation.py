"""The writers' room: messages in a project's channel go to the director agent."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from agents.tools import ToolContext
from bot.formatting import split_message
from bot.permissions import is_director
from storage import projects
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
        project = projects.project_for_channel(self.bot.runtime.db, message.channel.id)
        if project is None:
            return
        text = message.content.strip()
        if not text:
            if message.attachments:
                await message.reply("I can only read text messages for now.")
            return
        context = ToolContext(
            db=self.bot.runtime.db,
            project_id=project.id,
            user_id=message.author.id,
            is_director=is_director(message.author, project),
        )
        async with self._locks[project.id]:
            try:
                answer = await self.bot.runtime.director.reply(
                    context, text, author_name=message.author.display_name
                )
            except ShowrunnerError as error:
                answer = f"⚠️ {error}"
            except Exception:
                log.exception("agent turn failed in project %s", project.id)
                answer = "⚠️ Something went wrong on my side; it has been logged."
        for part in split_message(answer):
            await message.channel.send(part)


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ConversationCog(bot))
