"""The plan: characters, episodes, scenes and shots, and edits to them."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Character, Episode, Scene, Shot
from storage.revisions import next_revision, record_revision
from storage.status import EPISODE_TRANSITIONS, SHOT_TRANSITIONS, check_transition

MIN_SHOT_SECONDS = 1.0
MAX_SHOT_SECONDS = 15.0


@dataclass(frozen=True)
class ShotPlan:
    description: str
    camera: str = ""
    duration: float = 4.0
    dialogue: str = ""
    characters: tuple[str, ...] = ()
    prompt: str = ""


@dataclass(frozen=True)
class ScenePlan:
    heading: str
    summary: str
    shots: tuple[ShotPlan, ...]


@dataclass(frozen=True)
class CharacterPlan:
    name: str
    description: str = ""
    look: str = ""


@dataclass(frozen=True)
class EpisodePlan:
    title: str
    synopsis: str
    scenes: tuple[ScenePlan, ...]
    characters: tuple[CharacterPlan, ...] = ()
    logline: str = ""


def clamp_duration(seconds: float) -> float:
    return round(min(MAX_SHOT_SECONDS, max(MIN_SHOT_SECONDS, float(seconds))), 2)


def character_seed(project_id: int, name: str) -> int:
    """A stable seed per character, so a look stays the same across shots."""
    return zlib.crc32(f"{project_id}:{name.lower()}".encode()) & 0x7FFFFFFF


def save_episode_plan(
    db: sqlite_utils.Database,
    project_id: int,
    plan: EpisodePlan,
    *,
    episode_id: int | None = None,
    author_id: int | None = None,
) -> Episode:
    """Store a whole episode plan in one transaction: a new episode, or a rewrite of one.

    A rewrite keeps the old episode, scenes and shots on record as one episode revision.
    """
    shot_count = sum(len(scene.shots) for scene in plan.scenes)
    if not plan.scenes or shot_count == 0:
        raise InvalidInput("A plan needs at least one scene with one shot.")
    with db.atomic():
        for character in plan.characters:
            upsert_character(
                db,
                project_id,
                character.name,
                character.description,
                character.look,
                author_id=author_id,
                bump_plan=False,
            )
        if plan.logline:
            db.table("projects").update(project_id, {"logline": plan.logline[:500]})
        if episode_id is None:
            number = next_episode_number(db, project_id)
            episode_id = int(
                db.table("episodes")
                .insert(
                    {
                        "project_id": project_id,
                        "number": number,
                        "title": plan.title[:200] or f"Episode {number}",
                        "synopsis": plan.synopsis[:2000],
                        "status": "writing",
                        "created_at": utc_now(),
                    }
                )
                .last_pk
            )
        else:
            episode = get_episode(db, episode_id)
            if episode.status != "writing":
                raise InvalidInput(
                    f"Episode {episode.number} is already {episode.status}; "
                    "edit single shots instead of rewriting it."
                )
            _record_episode(db, episode, author_id, "plan rewritten", with_plan=True)
            db.execute("DELETE FROM shots WHERE episode_id = ?", [episode_id])
            db.execute("DELETE FROM scenes WHERE episode_id = ?", [episode_id])
            db.table("episodes").update(
                episode_id,
                {
                    "title": plan.title[:200],
                    "synopsis": plan.synopsis[:2000],
                    "plan_revision": episode.plan_revision + 1,
                },
            )
        shot_number = 0
        for scene_number, scene in enumerate(plan.scenes, start=1):
            scene_id = int(
                db.table("scenes")
                .insert(
                    {
                        "episode_id": episode_id,
                        "number": scene_number,
                        "heading": scene.heading[:200],
                        "summary": scene.summary[:1000],
                    }
                )
                .last_pk
            )
            for shot in scene.shots:
                shot_number += 1
                db.table("shots").insert(
                    {
                        "episode_id": episode_id,
                        "scene_id": scene_id,
                        "number": shot_number,
                        "description": shot.description[:1000] or f"Shot {shot_number}",
                        "prompt": shot.prompt[:1000],
                        "camera": shot.camera[:200],
                        "duration": clamp_duration(shot.duration),
                        "dialogue": shot.dialogue[:500],
                        "characters": json.dumps(list(shot.characters)[:6]),
                        "status": "planned",
                    }
                )
    return get_episode(db, episode_id)


def next_episode_number(db: sqlite_utils.Database, project_id: int) -> int:
    row = db.execute(
        "SELECT COALESCE(MAX(number), 0) FROM episodes WHERE project_id = ?", [project_id]
    ).fetchone()
    return int(row[0]) + 1


def upsert_character(
    db: sqlite_utils.Database,
    project_id: int,
    name: str,
    description: str = "",
    look: str = "",
    *,
    author_id: int | None = None,
    reason: str = "",
    bump_plan: bool = True,
) -> Character:
    """Add a character, or change one's description/look (old version on record, revision up)."""
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
        character_id = (
            db.table("characters")
            .insert(
                {
                    "project_id": project_id,
                    "name": name,
                    "description": description[:1000],
                    "look": look[:500],
                    "seed": character_seed(project_id, name),
                }
            )
            .last_pk
        )
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


def list_scenes(db: sqlite_utils.Database, episode_id: int) -> list[Scene]:
    return [
        Scene.from_row(row)
        for row in db.table("scenes").rows_where("episode_id = ?", [episode_id], order_by="number")
    ]


def list_shots(db: sqlite_utils.Database, episode_id: int) -> list[Shot]:
    return [
        Shot.from_row(row)
        for row in db.table("shots").rows_where("episode_id = ?", [episode_id], order_by="number")
    ]


def get_shot(db: sqlite_utils.Database, shot_id: int) -> Shot:
    rows = list(db.table("shots").rows_where("id = ?", [shot_id]))
    if not rows:
        raise NotFound(f"Shot {shot_id} does not exist.")
    return Shot.from_row(rows[0])


def shot_by_number(db: sqlite_utils.Database, episode_id: int, number: int) -> Shot:
    rows = list(db.table("shots").rows_where("episode_id = ? AND number = ?", [episode_id, number]))
    if not rows:
        raise NotFound(f"There is no shot {number} in this episode.")
    return Shot.from_row(rows[0])


SHOT_FIELDS = frozenset(
    {"description", "prompt", "negative_prompt", "camera", "duration", "dialogue", "continuous"}
)


def edit_shot(
    db: sqlite_utils.Database,
    shot_id: int,
    *,
    author_id: int | None = None,
    reason: str = "",
    **changes: object,
) -> Shot:
    """Change a shot's fields: the old row goes on record, the shot's revision and the episode's
    plan revision go up, all in one transaction. None values are left unchanged."""
    unknown = set(changes) - SHOT_FIELDS
    if unknown:
        raise InvalidInput(f"Unknown shot field: {sorted(unknown)[0]}")
    shot = get_shot(db, shot_id)
    values: dict[str, object] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "duration":
            values[key] = clamp_duration(float(value))  # type: ignore[arg-type]
        elif key == "continuous":
            values[key] = int(bool(value))
        else:
            values[key] = str(value)[:1000]
    if values.get("continuous") and shot.number == 1:
        raise InvalidInput("Shot 1 has no previous shot to continue from.")
    if not values:
        return shot
    with db.atomic():
        row = db.table("shots").get(shot_id)
        record_revision(db, "shot", shot_id, shot.revision, row, author_id=author_id, reason=reason)
        values["revision"] = shot.revision + 1
        db.table("shots").update(shot_id, values)
        bump_plan_revision(db, shot.episode_id)
    return get_shot(db, shot_id)


def cut_shot(
    db: sqlite_utils.Database, shot_id: int, *, author_id: int | None = None, reason: str = ""
) -> Episode:
    """Delete a shot from the plan (on record), renumbering the shots after it."""
    shot = get_shot(db, shot_id)
    shots = list_shots(db, shot.episode_id)
    if len(shots) == 1:
        raise InvalidInput("That is the episode's only shot; a plan needs at least one.")
    if db.execute("SELECT COUNT(*) FROM takes WHERE shot_id = ?", [shot_id]).fetchone()[0]:
        raise InvalidState(
            f"Shot {shot.number} already has takes on record, so it stays in the plan; "
            "vote its takes down or ask for a retake instead."
        )
    if db.execute("SELECT COUNT(*) FROM jobs WHERE shot_id = ?", [shot_id]).fetchone()[0]:
        raise InvalidState(f"Shot {shot.number} has render jobs on record; it cannot be cut.")
    with db.atomic():
        row = db.table("shots").get(shot_id)
        record_revision(
            db, "shot", shot_id, shot.revision, row, author_id=author_id, reason=reason or "cut"
        )
        db.execute("DELETE FROM shots WHERE id = ?", [shot_id])
        # two steps, so the UNIQUE (episode_id, number) never sees two equal numbers
        db.execute(
            "UPDATE shots SET number = -number WHERE episode_id = ? AND number > ?",
            [shot.episode_id, shot.number],
        )
        db.execute(
            "UPDATE shots SET number = -number - 1 WHERE episode_id = ? AND number < 0",
            [shot.episode_id],
        )
        bump_plan_revision(db, shot.episode_id)
    return get_episode(db, shot.episode_id)


def delete_episode(
    db: sqlite_utils.Database, episode_id: int, *, author_id: int | None = None, reason: str = ""
) -> None:
    """Delete an episode that is still being written (its plan stays on record)."""
    episode = get_episode(db, episode_id)
    if (
        episode.status != "writing"
        or db.execute("SELECT COUNT(*) FROM jobs WHERE episode_id = ?", [episode_id]).fetchone()[0]
    ):
        raise InvalidState(
            f"Episode {episode.number} has been rendered; it stays on record and can't be deleted."
        )
    with db.atomic():
        _record_episode(db, episode, author_id, reason or "deleted", with_plan=True)
        db.execute("DELETE FROM shots WHERE episode_id = ?", [episode_id])
        db.execute("DELETE FROM scenes WHERE episode_id = ?", [episode_id])
        db.execute("DELETE FROM episodes WHERE id = ?", [episode_id])


def get_scene(db: sqlite_utils.Database, scene_id: int) -> Scene:
    rows = list(db.table("scenes").rows_where("id = ?", [scene_id]))
    if not rows:
        raise NotFound(f"Scene {scene_id} does not exist.")
    return Scene.from_row(rows[0])


def scene_by_number(db: sqlite_utils.Database, episode_id: int, number: int) -> Scene:
    rows = list(
        db.table("scenes").rows_where("episode_id = ? AND number = ?", [episode_id, number])
    )
    if not rows:
        raise NotFound(f"There is no scene {number} in this episode.")
    return Scene.from_row(rows[0])


def edit_scene(
    db: sqlite_utils.Database,
    scene_id: int,
    *,
    heading: str | None = None,
    summary: str | None = None,
    author_id: int | None = None,
    reason: str = "",
) -> Scene:
    scene = get_scene(db, scene_id)
    values = {
        key: value[:limit]
        for key, value, limit in (("heading", heading, 200), ("summary", summary, 1000))
        if value is not None
    }
    if "heading" in values and not values["heading"].strip():
        raise InvalidInput("A scene needs a heading.")
    if not values:
        return scene
    with db.atomic():
        row = db.table("scenes").get(scene_id)
        revision = next_revision(db, "scene", scene_id)
        record_revision(db, "scene", scene_id, revision, row, author_id=author_id, reason=reason)
        db.table("scenes").update(scene_id, values)
        bump_plan_revision(db, scene.episode_id)
    return get_scene(db, scene_id)


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
        _record_episode(db, episode, author_id, reason)
        db.table("episodes").update(episode_id, values)
        bump_plan_revision(db, episode_id)
    return get_episode(db, episode_id)


def _record_episode(
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


def set_shot_status(db: sqlite_utils.Database, shot_id: int, status: str) -> Shot:
    shot = get_shot(db, shot_id)
    check_transition("shot", SHOT_TRANSITIONS, shot.status, status)
    db.table("shots").update(shot_id, {"status": status})
    return get_shot(db, shot_id)


def set_episode_status(db: sqlite_utils.Database, episode_id: int, status: str) -> Episode:
    episode = get_episode(db, episode_id)
    check_transition("episode", EPISODE_TRANSITIONS, episode.status, status)
    db.table("episodes").update(episode_id, {"status": status})
    return get_episode(db, episode_id)


def set_cut_path(db: sqlite_utils.Database, episode_id: int, path: str) -> None:
    db.table("episodes").update(episode_id, {"cut_path": path})


def plan_summary(db: sqlite_utils.Database, episode_id: int, *, limit: int = 1800) -> str:
    """A compact text view of an episode's plan, for Discord and for the agent's context."""
    episode = get_episode(db, episode_id)
    lines = [
        f"Episode {episode.number}: {episode.title} ({episode.status}, "
        f"plan revision {episode.plan_revision})"
    ]
    if episode.synopsis:
        lines.append(episode.synopsis)
    shots = list_shots(db, episode_id)
    for scene in list_scenes(db, episode_id):
        lines.append(f"Scene {scene.number}: {scene.heading}")
        for shot in (s for s in shots if s.scene_id == scene.id):
            line = f"  Shot {shot.number} [{shot.duration:g}s, {shot.status}] {shot.description}"
            if shot.camera:
                line += f" | camera: {shot.camera}"
            if shot.dialogue:
                line += f' | "{shot.dialogue}"'
            if shot.continuous:
                line += " | continues the previous shot"
            lines.append(line)
    if episode.teaser:
        lines.append(f"Cliffhanger: {episode.teaser}")
    total = sum(shot.duration for shot in shots)
    lines.append(f"{len(shots)} shots, {total:g} s")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
