"""Projects and their settings."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, NotFound
from storage.models import Episode, Project

MAX_TITLE = 100


def create_project(
    db: sqlite_utils.Database,
    title: str,
    *,
    guild_id: int | None = None,
    writers_channel_id: int | None = None,
    review_channel_id: int | None = None,
    delivery_channel_id: int | None = None,
    created_by: int | None = None,
    width: int = 720,
    height: int = 1280,
    fps: int = 24,
) -> Project:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput("A project needs a title.")
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"A project title can be at most {MAX_TITLE} characters.")
    if writers_channel_id is not None and project_for_channel(db, writers_channel_id):
        raise InvalidInput("This channel already is a project's writers' room.")
    row_id = (
        db.table("projects")
        .insert(
            {
                "guild_id": guild_id,
                "writers_channel_id": writers_channel_id,
                "review_channel_id": review_channel_id or writers_channel_id,
                "delivery_channel_id": delivery_channel_id or writers_channel_id,
                "title": title,
                "width": width,
                "height": height,
                "fps": fps,
                "created_by": created_by,
                "created_at": utc_now(),
            }
        )
        .last_pk
    )
    return get_project(db, int(row_id))


def get_project(db: sqlite_utils.Database, project_id: int) -> Project:
    rows = list(db.table("projects").rows_where("id = ?", [project_id]))
    if not rows:
        raise NotFound(f"Project {project_id} does not exist.")
    return Project.from_row(rows[0])


def project_for_channel(db: sqlite_utils.Database, channel_id: int) -> Project | None:
    """The project whose writers' room is this channel, if any."""
    rows = list(db.table("projects").rows_where("writers_channel_id = ?", [channel_id]))
    return Project.from_row(rows[0]) if rows else None


def headless_project(db: sqlite_utils.Database, title: str) -> Project | None:
    """The first project with that title and no Discord server (made by `produce`)."""
    rows = db.table("projects").rows_where("guild_id IS NULL AND title = ?", [title], limit=1)
    return next((Project.from_row(row) for row in rows), None)


def project_for_review_channel(db: sqlite_utils.Database, channel_id: int) -> list[Project]:
    return [
        Project.from_row(row)
        for row in db.table("projects").rows_where("review_channel_id = ?", [channel_id])
    ]


REVIEW_MODES = ("clips", "keyframes")
MAX_CARD_SECONDS = 10.0
MAX_CREDITS = 300


def update_settings(
    db: sqlite_utils.Database,
    project_id: int,
    *,
    quorum: int | None = None,
    director_role_id: int | None = None,
    style: str | None = None,
    review_mode: str | None = None,
    title_card_seconds: float | None = None,
    end_card_seconds: float | None = None,
    credits: str | None = None,
    music_volume: float | None = None,
) -> Project:
    """Change the given settings (None leaves one as it is); every value is checked first, so a
    bad one changes nothing."""
    changes: dict[str, object] = {}
    if quorum is not None:
        if not 1 <= quorum <= 50:
            raise InvalidInput(f"Quorum must be between 1 and 50, not {quorum}.")
        changes["quorum"] = quorum
    if director_role_id is not None:
        changes["director_role_id"] = director_role_id
    if style is not None:
        changes["style"] = style[:500]
    if review_mode is not None:
        if review_mode not in REVIEW_MODES:
            raise InvalidInput(
                f"Review mode must be one of {', '.join(REVIEW_MODES)}, not {review_mode!r}."
            )
        changes["review_mode"] = review_mode
    for name, seconds in (
        ("title_card_seconds", title_card_seconds),
        ("end_card_seconds", end_card_seconds),
    ):
        if seconds is not None:
            if not 0 <= seconds <= MAX_CARD_SECONDS:  # also refuses NaN
                what = name.removesuffix("_seconds").replace("_", " ").capitalize()
                raise InvalidInput(
                    f"{what} must last 0 to {MAX_CARD_SECONDS:g} seconds, not {seconds:g}."
                )
            changes[name] = round(float(seconds), 2)
    if credits is not None:
        credits = credits.strip()
        if len(credits) > MAX_CREDITS:
            raise InvalidInput(
                f"Credits can be at most {MAX_CREDITS} characters, not {len(credits)}."
            )
        changes["credits"] = credits
    if music_volume is not None:
        if not 0 <= music_volume <= 1:
            raise InvalidInput(f"Music volume must be between 0 and 1, not {music_volume:g}.")
        changes["music_volume"] = round(float(music_volume), 2)
    if changes:
        db.table("projects").update(project_id, changes)
    return get_project(db, project_id)


def set_music(db: sqlite_utils.Database, project_id: int, path: str) -> Project:
    """Point the project at its music bed file ('' = no music); the file is checked by the
    caller (pipeline.cut.uploads)."""
    get_project(db, project_id)
    db.table("projects").update(project_id, {"music_path": path})
    return get_project(db, project_id)


def project_for_delivery_channel(db: sqlite_utils.Database, channel_id: int) -> Project | None:
    """The project delivering to this channel, when exactly one does."""
    rows = list(db.table("projects").rows_where("delivery_channel_id = ?", [channel_id], limit=2))
    return Project.from_row(rows[0]) if len(rows) == 1 else None


def episode_by_number(db: sqlite_utils.Database, project_id: int, number: int) -> Episode:
    rows = list(
        db.table("episodes").rows_where("project_id = ? AND number = ?", [project_id, number])
    )
    if not rows:
        raise NotFound(f"This project has no episode {number}.")
    return Episode.from_row(rows[0])
