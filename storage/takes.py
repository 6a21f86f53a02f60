"""Takes, votes, and the approval policy."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidState, NotFound
from storage.models import Take
from storage.plan import get_shot, set_shot_status
from storage.status import TAKE_TRANSITIONS, ShotStatus, TakeStatus, check_transition

THUMBS_UP = "👍"
THUMBS_DOWN = "👎"
RETAKE = "🔁"
VOTE_EMOJIS = (THUMBS_UP, THUMBS_DOWN, RETAKE)


def add_take(
    db: sqlite_utils.Database,
    *,
    shot_id: int,
    job_id: str,
    seed: int,
    engine: str,
    model: str,
    media_path: str,
    preview_path: str = "",
    parameters: dict[str, Any] | None = None,
    kind: str = "clip",
    source_take_id: int | None = None,
) -> Take:
    """Record a finished take (idempotent per job and seed: a retried job never doubles it).

    kind is 'keyframe' (a still for keyframe-first review) or 'clip'; a clip rendered from an
    approved keyframe names that take as its source_take_id.
    """
    existing = list(db.table("takes").rows_where("job_id = ? AND seed = ?", [job_id, seed]))
    if existing:
        return Take.from_row(existing[0])
    take_id = (
        db.table("takes")
        .insert(
            {
                "shot_id": shot_id,
                "job_id": job_id,
                "seed": seed,
                "engine": engine,
                "model": model,
                "parameters": json.dumps(parameters or {}),
                "media_path": media_path,
                "preview_path": preview_path,
                "status": TakeStatus.REVIEW,
                "created_at": utc_now(),
                "kind": kind,
                "source_take_id": source_take_id,
            }
        )
        .last_pk
    )
    return get_take(db, int(take_id))


def get_take(db: sqlite_utils.Database, take_id: int) -> Take:
    rows = list(db.table("takes").rows_where("id = ?", [take_id]))
    if not rows:
        raise NotFound(f"Take {take_id} does not exist.")
    return Take.from_row(rows[0])


def takes_for_shot(db: sqlite_utils.Database, shot_id: int) -> list[Take]:
    return [
        Take.from_row(row)
        for row in db.table("takes").rows_where("shot_id = ?", [shot_id], order_by="id")
    ]


def takes_for_message(db: sqlite_utils.Database, message_id: int) -> list[Take]:
    return [
        Take.from_row(row)
        for row in db.table("takes").rows_where("message_id = ?", [message_id], order_by="id")
    ]


def takes_in_review_with_posts(db: sqlite_utils.Database) -> list[Take]:
    """Takes posted to Discord and still waiting for votes (re-read at start-up)."""
    return [
        Take.from_row(row)
        for row in db.table("takes").rows_where(
            "status = 'review' AND message_id IS NOT NULL", order_by="id"
        )
    ]


def set_take_post(
    db: sqlite_utils.Database, take_id: int, channel_id: int, message_id: int
) -> None:
    db.table("takes").update(take_id, {"channel_id": channel_id, "message_id": message_id})


def add_vote(db: sqlite_utils.Database, take_id: int, user_id: int, emoji: str) -> bool:
    """Store a vote; False when this user already cast this emoji on this take."""
    if emoji not in VOTE_EMOJIS:
        return False
    get_take(db, take_id)
    try:
        with db.atomic():
            db.execute(
                "INSERT INTO votes (take_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)",
                [take_id, user_id, emoji, utc_now()],
            )
    except sqlite3.IntegrityError:
        return False
    return True


def remove_vote(db: sqlite_utils.Database, take_id: int, user_id: int, emoji: str) -> bool:
    with db.atomic():
        cursor = db.execute(
            "DELETE FROM votes WHERE take_id = ? AND user_id = ? AND emoji = ?",
            [take_id, user_id, emoji],
        )
    return cursor.rowcount > 0


@dataclass(frozen=True)
class Tally:
    up: int
    down: int
    retake: int

    @property
    def net(self) -> int:
        return self.up - self.down


def keyframes_waiting_for_clips(db: sqlite_utils.Database) -> list[int]:
    """Approved keyframe takes whose shot is queued for its clip and has no approved clip."""
    rows = db.execute(
        "SELECT takes.id FROM takes JOIN shots ON shots.id = takes.shot_id "
        "WHERE takes.kind = 'keyframe' AND takes.status = 'approved' AND shots.status = 'queued' "
        "AND shots.approved_take_id IS NULL ORDER BY takes.id"
    ).fetchall()
    return [take_id for (take_id,) in rows]


def thumbs_up_voters(db: sqlite_utils.Database, take_id: int) -> list[int]:
    """Who gave the take a 👍, first voter first."""
    rows = db.execute(
        "SELECT user_id FROM votes WHERE take_id = ? AND emoji = ? ORDER BY created_at, rowid",
        [take_id, THUMBS_UP],
    ).fetchall()
    return [user_id for (user_id,) in rows]


def tally(db: sqlite_utils.Database, take_id: int) -> Tally:
    counts = dict(
        db.execute(
            "SELECT emoji, COUNT(*) FROM votes WHERE take_id = ? GROUP BY emoji", [take_id]
        ).fetchall()
    )
    return Tally(
        up=counts.get(THUMBS_UP, 0), down=counts.get(THUMBS_DOWN, 0), retake=counts.get(RETAKE, 0)
    )


def approve_take(db: sqlite_utils.Database, take_id: int) -> Take:
    """Approve a take in review: the shot gets it, the shot's other takes are rejected.

    An approved keyframe approves the shot's look, not the shot: the shot goes back to
    'queued' for its clip (pipeline.render.queue.queue_approved_keyframes queues it), and that
    clip becomes the shot's approved take when it is recorded.
    """
    take = get_take(db, take_id)
    shot = get_shot(db, take.shot_id)
    if take.status != TakeStatus.REVIEW or shot.status != ShotStatus.REVIEW:
        raise InvalidState(
            f"Shot {shot.number} has no take in review to approve "
            f"(shot is {shot.status}, take is {take.status})."
        )
    check_transition("take", TAKE_TRANSITIONS, take.status, TakeStatus.APPROVED)
    with db.atomic():
        db.table("takes").update(take_id, {"status": TakeStatus.APPROVED})
        db.execute(
            "UPDATE takes SET status = 'rejected' "
            "WHERE shot_id = ? AND id != ? AND status = 'review'",
            [shot.id, take_id],
        )
        if take.kind == "keyframe":
            set_shot_status(db, shot.id, ShotStatus.QUEUED)
        else:
            set_shot_status(db, shot.id, ShotStatus.APPROVED)
            db.table("shots").update(shot.id, {"approved_take_id": take_id})
    return get_take(db, take_id)


def request_retake(db: sqlite_utils.Database, shot_id: int) -> None:
    """Mark a shot for a retake; its takes in review are rejected."""
    shot = get_shot(db, shot_id)
    with db.atomic():
        set_shot_status(db, shot.id, ShotStatus.RETAKE)
        db.execute(
            "UPDATE takes SET status = 'rejected' WHERE shot_id = ? AND status = 'review'",
            [shot.id],
        )
        db.table("shots").update(shot.id, {"approved_take_id": None})


def decide(db: sqlite_utils.Database, take_id: int, quorum: int) -> str | None:
    """Apply the project's policy to a take's votes: 'approved', 'retake' or None (undecided)."""
    take = get_take(db, take_id)
    if take.status != TakeStatus.REVIEW or get_shot(db, take.shot_id).status != ShotStatus.REVIEW:
        return None
    votes = tally(db, take_id)
    if votes.retake > 0:
        request_retake(db, take.shot_id)
        return "retake"
    if votes.net >= quorum:
        approve_take(db, take_id)
        return "approved"
    return None


def set_note(db: sqlite_utils.Database, message_id: int, note: str) -> None:
    """A retake note on the takes of one review post (a later note replaces an earlier one)."""
    with db.atomic():
        db.execute("UPDATE takes SET note = ? WHERE message_id = ?", [note[:1000], message_id])
