"""The plan: characters, episodes, scenes and shots, and edits to them."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, NotFound
from storage.models import Character, Episode, Scene, Shot
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
    db: sqlite_utils.Database, project_id: int, plan: EpisodePlan, *, episode_id: int | None = None
) -> Episode:
    """Store a whole episode plan in one transaction: a new episode, or a rewrite of one."""
    shot_count = sum(len(scene.shots) for scene in plan.scenes)
    if not plan.scenes or shot_count == 0:
        raise InvalidInput("A plan needs at least one scene with one shot.")
    with db.atomic():
        for character in plan.characters:
            upsert_character(db, project_id, character.name, character.description, character.look)
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
            db.execute("DELETE FROM shots WHERE episode_id = ?", [episode_id])
            db.execute("DELETE FROM scenes WHERE episode_id = ?", [episode_id])
            db.table("episodes").update(
                episode_id, {"title": plan.title[:200], "synopsis": plan.synopsis[:2000]}
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
    db: sqlite_utils.Database, project_id: int, name: str, description: str = "", look: str = ""
) -> Character:
    name = " ".join(name.split())[:80]
    if not name:
        raise InvalidInput("A character needs a name.")
    existing = list(
        db.table("characters").rows_where("project_id = ? AND name = ?", [project_id, name])
    )
    if existing:
        db.table("characters").update(
            existing[0]["id"],
            {
                "description": description[:1000] or existing[0]["description"],
                "look": look[:500] or existing[0]["look"],
            },
        )
        character_id = existing[0]["id"]
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


def edit_shot(db: sqlite_utils.Database, shot_id: int, **changes: object) -> Shot:
    """Change a shot's text fields; the revision number goes up."""
    allowed = {"description", "prompt", "negative_prompt", "camera", "duration", "dialogue"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown shot field: {sorted(unknown)[0]}")
    shot = get_shot(db, shot_id)
    values: dict[str, object] = {
        key: (clamp_duration(float(value)) if key == "duration" else str(value)[:1000])
        for key, value in changes.items()
        if value is not None
    }
    if values:
        values["revision"] = shot.revision + 1
        db.table("shots").update(shot_id, values)
    return get_shot(db, shot_id)


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
    lines = [f"Episode {episode.number}: {episode.title} ({episode.status})"]
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
            lines.append(line)
    total = sum(shot.duration for shot in shots)
    lines.append(f"{len(shots)} shots, {total:g} s")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"
