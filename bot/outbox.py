"""Drains the events outbox: each event goes to the handler registered for its kind (by the
cog that posts it), then is marked delivered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import discord
import sqlite_utils

from storage import events

log = logging.getLogger(__name__)
MAX_POST_ATTEMPTS = 5
RETRYABLE = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)
E = TypeVar("E", bound=events.OutboxEvent)
Handler = Callable[[Any], Awaitable[None]]


class Outbox:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._handlers: dict[type, Handler] = {}
        self._failures: dict[int, int] = {}

    def on(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """`handler` posts every event of this kind (one handler per kind)."""
        self._handlers[kind] = handler

    async def run(self) -> None:
        while True:
            await self.drain()
            await asyncio.sleep(1.0)

    async def drain(self) -> None:
        """Hand each pending event to its handler once; a Discord hiccup is retried on the
        next pass, up to MAX_POST_ATTEMPTS."""
        for stored in events.pending_events(self.db):
            event = events.decode(stored)
            handler = self._handlers.get(type(event))
            try:
                if event is not None and handler is not None:
                    await handler(event)
            except (discord.Forbidden, discord.NotFound) as error:
                log.warning("cannot post event %s (%s): %s", stored.id, stored.kind, error)
            except RETRYABLE as error:
                self._failures[stored.id] = self._failures.get(stored.id, 0) + 1
                log.warning("could not post event %s (%s): %s", stored.id, stored.kind, error)
                if self._failures[stored.id] < MAX_POST_ATTEMPTS:
                    continue  # Discord may be briefly unreachable: try again on the next pass
            except Exception:
                log.exception("event %s (%s) could not be handled; skipped", stored.id, stored.kind)
            events.mark_delivered(self.db, stored.id)
