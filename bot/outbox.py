"""Drains the events outbox: each event is posted once, then marked delivered."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from storage import events

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
MAX_POST_ATTEMPTS = 5


async def drain_outbox(bot: ShowrunnerBot) -> None:
    review = bot.get_cog("ReviewCog")
    delivery = bot.get_cog("DeliveryCog")
    handlers = {
        "shot_ready": lambda payload: review.post_draft(payload["shot_id"]),  # type: ignore[union-attr]
        "episode_cut": lambda payload: delivery.deliver(payload["episode_id"]),  # type: ignore[union-attr]
        "job_failed": lambda payload: delivery.report_failure(payload["job_id"]),  # type: ignore[union-attr]
    }
    while True:
        for event in events.pending_events(bot.runtime.db):
            handler = handlers.get(event.kind)
            try:
                if handler is not None:
                    await handler(event.payload)
            except discord.HTTPException as error:
                log.warning(
                    "could not post event %s (%s): %s; will retry", event.id, event.kind, error
                )
                continue
            except Exception:
                log.exception("event %s (%s) could not be handled; skipped", event.id, event.kind)
            events.mark_delivered(bot.runtime.db, event.id)
        await asyncio.sleep(1.0)
