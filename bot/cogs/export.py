"""/export: an episode's timeline, EDL, subtitles, poster (and takes, when they fit) as a zip."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.formatting import clip
from bot.upload_limits import MIB, UPLOAD_MARGIN
from pipeline.delivery.export import ExportResult, plan_export, write_export
from storage import episodes, projects
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Project

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


def export_project(bot: ShowrunnerBot, channel_id: int | None) -> Project:
    """The project of a writers' room, or of the delivery channel one project posts to."""
    db = bot.runtime.db
    project = projects.project_for_channel(db, channel_id or 0)
    project = project or projects.project_for_delivery_channel(db, channel_id or 0)
    if project is None:
        raise NotFound("This channel has no project: use /export in its writers' room.")
    return project


def export_note(result: ExportResult, limit: int) -> str:
    """What the zip holds, and where the takes are when they did not fit."""
    held = "timeline (OpenTimelineIO)"
    held += ", EDL" if result.edl_included else ""
    held += ", subtitles, poster"
    if result.media_included:
        return f"The zip holds the {held} and the {len(result.media_paths)} approved takes."
    folders = sorted({str(path.parent) for path in result.media_paths})
    where = ", ".join(f"`{clip(folder, 300)}`" for folder in folders[:3])
    more = f" and {len(folders) - 3} more folders" if len(folders) > 3 else ""
    return clip(
        f"The zip holds the {held}. The takes would not fit this server's "
        f"{limit / MIB:.1f} MiB upload limit: they are on the render machine in {where}{more}, "
        "and the timeline points at them there.",
        1500,
    )


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


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ExportCog(bot))
