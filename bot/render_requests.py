"""A member's request to render an episode (/render, or a "Render anyway" button): queued
through the workflow, answered, and followed by a status message the status board edits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from pipeline import workflow
from storage import episodes

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def queue_render(
    bot: ShowrunnerBot, interaction: discord.Interaction, episode_id: int, *, update: bool = False
) -> None:
    """Queue the episode's shots for this member and say so (editing the message with the
    button when `update`); a ShowrunnerError says why nothing was queued."""
    runtime = bot.runtime
    episode = episodes.get_episode(runtime.db, episode_id)
    render, queued = workflow.render_episode(
        runtime.db,
        episode.id,
        runtime.engine,
        requester=interaction.user.id,
        channel_id=interaction.channel_id,
        max_queued_per_user=runtime.settings.showrunner_max_queued_per_user,
    )
    text = f"Queued {len(queued)} shot(s) of episode {episode.number}."
    if update:
        await interaction.response.edit_message(content=text, view=None)
    else:
        await interaction.response.send_message(text)
    runtime.scheduler.wake()
    channel = interaction.channel
    if isinstance(channel, discord.abc.Messageable):
        await bot.status_board.post(channel, render.id)
