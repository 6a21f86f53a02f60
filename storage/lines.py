"""Spoken lines: every reading of a shot's dialogue stays on record; the shot's current line
is its newest reading of the dialogue it has now (an edited line needs speaking again)."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.models import Line, Shot, Voice


def add_line(
    db: sqlite_utils.Database,
    *,
    shot_id: int,
    text: str,
    speaker: str,
    voice: Voice,
    job_id: str = "",
    reading: str = "",
    media_path: str = "",
    seconds: float = 0.0,
    engine: str = "",
    error: str = "",
) -> Line:
    """A reading of a shot's line: spoken (a WAV of `seconds`) or failed (`error`)."""
    row = {
        "shot_id": shot_id,
        "job_id": job_id,
        "text": text,
        "speaker": speaker,
        "voice": voice.to_json(),
        "reading": reading,
        "media_path": media_path,
        "seconds": round(float(seconds), 3),
        "engine": engine,
        "error": error[:500],
        "created_at": utc_now(),
    }
    line_id = db.table("lines").insert(row).last_pk
    return Line.from_row({**row, "id": line_id})


def current_line(db: sqlite_utils.Database, shot: Shot) -> Line | None:
    """The newest reading of the shot's present dialogue (spoken or failed); None when it has
    not been read yet."""
    rows = db.table("lines").rows_where(
        "shot_id = ? AND text = ?", [shot.id, shot.dialogue.strip()], order_by="id DESC", limit=1
    )
    return next((Line.from_row(row) for row in rows), None)


def get_line(db: sqlite_utils.Database, line_id: int) -> Line:
    return Line.from_row(db.table("lines").get(line_id))
