"""Projects and their settings."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, NotFound
from storage.models import Project

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


def project_for_review_channel(db: sqlite_utils.Database, channel_id: int) -> list[Project]:
    return [
        Project.from_row(row)
        for row in db.table("projects").rows_where("review_channel_id = ?", [channel_id])
    ]


def update_settings(
    db: sqlite_utils.Database,
    project_id: int,
    *,
    quorum: int | None = None,
    director_role_id: int | None = None,
    style: str | None = None,
) -> Project:
    changes: dict[str, object] = {}
    if quorum is not None:
        if not 1 <= quorum <= 50:
            raise InvalidInput(f"Quorum must be between 1 and 50, not {quorum}.")
        changes["quorum"] = quorum
    if director_role_id is not None:
        changes["director_role_id"] = director_role_id
    if style is not None:
        changes["style"] = style[:500]
    if changes:
        db.table("projects").update(project_id, changes)
    return get_project(db, project_id)
