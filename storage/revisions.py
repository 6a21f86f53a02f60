"""Old versions of edited plan rows (shots, scenes, characters, episodes, season map
entries), kept on record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Self

import sqlite_utils

from storage.db import utc_now

Subject = Literal["shot", "scene", "character", "episode", "season_episode", "canon_fact"]


@dataclass(frozen=True)
class Revision:
    id: int
    subject: str
    subject_id: int
    revision: int
    data: dict[str, Any]
    author_id: int | None
    reason: str
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = {key: row[key] for key in cls.__dataclass_fields__}
        values["data"] = json.loads(row["data"] or "{}")
        return cls(**values)


def record_revision(
    db: sqlite_utils.Database,
    subject: Subject,
    subject_id: int,
    revision: int,
    data: dict[str, Any],
    *,
    author_id: int | None = None,
    reason: str = "",
) -> None:
    """Store the old row before it changes; call inside the edit's own transaction."""
    db.table("revisions").insert(
        {
            "subject": subject,
            "subject_id": subject_id,
            "revision": revision,
            "data": json.dumps(data, ensure_ascii=False, default=str),
            "author_id": author_id,
            "reason": reason[:300],
            "created_at": utc_now(),
        }
    )


def next_revision(db: sqlite_utils.Database, subject: Subject, subject_id: int) -> int:
    """For rows without a revision column (scenes): one more than the last on record."""
    row = db.execute(
        "SELECT COALESCE(MAX(revision), 0) FROM revisions WHERE subject = ? AND subject_id = ?",
        [subject, subject_id],
    ).fetchone()
    return int(row[0]) + 1


def history(db: sqlite_utils.Database, subject: Subject, subject_id: int) -> list[Revision]:
    """The old versions of one row, oldest first."""
    return [
        Revision.from_row(row)
        for row in db.table("revisions").rows_where(
            "subject = ? AND subject_id = ?", [subject, subject_id], order_by="revision"
        )
    ]
