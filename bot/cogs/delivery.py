"""Finished episodes to the delivery channel, and failures to the team."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.formatting import clip
from storage import jobs, plan, projects

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


class DeliveryCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    async def deliver(self, episode_id: int) -> None:
        db = self.bot.runtime.db
        episode = plan.get_episode(db, episode_id)
        project = projects.get_project(db, episode.project_id)
        if not episode.cut_path or project.delivery_channel_id is None:
            return
        shots = plan.list_shots(db, episode_id)
        seconds = sum(shot.duration for shot in shots)
        header = (
            f"📺 **{clip(project.title, 100)} — Episode {episode.number}: "
            f"{clip(episode.title, 100)}** ({seconds:g} s, {len(shots)} shots)"
        )
        path = Path(episode.cut_path)
        guild = self.bot.get_guild(project.guild_id or 0)
        limit = guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT
        channel = self.bot.get_partial_messageable(project.delivery_channel_id)
        if path.stat().st_size > limit:
            await channel.send(
                f"{header}\nThe cut is {path.stat().st_size / 2**20:.1f} MiB, over this server's "
                f"upload limit of {limit / 2**20:.0f} MiB; it is kept on the studio machine."
            )
        else:
            await channel.send(
                header, file=discord.File(path, filename=f"episode{episode.number}.mp4")
            )
        if episode.status == "cutting":
            plan.set_episode_status(db, episode_id, "delivered")

    async def report_failure(self, job_id: str) -> None:
        db = self.bot.runtime.db
        job = jobs.get_job(db, job_id)
        channel_id = None
        if job.render_id is not None:
            channel_id = jobs.get_render(db, job.render_id).channel_id
        if channel_id is None:
            episode = plan.get_episode(db, job.episode_id)
            channel_id = projects.get_project(db, episode.project_id).writers_channel_id
        if channel_id is None:
            return
        what = f"Shot {plan.get_shot(db, job.shot_id).number}" if job.shot_id else "The cut"
        reason = clip(job.error or "unknown error", 300)
        await self.bot.get_partial_messageable(channel_id).send(f"❌ {what} failed: {reason}")


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(DeliveryCog(bot))
