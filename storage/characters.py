"""Characters of a project: who they are and look like, their seed, and the reference image
their renders are steered by (IP-Adapter)."""

from __future__ import annotations

import zlib

import sqlite_utils

from storage import voices
from storage.episodes import bump_plan_revision, current_episode
from storage.errors import InvalidInput, NotFound
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


def character_seed(project_id: int, name: str) -> int:
    """A stable seed per character, so a look stays the same across shots."""
    return zlib.crc32(f"{project_id}:{name.lower()}".encode()) & 0x7FFFFFFF


def upsert_character(
    db: sqlite_utils.Database,
    project_id: int,
    name: str,
    description: str = "",
    look: str = "",
    *,
    arc: str = "",
    author_id: int | None = None,
    reason: str = "",
    bump_plan: bool = True,
) -> Character:
    """Add a character, or change one's description, look or arc (old version on record,
    revision up)."""
    name = " ".join(name.split())[:80]
    if not name:
        raise InvalidInput("A character needs a name.")
    existing = list(
        db.table("characters").rows_where("project_id = ? AND name = ?", [project_id, name])
    )
    if existing:
        old = existing[0]
        values = {
            "description": description[:1000] or old["description"],
            "look": look[:500] or old["look"],
            "arc": arc[:500] or old["arc"],
        }
        character_id = old["id"]
        if any(values[key] != old[key] for key in values):
            with db.atomic():
                record_revision(
                    db,
                    "character",
                    old["id"],
                    old["revision"],
                    old,
                    author_id=author_id,
                    reason=reason,
                )
                db.table("characters").update(
                    old["id"], {**values, "revision": old["revision"] + 1}
                )
                if bump_plan:
                    episode = current_episode(db, project_id)
                    if episode is not None:
                        bump_plan_revision(db, episode.id)
    else:
        with db.atomic():  # cast with a voice, or not at all
            character_id = (
                db.table("characters")
                .insert(
                    {
                        "project_id": project_id,
                        "name": name,
                        "description": description[:1000],
                        "look": look[:500],
                        "arc": arc[:500],
                        "seed": character_seed(project_id, name),
                    }
                )
                .last_pk
            )
            voices.cast_voice(db, character_id)  # bound at casting, distinct within the cast
        episode = current_episode(db, project_id) if bump_plan else None
        if episode is not None:
            bump_plan_revision(db, episode.id)
    row = db.table("characters").get(character_id)
    return Character.from_row(row)


def list_characters(db: sqlite_utils.Database, project_id: int) -> list[Character]:
    return [
        Character.from_row(row)
        for row in db.table("characters").rows_where("project_id = ?", [project_id], order_by="id")
    ]
