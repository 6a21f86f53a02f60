"""The render queue: /queue shows a project's jobs, /cancel stops one job or an episode's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.channel_projects import project_of_channel
from bot.queue.lines import (
    episode_jobs_to_cancel,
    job_target,
    job_to_cancel,
    jobs_phrase,
    queue_text,
)

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class QueueCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue", description="The project's queued and running jobs")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        db = self.bot.runtime.db
        project = project_of_channel(db, interaction.channel_id)
        await interaction.response.send_message(queue_text(db, project))

    @app_commands.command(name="cancel", description="Cancel a job, or the episode's renders")
    @app_commands.describe(job="A job id from /queue (default: every render of the episode)")
    @app_commands.guild_only()
    async def cancel(
        self, interaction: discord.Interaction, job: app_commands.Range[str, 1, 32] | None = None
    ) -> None:
        runtime = self.bot.runtime
        project = project_of_channel(runtime.db, interaction.channel_id)
        if job:
            target = job_to_cancel(runtime.db, project, interaction.user, job)
            runtime.scheduler.cancel(target.id)
            text = f"Cancelled job `{target.id[:8]}` ({job_target(runtime.db, target)})."
        else:
            episode, targets = episode_jobs_to_cancel(runtime.db, project, interaction.user)
            for target in targets:
                runtime.scheduler.cancel(target.id)
            text = f"Cancelled {jobs_phrase(len(targets))} of episode {episode.number}."
        await interaction.response.send_message(text)
