"""The outbox: things the bot must post exactly once (drafts, deliveries, notices)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from storage.db import utc_now
from storage.models import Event


def emit(db: sqlite_utils.Database, kind: str, **payload: Any) -> Event:
    event_id = (
        db.table("events")
        .insert({"kind": kind, "payload": json.dumps(payload), "created_at": utc_now()})
        .last_pk
    )
    return Event.from_row(db.table("events").get(event_id))


def pending_events(db: sqlite_utils.Database) -> list[Event]:
    return [
        Event.from_row(row)
        for row in db.table("events").rows_where("delivered_at IS NULL", order_by="id")
    ]


def mark_delivered(db: sqlite_utils.Database, event_id: int) -> None:
    db.table("events").update(event_id, {"delivered_at": utc_now()})
