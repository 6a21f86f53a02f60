"""Drains the events outbox: each event is posted once, then marked delivered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from storage import events

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
MAX_POST_ATTEMPTS = 5
RETRYABLE = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)


async def drain_outbox(bot: ShowrunnerBot) -> None:
    review: Any = bot.get_cog("ReviewCog")
    delivery: Any = bot.get_cog("DeliveryCog")
    handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
        "shot_ready": lambda payload: review.post_draft(payload["shot_id"]),
        "clip_approved": lambda payload: review.post_clip(payload["shot_id"], payload["take_id"]),
        "episode_cut": lambda payload: delivery.deliver(payload["episode_id"]),
        "job_failed": lambda payload: delivery.report_failure(payload["job_id"]),
    }
    failures: dict[int, int] = {}
    while True:
        for event in events.pending_events(bot.runtime.db):
            handler = handlers.get(event.kind)
            try:
                if handler is not None:
                    await handler(event.payload)
            except (discord.Forbidden, discord.NotFound) as error:
                log.warning("cannot post event %s (%s): %s", event.id, event.kind, error)
            except RETRYABLE as error:
                failures[event.id] = failures.get(event.id, 0) + 1
                log.warning("could not post event %s (%s): %s", event.id, event.kind, error)
                if failures[event.id] < MAX_POST_ATTEMPTS:
                    continue  # Discord may be briefly unreachable: try again on the next pass
            except Exception:
                log.exception("event %s (%s) could not be handled; skipped", event.id, event.kind)
            events.mark_delivered(bot.runtime.db, event.id)
        await asyncio.sleep(1.0)
