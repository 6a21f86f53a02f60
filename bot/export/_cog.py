"""/export: an episode's timeline, EDL, subtitles, poster (and takes, when they fit) as a zip."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.export.notes import export_note, export_project
from bot.upload_limits import MIB, UPLOAD_MARGIN
from pipeline.delivery.export import plan_export, write_export
from storage import episodes, projects
from storage.errors import InvalidInput, InvalidState

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class ExportCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @app_commands.command(name="export", description="An episode for your editor, as one zip")
    @app_commands.describe(episode="The episode's number (default: the current episode)")
    @app_commands.guild_only()
    async def export(
        self, interaction: discord.Interaction, episode: app_commands.Range[int, 1] | None = None
    ) -> None:
        db = self.bot.runtime.db
        project = export_project(self.bot, interaction.channel_id)
        if episode is None:
            chosen = episodes.current_episode(db, project.id)
            if chosen is None:
                raise InvalidInput("There is no episode to export yet.")
        else:
            chosen = projects.episode_by_number(db, project.id, episode)
        export = plan_export(db, chosen.id)  # refuses shots without an approved take
        await interaction.response.defer(thinking=True)
        limit = interaction.filesize_limit
        with tempfile.TemporaryDirectory(prefix="showrunner-export-") as folder:
            result = await asyncio.to_thread(
                write_export, export, Path(folder), limit - UPLOAD_MARGIN
            )
            if result.size > limit - UPLOAD_MARGIN:
                raise InvalidState(
                    f"The export is {result.size / MIB:.1f} MiB even without the takes, over "
                    f"this server's {limit / MIB:.1f} MiB upload limit."
                )
            await interaction.followup.send(
                f"📦 Episode {chosen.number}: {len(export.shots)} shots, "
                f"{result.size / MIB:.1f} MiB. {export_note(result, limit)}",
                file=discord.File(result.path, filename=result.path.name),
            )
