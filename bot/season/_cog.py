"""/season new|next|status: a thin layer over agents.season_writer and storage.seasons."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from agents.tools import ToolContext
from bot import plan_gate
from bot.channel_projects import project_here
from bot.formatting import MESSAGE_LIMIT, clip, neutralise_mentions
from bot.permissions import is_director, require_director
from pipeline.pictures.season_sheet import draw_season_sheet, load_season_sheet
from storage import canon, episodes, plan, projects, seasons
from storage.errors import InvalidInput, ShowrunnerError
from storage.models import Project

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


log = logging.getLogger(__name__)


class SeasonCog(commands.Cog):
    season = app_commands.Group(
        name="season", description="Plan a season of episodes", guild_only=True
    )

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    def _context(self, interaction: discord.Interaction, project: Project) -> ToolContext:
        return ToolContext(
            self.bot.runtime.db,
            project.id,
            user_id=interaction.user.id,
            is_director=is_director(interaction.user, project),
        )

    @season.command(name="new", description="Write a season map and its first episode (directors)")
    @app_commands.describe(
        premise="The story in a sentence or two",
        episodes="How many episodes, 1-20",
        minutes="Each episode's length in minutes, 0.5-3",
    )
    async def season_new(
        self,
        interaction: discord.Interaction,
        premise: app_commands.Range[str, 1, 4000],
        episodes: app_commands.Range[int, 1, seasons.MAX_EPISODES] = 5,
        minutes: app_commands.Range[float, 0.5, 3.0] = 3.0,
    ) -> None:
        project = project_here(self.bot.runtime.db, interaction.channel_id)
        require_director(interaction.user, project)
        seasons.check_season_shape(premise, episodes, minutes)
        await interaction.response.defer(thinking=True)  # the model takes longer than 3 s
        context = self._context(interaction, project)
        season = await self.bot.runtime.director.write_season(context, premise, episodes, minutes)
        summary = seasons.season_summary(self.bot.runtime.db, season.id)
        await interaction.followup.send(neutralise_mentions(clip(summary, MESSAGE_LIMIT)))
        await self._write_next(interaction, context, season.id)

    @season.command(name="next", description="Write the next episode on the season map")
    async def season_next(self, interaction: discord.Interaction) -> None:
        project = project_here(self.bot.runtime.db, interaction.channel_id)
        require_director(interaction.user, project)
        season = seasons.current_season(self.bot.runtime.db, project.id)
        if season is None:
            raise InvalidInput("There is no season yet: start one with /season new.")
        await interaction.response.defer(thinking=True)
        await self._write_next(interaction, self._context(interaction, project), season.id)

    async def _write_next(
        self, interaction: discord.Interaction, context: ToolContext, season_id: int
    ) -> None:
        db = self.bot.runtime.db
        season = seasons.get_season(db, season_id)
        entry = seasons.next_unwritten(db, season.id)
        if entry is None:
            await interaction.followup.send("Every episode of this season has its plan.")
            return
        episode = await self.bot.runtime.director.write_next_episode(context, season)
        assert episode is not None  # this entry had no plan
        shots = plan.list_shots(db, episode.id)
        await interaction.followup.send(
            neutralise_mentions(
                clip(
                    f"Episode {entry.number} of {season.episode_count} is written: "
                    f"{episode.title}, {len(shots)} shots.",
                    MESSAGE_LIMIT,
                )
            )
        )
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            await plan_gate.post_for_go_ahead(channel, db, episode.id)

    @commands.Cog.listener()
    async def on_episode_delivered(self, episode_id: int) -> None:
        """A season episode is approved and delivered: what it established joins the season's
        canon, and the writers' room is told (the next episodes' steps and prompts hold it)."""
        db = self.bot.runtime.db
        entry = seasons.entry_for_episode(db, episode_id)
        if entry is None:
            return
        episode = episodes.get_episode(db, episode_id)
        project = projects.get_project(db, episode.project_id)
        context = ToolContext(db, project.id, user_id=None, is_director=True)
        season = seasons.get_season(db, entry.season_id)
        try:
            facts = await self.bot.runtime.director.extend_canon(context, season, episode)
        except ShowrunnerError as error:  # the episode is out; its canon can wait
            log.warning("no canon from episode %s: %s", episode_id, error)
            return
        if facts and project.writers_channel_id is not None:
            text = f"📜 Canon after episode {episode.number}: {canon.listed(facts)}"
            channel = self.bot.get_partial_messageable(
                project.writers_channel_id, guild_id=project.guild_id
            )
            await channel.send(neutralise_mentions(clip(text, MESSAGE_LIMIT)))

    @season.command(name="status", description="The season map and its contact sheet")
    async def season_status(self, interaction: discord.Interaction) -> None:
        db = self.bot.runtime.db
        project = project_here(db, interaction.channel_id)
        season = seasons.current_season(db, project.id)
        if season is None:
            raise InvalidInput("There is no season yet: start one with /season new.")
        text = neutralise_mentions(clip(seasons.season_summary(db, season.id), MESSAGE_LIMIT))
        await interaction.response.defer(thinking=True)  # the sheet reads every episode's takes
        title, rows = load_season_sheet(db, season.id)
        with tempfile.TemporaryDirectory(prefix="showrunner-season-") as folder:
            path = Path(folder) / f"season{season.number}.png"
            await asyncio.to_thread(draw_season_sheet, title, rows, path)
            await interaction.followup.send(text, file=discord.File(path, filename=path.name))
