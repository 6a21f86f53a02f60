"""Auditions: three candidate voices read one of a character's lines; the team's pick (by the
project's quorum, as for takes) becomes the character's voice."""

from __future__ import annotations

import json
from dataclasses import asdict

import sqlite_utils

from storage.db import utc_now
from storage.models import Audition, Voice

CANDIDATES = 3


def create_audition(
    db: sqlite_utils.Database, character_id: int, channel_id: int, line: str, voices: list[Voice]
) -> Audition:
    row = {
        "character_id": character_id,
        "channel_id": channel_id,
        "line": line,
        "candidates": json.dumps([{"voice": asdict(v), "media_path": ""} for v in voices]),
        "created_at": utc_now(),
    }
    return get_audition(db, db.table("auditions").insert(row).last_pk)


def get_audition(db: sqlite_utils.Database, audition_id: int) -> Audition:
    return Audition.from_row(db.table("auditions").get(audition_id))


def reading_spoken(
    db: sqlite_utils.Database, audition_id: int, candidate: int, media_path: str
) -> Audition:
    """A candidate's reading is in; the audition, with every reading so far."""
    candidates = json.loads(db.table("auditions").get(audition_id)["candidates"])
    candidates[candidate]["media_path"] = media_path
    db.table("auditions").update(audition_id, {"candidates": json.dumps(candidates)})
    return get_audition(db, audition_id)


def set_audition_post(db: sqlite_utils.Database, audition_id: int, message_id: int) -> None:
    db.table("auditions").update(audition_id, {"message_id": message_id})


def audition_for_message(db: sqlite_utils.Database, message_id: int) -> Audition | None:
    rows = db.table("auditions").rows_where("message_id = ?", [message_id], limit=1)
    return next((Audition.from_row(row) for row in rows), None)


def vote(db: sqlite_utils.Database, audition_id: int, user_id: int, choice: int, on: bool) -> None:
    """A member's reaction for candidate `choice` (0-based), added or taken back."""
    if on:
        row = {"audition_id": audition_id, "user_id": user_id, "choice": choice}
        db.table("audition_votes").insert(row | {"created_at": utc_now()}, ignore=True)
    else:
        db.execute(
            "DELETE FROM audition_votes WHERE audition_id = ? AND user_id = ? AND choice = ?",
            [audition_id, user_id, choice],
        )


def decide(db: sqlite_utils.Database, audition_id: int, quorum: int) -> int | None:
    """The candidate the team picked, once one has `quorum` votes (the first to get there);
    None while none has. An audition is decided once."""
    audition = get_audition(db, audition_id)
    if audition.chosen is not None:
        return None
    counts = db.execute(
        "SELECT choice, COUNT(*) FROM audition_votes WHERE audition_id = ? GROUP BY choice "
        "ORDER BY COUNT(*) DESC, choice",
        [audition_id],
    ).fetchall()
    if not counts or counts[0][1] < quorum:
        return None
    db.table("auditions").update(audition_id, {"chosen": counts[0][0]})
    return int(counts[0][0])
