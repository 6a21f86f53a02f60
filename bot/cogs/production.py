"""Production commands: /project new|settings|status and /render."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.formatting import clip
from bot.permissions import require_director
from pipeline.render_queue import queue_episode_render
from storage import jobs, plan, projects
from storage.errors import InvalidInput, NotFound
from storage.models import Project

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)


def project_here(bot: ShowrunnerBot, channel_id: int | None) -> Project:
    project = projects.project_for_channel(bot.runtime.db, channel_id or 0)
    if project is None:
        raise NotFound("This channel has no project yet: start one with /project new.")
    return project


class ProductionCog(commands.Cog):
    project = app_commands.Group(
        name="project", description="Create and configure a project", guild_only=True
    )

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @project.command(name="new", description="Make this channel a project's writers' room")
    @app_commands.describe(
        title="The series title",
        review="Channel for draft takes and votes (default: this one)",
        delivery="Channel for finished episodes (default: this one)",
    )
    async def project_new(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 100],
        review: discord.TextChannel | None = None,
        delivery: discord.TextChannel | None = None,
    ) -> None:
        created = projects.create_project(
            self.bot.runtime.db,
            title,
            guild_id=interaction.guild_id,
            writers_channel_id=interaction.channel_id,
            review_channel_id=review.id if review else None,
            delivery_channel_id=delivery.id if delivery else None,
            created_by=interaction.user.id,
            width=self.bot.runtime.settings.showrunner_width,
            height=self.bot.runtime.settings.showrunner_height,
            fps=self.bot.runtime.settings.showrunner_fps,
        )
        await interaction.response.send_message(
            f"🎬 **{created.title}** is set up. This channel is the writers' room: tell me the "
            f"premise and I'll draft a plan. Drafts go to <#{created.review_channel_id}>, "
            f"finished episodes to <#{created.delivery_channel_id}>."
        )

    @project.command(name="settings", description="Change the project's settings (directors)")
    @app_commands.describe(
        quorum="Net 👍 votes that approve a take", director_role="The project's director role"
    )
    async def project_settings(
        self,
        interaction: discord.Interaction,
        quorum: app_commands.Range[int, 1, 50] | None = None,
        director_role: discord.Role | None = None,
    ) -> None:
        current = project_here(self.bot, interaction.channel_id)
        require_director(interaction.user, current)
        updated = projects.update_settings(
            self.bot.runtime.db,
            current.id,
            quorum=quorum,
            director_role_id=director_role.id if director_role else None,
        )
        role = f"<@&{updated.director_role_id}>" if updated.director_role_id else "not set"
        await interaction.response.send_message(
            f"Settings of **{updated.title}**: quorum {updated.quorum}, director role {role}."
        )

    @project.command(name="status", description="The current episode's plan and progress")
    async def project_status(self, interaction: discord.Interaction) -> None:
        current = project_here(self.bot, interaction.channel_id)
        episode = plan.current_episode(self.bot.runtime.db, current.id)
        if episode is None:
            text = f"**{current.title}** has no episode yet. Tell me the premise."
        else:
            text = plan.plan_summary(self.bot.runtime.db, episode.id, limit=1900)
        await interaction.response.send_message(clip(text, 2000))

    @app_commands.command(name="render", description="Render the current episode's shots")
    @app_commands.guild_only()
    async def render(self, interaction: discord.Interaction) -> None:
        runtime = self.bot.runtime
        current = project_here(self.bot, interaction.channel_id)
        episode = plan.current_episode(runtime.db, current.id)
        if episode is None:
            raise InvalidInput("There is no plan to render yet: describe the episode first.")
        render, queued = queue_episode_render(
            runtime.db,
            episode.id,
            runtime.engine,
            requester=interaction.user.id,
            channel_id=interaction.channel_id,
            max_queued_per_user=runtime.settings.showrunner_max_queued_per_user,
        )
        await interaction.response.send_message(
            f"Queued {len(queued)} shot(s) of episode {episode.number}."
        )
        runtime.scheduler.wake()
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            try:
                status = await channel.send(self.bot.status_board.text_for(render.id))
            except discord.HTTPException as error:
                log.warning("no status message for render %s: %s", render.id, error)
                return
            jobs.set_render_message(runtime.db, render.id, status.id)


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ProductionCog(bot))
