"""One status message per render request, edited in place at most once every 2 seconds."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.formatting import MESSAGE_LIMIT
from storage import episodes, jobs, plan
from storage.models import Job
from storage.status import JobStatus

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
EDIT_INTERVAL = 2.0
ICONS = {"queued": "⏳", "running": "🎥", "done": "✅", "failed": "❌", "cancelled": "🚫"}


class StatusBoard:
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot
        self.started_at = datetime.now(UTC).isoformat()
        self._shown: dict[int, str] = {}

    async def post(self, channel: discord.abc.Messageable, render_id: int, text: str = "") -> None:
        """Post a render's status message in `channel` (`text` at first, or the board's own),
        and keep its id: the board edits it from then on. A message Discord refuses is only
        logged: the render goes on without one."""
        try:
            message = await channel.send(text or self.text_for(render_id))
        except discord.HTTPException as error:
            log.warning("no status message for render %s: %s", render_id, error)
            return
        jobs.set_render_message(self.bot.runtime.db, render_id, message.id)

    def text_for(self, render_id: int) -> str:
        db = self.bot.runtime.db
        render = jobs.get_render(db, render_id)
        episode = episodes.get_episode(db, render.episode_id)
        render_jobs = jobs.jobs_for_render(db, render_id)
        done = sum(job.status == JobStatus.DONE for job in render_jobs)
        lines = [
            f"**Render {render_id}** · episode {episode.number} · {done}/{len(render_jobs)} shots"
        ]
        positions = jobs.queue_positions(db)
        for job in render_jobs[:25]:
            lines.append(self._job_line(job, positions.get(job.id, 0)))
        if len(render_jobs) > 25:
            lines.append(f"… and {len(render_jobs) - 25} more")
        return "\n".join(lines)[:MESSAGE_LIMIT]

    def _job_line(self, job: Job, queue_position: int) -> str:
        db = self.bot.runtime.db
        shot = plan.get_shot(db, job.shot_id) if job.shot_id else None
        label = f"Shot {shot.number}" if shot else job.kind
        detail = ""
        if job.status == JobStatus.QUEUED:
            detail = f"queue position {queue_position}"
        elif job.status == JobStatus.RUNNING:
            detail = f"{job.stage or 'starting'} {job.progress:.0%}"
        elif job.status == JobStatus.FAILED:
            detail = (job.error or "")[:120]
        return f"{ICONS.get(job.status, '•')} {label}: {job.status} {detail}".rstrip()

    def _active_renders(self) -> list[int]:
        return jobs.renders_with_status_messages(self.bot.runtime.db, active_since=self.started_at)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(EDIT_INTERVAL)
            for render_id in self._active_renders():
                try:
                    await self._refresh(render_id)
                except Exception as error:  # one bad render must not stop the board
                    log.warning("could not edit status of render %s: %s", render_id, error)

    async def _refresh(self, render_id: int) -> None:
        text = self.text_for(render_id)
        if self._shown.get(render_id) == text:
            return
        render = jobs.get_render(self.bot.runtime.db, render_id)
        if render.channel_id is None or render.status_message_id is None:
            return
        channel = self.bot.get_partial_messageable(render.channel_id)
        await channel.get_partial_message(render.status_message_id).edit(content=text)
        self._shown[render_id] = text
