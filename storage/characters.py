"""Character references: the image a character's renders are steered by (IP-Adapter)."""

from __future__ import annotations

import sqlite_utils

from storage.errors import NotFound
from storage.models import Character
from storage.revisions import record_revision


def get_character(db: sqlite_utils.Database, project_id: int, name: str) -> Character:
    """The project's character called name (any case, spaces squeezed)."""
    wanted = " ".join(name.split())
    rows = list(
        db.table("characters").rows_where(
            "project_id = ? AND name = ? COLLATE NOCASE", [project_id, wanted]
        )
    )
    if not rows:
        raise NotFound(f"No character called “{wanted[:80]}” in this project's cast.")
    return Character.from_row(rows[0])


def get_character_by_id(db: sqlite_utils.Database, character_id: int) -> Character:
    rows = list(db.table("characters").rows_where("id = ?", [character_id]))
    if not rows:
        raise NotFound(f"Character {character_id} does not exist.")
    return Character.from_row(rows[0])


def set_reference(
    db: sqlite_utils.Database,
    character_id: int,
    path: str,
    *,
    author_id: int | None = None,
    reason: str = "reference image",
) -> Character:
    """Point the character at its reference image; the old row goes on record, revision up."""
    get_character_by_id(db, character_id)  # a clear NotFound first
    old = db.table("characters").get(character_id)
    with db.atomic():
        record_revision(
            db, "character", character_id, old["revision"], old, author_id=author_id, reason=reason
        )
        db.table("characters").update(
            character_id, {"reference_path": path, "revision": old["revision"] + 1}
        )
    return get_character_by_id(db, character_id)
