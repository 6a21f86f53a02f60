"""Episodes: numbered in their project, their status, plan revision and go-ahead, their cut;
edits keep the old version on record."""

from __future__ import annotations

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Episode
from storage.revisions import record_revision
from storage.status import EPISODE_TRANSITIONS, EpisodeStatus, check_transition


def next_episode_number(db: sqlite_utils.Database, project_id: int) -> int:
    row = db.execute(
        "SELECT COALESCE(MAX(number), 0) FROM episodes WHERE project_id = ?", [project_id]
    ).fetchone()
    return int(row[0]) + 1


def get_episode(db: sqlite_utils.Database, episode_id: int) -> Episode:
    rows = list(db.table("episodes").rows_where("id = ?", [episode_id]))
    if not rows:
        raise NotFound(f"Episode {episode_id} does not exist.")
    return Episode.from_row(rows[0])


def current_episode(db: sqlite_utils.Database, project_id: int) -> Episode | None:
    """The newest episode of the project, the one commands act on by default."""
    rows = list(
        db.table("episodes").rows_where(
            "project_id = ?", [project_id], order_by="number DESC", limit=1
        )
    )
    return Episode.from_row(rows[0]) if rows else None


def undelivered_episodes_with_approved_shots(db: sqlite_utils.Database) -> list[int]:
    """Episodes not delivered yet with at least one approved shot, by id."""
    rows = db.execute(
        "SELECT DISTINCT shots.episode_id FROM shots "
        "JOIN episodes ON episodes.id = shots.episode_id "
        "WHERE shots.approved_take_id IS NOT NULL AND episodes.status != 'delivered' "
        "ORDER BY shots.episode_id"
    ).fetchall()
    return [episode_id for (episode_id,) in rows]


def delete_episode(
    db: sqlite_utils.Database, episode_id: int, *, author_id: int | None = None, reason: str = ""
) -> None:
    """Delete an episode that is still being written (its plan stays on record)."""
    episode = get_episode(db, episode_id)
    if (
        episode.status != EpisodeStatus.WRITING
        or db.execute("SELECT COUNT(*) FROM jobs WHERE episode_id = ?", [episode_id]).fetchone()[0]
    ):
        raise InvalidState(
            f"Episode {episode.number} has been rendered; it stays on record and can't be deleted."
        )
    with db.atomic():
        record_episode(db, episode, author_id, reason or "deleted", with_plan=True)
        db.execute("DELETE FROM shots WHERE episode_id = ?", [episode_id])
        db.execute("DELETE FROM scenes WHERE episode_id = ?", [episode_id])
        db.execute("DELETE FROM episodes WHERE id = ?", [episode_id])


def edit_episode(
    db: sqlite_utils.Database,
    episode_id: int,
    *,
    title: str | None = None,
    synopsis: str | None = None,
    teaser: str | None = None,
    author_id: int | None = None,
    reason: str = "",
) -> Episode:
    """Title, synopsis or teaser (the cliffhanger line) of an episode."""
    episode = get_episode(db, episode_id)
    values = {
        key: value[:limit]
        for key, value, limit in (
            ("title", title, 200),
            ("synopsis", synopsis, 2000),
            ("teaser", teaser, 300),
        )
        if value is not None
    }
    if "title" in values and not values["title"].strip():
        raise InvalidInput("An episode needs a title.")
    if not values:
        return episode
    with db.atomic():
        record_episode(db, episode, author_id, reason)
        db.table("episodes").update(episode_id, values)
        bump_plan_revision(db, episode_id)
    return get_episode(db, episode_id)


def record_episode(
    db: sqlite_utils.Database,
    episode: Episode,
    author_id: int | None,
    reason: str,
    *,
    with_plan: bool = False,
) -> None:
    data: dict[str, object] = dict(db.table("episodes").get(episode.id))
    if with_plan:
        data["scenes"] = list(db.table("scenes").rows_where("episode_id = ?", [episode.id]))
        data["shots"] = list(db.table("shots").rows_where("episode_id = ?", [episode.id]))
    record_revision(
        db, "episode", episode.id, episode.plan_revision, data, author_id=author_id, reason=reason
    )


def bump_plan_revision(db: sqlite_utils.Database, episode_id: int) -> None:
    """Every plan change un-accepts the plan: the go-ahead names the revision it accepted."""
    db.execute("UPDATE episodes SET plan_revision = plan_revision + 1 WHERE id = ?", [episode_id])


def accept_plan(
    db: sqlite_utils.Database, episode_id: int, revision: int, user_id: int | None
) -> Episode:
    """Record a go-ahead for exactly the plan revision the person saw."""
    episode = get_episode(db, episode_id)
    if revision != episode.plan_revision:
        raise InvalidState(
            f"The plan of episode {episode.number} changed since then "
            f"(revision {episode.plan_revision} now, this was {revision}); "
            "accept the latest summary."
        )
    db.table("episodes").update(
        episode_id,
        {"accepted_revision": revision, "accepted_by": user_id, "accepted_at": utc_now()},
    )
    return get_episode(db, episode_id)


def set_episode_status(db: sqlite_utils.Database, episode_id: int, status: str) -> Episode:
    episode = get_episode(db, episode_id)
    check_transition("episode", EPISODE_TRANSITIONS, episode.status, status)
    db.table("episodes").update(episode_id, {"status": status})
    return get_episode(db, episode_id)


def set_cut_path(db: sqlite_utils.Database, episode_id: int, path: str) -> None:
    db.table("episodes").update(episode_id, {"cut_path": path})
