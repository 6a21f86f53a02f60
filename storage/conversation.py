"""The conversation the agent sees: one row per message, user or assistant."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.models import Message

MAX_STORED_CHARS = 20_000


def add_message(
    db: sqlite_utils.Database,
    project_id: int,
    role: str,
    content: str,
    *,
    channel_id: int | None = None,
    author_id: int | None = None,
    author_name: str = "",
) -> Message:
    message_id = (
        db.table("messages")
        .insert(
            {
                "project_id": project_id,
                "channel_id": channel_id,
                "author_id": author_id,
                "author_name": author_name[:100],
                "role": role,
                "content": content[:MAX_STORED_CHARS],
                "created_at": utc_now(),
            }
        )
        .last_pk
    )
    return Message.from_row(db.table("messages").get(message_id))


def recent_messages(db: sqlite_utils.Database, project_id: int, limit: int = 20) -> list[Message]:
    rows = db.table("messages").rows_where(
        "project_id = ?", [project_id], order_by="id DESC", limit=limit
    )
    return [Message.from_row(row) for row in reversed(list(rows))]
