"""The Discord bot: a discord.py Bot with one cog per feature and three background loops."""

from __future__ import annotations

import asyncio
import logging

import discord
import yarl
from discord.ext import commands
from langchain_core.language_models import BaseChatModel

from bot import plan_gate
from bot.errors import on_app_command_error
from bot.outbox import Outbox
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.status_board import StatusBoard
from storage.errors import ShowrunnerError

log = logging.getLogger(__name__)
# one extension per feature, each with its setup(); they never import each other
EXTENSIONS = (
    "bot.production",
    "bot.queue",
    "bot.conversation",
    "bot.review",
    "bot.delivery",
    "bot.export",
    "bot.characters",
    "bot.season",
)


def point_at_discord(settings: Settings) -> None:
    """Use Discord's own API, or a self-hosted Discord-compatible server, per settings."""
    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class ShowrunnerBot(commands.Bot):
    def __init__(self, runtime: Runtime, *, guild_ready_timeout: float = 2.0) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            help_command=None,
        )
        self.runtime = runtime
        self.status_board = StatusBoard(self)
        self.outbox = Outbox(runtime.db)  # the cogs register their event handlers on it
        self._loops: list[asyncio.Task[None]] = []

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # the plan gate's buttons, on posts made before this start too
        self.add_dynamic_items(*plan_gate.BUTTONS)
        self.tree.on_error = on_app_command_error
        await self.tree.sync()
        self._loops = [
            asyncio.create_task(self.runtime.scheduler.run(), name="scheduler"),
            asyncio.create_task(self.outbox.run(), name="outbox"),
            asyncio.create_task(self.status_board.run(), name="status"),
        ]

    async def on_ready(self) -> None:
        log.info("connected as %s", self.user)

    async def close(self) -> None:
        self.runtime.scheduler.stop()
        for task in self._loops:
            task.cancel()
        if self._loops:
            await asyncio.wait(self._loops, timeout=10)
        await super().close()


async def run_bot(settings: Settings, *, chat_model: BaseChatModel | None = None) -> None:
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        raise ShowrunnerError("DISCORD_TOKEN is not set (see .env.example).")
    point_at_discord(settings)
    async with open_runtime(settings, chat_model=chat_model) as runtime:
        bot = ShowrunnerBot(runtime)
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
