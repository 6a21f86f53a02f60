"""Finished episodes to the delivery channel, and failures to the team."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.delivery.post import POSTER_NAME, approval_lines, delivery_embed, master_note
from bot.formatting import clip
from bot.upload_limits import UPLOAD_MARGIN, upload_limit
from pipeline import workflow
from pipeline.delivery.jobs import DELIVER, DeliveryPayload
from pipeline.sound.music_jobs import MUSIC
from pipeline.sound.speech_jobs import SPEECH
from storage import episodes, events, jobs, plan, projects
from storage.models import Episode

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)


class DeliveryCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.outbox.on(events.EpisodeCut, lambda event: self.queue_copy(event.episode_id))
        self.bot.outbox.on(events.DeliveryReady, self.deliver)
        self.bot.outbox.on(events.JobFailed, lambda event: self.report_failure(event.job_id))

    async def queue_copy(self, episode_id: int) -> None:
        """A cut is ready: a job makes its copy for this server's upload limit (the scheduler
        runs it; DeliveryReady comes back)."""
        # the guild's upload limit needs the guild cache (start-up backlog)
        await self.bot.wait_until_ready()
        db = self.bot.runtime.db
        episode = episodes.get_episode(db, episode_id)
        project = projects.get_project(db, episode.project_id)
        if not episode.cut_path or project.delivery_channel_id is None:
            return
        limit = upload_limit(self.bot, project)
        poster = Path(episode.cut_path).with_suffix(".png")
        # the whole upload must fit: the poster goes along only when it costs the video little
        poster_size = poster.stat().st_size if poster.is_file() else None
        if poster_size is not None and poster_size > limit // 10:
            poster_size = None
        budget = limit - UPLOAD_MARGIN - (poster_size or 0)
        payload = DeliveryPayload(limit, budget, poster=poster_size is not None)
        if workflow.queue_delivery(db, episode_id, payload) is not None:
            self.bot.runtime.scheduler.wake()

    async def deliver(self, ready: events.DeliveryReady) -> None:
        """Post the episode with its card, the copy that fits, its poster and a thread."""
        await self.bot.wait_until_ready()  # the thread needs the guild cache
        db = self.bot.runtime.db
        episode = episodes.get_episode(db, ready.episode_id)
        project = projects.get_project(db, episode.project_id)
        if not episode.cut_path or project.delivery_channel_id is None:
            return
        shots = plan.list_shots(db, episode.id)
        bot_id = self.bot.user.id if self.bot.user else None
        embed = delivery_embed(project, episode, shots, approval_lines(db, shots, bot_id))
        payload = DeliveryPayload.of(jobs.get_job(db, ready.job_id))
        master = Path(episode.cut_path).resolve()
        sent = Path(ready.copy_path) if ready.copy_path else None
        if sent is not None and not sent.is_file():
            sent, problem = None, f"the copy {sent.name} is gone"
        else:
            problem = ready.problem
        note = master_note(master, sent, payload.limit_bytes, problem)
        if note:
            embed.add_field(name="Master", value=note, inline=False)

        files = []
        if sent is not None:
            files.append(discord.File(sent, filename=f"episode{episode.number}.mp4"))
        poster = master.with_suffix(".png")
        if payload.poster and poster.is_file():
            files.append(discord.File(poster, filename=POSTER_NAME))
            embed.set_image(url=f"attachment://{POSTER_NAME}")
        channel = self.bot.get_partial_messageable(
            project.delivery_channel_id, guild_id=project.guild_id
        )
        message = await channel.send(
            f"📺 Episode {episode.number} is ready.", embed=embed, files=files
        )
        await self.open_feedback_thread(message, episode)
        workflow.delivered(db, episode.id)
        self.bot.dispatch("episode_delivered", episode.id)  # for the features that follow it

    async def open_feedback_thread(self, message: discord.Message, episode: Episode) -> None:
        """A thread on the delivery post for notes; without the permission, no thread."""
        if message.guild is None:
            return  # the guild is not cached: discord.py cannot open a thread
        name = clip(f"Feedback — Episode {episode.number}: {episode.title}", 100)
        try:
            await message.create_thread(name=name)
        except discord.HTTPException as error:
            log.warning("no feedback thread on message %s: %s", message.id, error)

    async def report_failure(self, job_id: str) -> None:
        db = self.bot.runtime.db
        job = jobs.get_job(db, job_id)
        channel_id = None
        if job.render_id is not None:
            channel_id = jobs.get_render(db, job.render_id).channel_id
        if channel_id is None:
            episode = episodes.get_episode(db, job.episode_id)
            channel_id = projects.get_project(db, episode.project_id).writers_channel_id
        if channel_id is None:
            return
        if job.shot_id is not None:
            what = f"Shot {plan.get_shot(db, job.shot_id).number}"
            what += "'s line" if job.kind == SPEECH else ""
        else:
            kinds = {DELIVER: "The delivery copy", SPEECH: "A voice in the audition"}
            what = kinds.get(job.kind, "The cut")
            if job.kind == MUSIC:
                what = f"The score's {job.payload.get('mood', '')} music (composed instead)"
        reason = clip(job.error or "unknown error", 300)
        await self.bot.get_partial_messageable(channel_id).send(f"❌ {what} failed: {reason}")
