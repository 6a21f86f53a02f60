"""An episode's score made by a model: a piece per mood, every attempt on record."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.models import Music


def add_music(
    db: sqlite_utils.Database,
    *,
    episode_id: int,
    mood: str,
    model: str,
    job_id: str = "",
    media_path: str = "",
    seconds: float = 0.0,
    error: str = "",
) -> Music:
    """A piece for the episode's scenes in `mood`: made (a WAV of `seconds`) or failed."""
    row = {
        "episode_id": episode_id,
        "mood": mood,
        "model": model,
        "job_id": job_id,
        "media_path": media_path,
        "seconds": round(float(seconds), 3),
        "error": error[:500],
        "created_at": utc_now(),
    }
    music_id = db.table("music").insert(row).last_pk
    return Music.from_row({**row, "id": music_id})


def episode_music(
    db: sqlite_utils.Database, episode_id: int, model: str | None = None
) -> dict[str, Music]:
    """The newest piece made for each mood of the episode (by `model`, if one is named);
    failures left out."""
    where = "episode_id = ? AND error = '' AND media_path != ''"
    values: list[object] = [episode_id]
    if model is not None:
        where += " AND model = ?"
        values.append(model)
    rows = db.table("music").rows_where(where, values, order_by="id")
    return {piece.mood: piece for piece in map(Music.from_row, rows)}
