"""The plan of an episode as a whole (saved from the agent's draft, summarised), and its scenes
and shots with their edits. Episodes are in episodes.py, characters in characters.py."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

from storage import characters, episodes
from storage.db import utc_now
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Episode, Scene, Shot
from storage.revisions import next_revision, record_revision
from storage.status import SHOT_TRANSITIONS, EpisodeStatus, ShotStatus, check_transition

MIN_SHOT_SECONDS = 1.0
MAX_SHOT_SECONDS = 15.0
# a line spoken within the longest shot: at 160 words (or ~4 Chinese characters a second)
MAX_LINE_WORDS, MAX_UNSPACED_CHARS, MAX_LINE_CHARS = 34, 56, 300


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
    mood: str = ""  # the score's cue for the scene


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
    teaser: str = ""  # the cliffhanger line; kept as it is when empty


def fit_line(text: str) -> str:
    """A line short enough to be spoken within the longest shot (MAX_LINE_WORDS, or
    MAX_LINE_CHARS for a line written without spaces, as Chinese is): a longer one ends at
    its last sentence that fits, or is cut with an ellipsis."""
    text = " ".join(text.split())
    kept = " ".join(text.split()[:MAX_LINE_WORDS])[:MAX_LINE_CHARS]
    if " " not in kept:
        kept = kept[:MAX_UNSPACED_CHARS]
    if kept == text:
        return text
    end = max(kept.rfind(mark) for mark in ".!?。！？")
    return kept[: end + 1] if end > len(kept) // 3 else kept.rstrip(",;:，、 ") + "…"


def clamp_duration(seconds: float) -> float:
    return round(min(MAX_SHOT_SECONDS, max(MIN_SHOT_SECONDS, float(seconds))), 2)


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
            characters.upsert_character(
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
            number = episodes.next_episode_number(db, project_id)
            episode_id = int(
                db.table("episodes")
                .insert(
                    {
                        "project_id": project_id,
                        "number": number,
                        "title": plan.title[:200] or f"Episode {number}",
                        "synopsis": plan.synopsis[:2000],
                        "teaser": plan.teaser[:300],
                        "status": EpisodeStatus.WRITING,
                        "created_at": utc_now(),
                    }
                )
                .last_pk
            )
        else:
            episode = episodes.get_episode(db, episode_id)
            if episode.status != EpisodeStatus.WRITING:
                raise InvalidInput(
                    f"Episode {episode.number} is already {episode.status}; "
                    "edit single shots instead of rewriting it."
                )
            episodes.record_episode(db, episode, author_id, "plan rewritten", with_plan=True)
            db.execute("DELETE FROM shots WHERE episode_id = ?", [episode_id])
            db.execute("DELETE FROM scenes WHERE episode_id = ?", [episode_id])
            db.table("episodes").update(
                episode_id,
                {
                    "title": plan.title[:200],
                    "synopsis": plan.synopsis[:2000],
                    "teaser": plan.teaser[:300] or episode.teaser,
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
                        "mood": scene.mood[:40],
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
                        "dialogue": fit_line(shot.dialogue),
                        "characters": json.dumps(list(shot.characters)[:6]),
                        "status": ShotStatus.PLANNED,
                    }
                )
    return episodes.get_episode(db, episode_id)


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
    {
        "description",
        "prompt",
        "negative_prompt",
        "camera",
        "duration",
        "dialogue",
        "continuous",
        "characters",
    }
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
        elif key == "dialogue":
            values[key] = fit_line(str(value))
        elif key == "characters":
            values[key] = json.dumps([str(name) for name in value][:6])  # type: ignore[attr-defined]
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
        episodes.bump_plan_revision(db, shot.episode_id)
    return get_shot(db, shot_id)


def fit_duration(db: sqlite_utils.Database, shot_id: int, seconds: float) -> Shot:
    """Set a shot's length to hold its spoken line (or to give time to one that needs it).
    Not an edit of the plan: its revision and the plan gate's stay as they are."""
    db.table("shots").update(shot_id, {"duration": clamp_duration(seconds)})
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
        episodes.bump_plan_revision(db, shot.episode_id)
    return episodes.get_episode(db, shot.episode_id)


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
        episodes.bump_plan_revision(db, scene.episode_id)
    return get_scene(db, scene_id)


def set_shot_status(db: sqlite_utils.Database, shot_id: int, status: str) -> Shot:
    shot = get_shot(db, shot_id)
    check_transition("shot", SHOT_TRANSITIONS, shot.status, status)
    db.table("shots").update(shot_id, {"status": status})
    return get_shot(db, shot_id)


def plan_summary(db: sqlite_utils.Database, episode_id: int, *, limit: int = 1800) -> str:
    """A compact text view of an episode's plan, for Discord and for the agent's context."""
    episode = episodes.get_episode(db, episode_id)
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
