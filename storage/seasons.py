"""Seasons: the series bible, the season map (an entry per planned episode, linked to its
episode once its plan is written) and the episodes' beats. Edits keep old rows on record."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass

import sqlite_utils

from storage import characters, episodes
from storage.db import utc_now
from storage.errors import InvalidInput, NotFound
from storage.models import Beats, Season, SeasonEpisode
from storage.revisions import record_revision

# how an episode opens; two consecutive episodes never open the same way
HOOK_TYPES = (
    "cold open",
    "in medias res",
    "shocking reveal",
    "question",
    "flash-forward",
    "confrontation",
    "mystery image",
    "voice-over",
)
MAX_EPISODES = 20
MIN_EPISODE_SECONDS = 30.0
MAX_EPISODE_SECONDS = 180.0  # the format: one to three minutes an episode
MAX_PREMISE_CHARS = 4000
# what a season episode holds besides its shots, all within its length: from episode 2 on a
# "previously on" recap (its card and the previous episode's last shots), and at the end a
# card teasing the next episode
RECAP_CARD_SECONDS = 1.5
RECAP_SECONDS = 10.0  # the card included
RECAP_SHOTS = 3
TEASER_SECONDS = 2.5


def shot_seconds(season: Season, number: int) -> float:
    """How long episode `number`'s own shots run, so that with its recap and teaser card it
    runs the season's episode length."""
    return season.episode_seconds - TEASER_SECONDS - (RECAP_SECONDS if number > 1 else 0.0)


@dataclass(frozen=True)
class MapEntry:
    title: str
    logline: str
    hook_type: str
    cliffhanger: str


@dataclass(frozen=True)
class CastMember:
    name: str
    description: str = ""
    look: str = ""
    arc: str = ""


@dataclass(frozen=True)
class SeasonPlan:
    premise: str
    episode_seconds: float
    episodes: tuple[MapEntry, ...]
    logline: str = ""
    world: str = ""
    tone: str = ""
    visual_style: str = ""
    cast: tuple[CastMember, ...] = ()


def check_season_shape(premise: str, episode_count: int, minutes: float) -> None:
    """A season that can be made: a premise, 1-20 episodes, 0.5-3 minutes each."""
    if not premise.strip():
        raise InvalidInput("A season needs a premise: one or two sentences of story.")
    if len(premise) > MAX_PREMISE_CHARS:
        raise InvalidInput(
            f"The premise is {len(premise):,} characters; keep it under {MAX_PREMISE_CHARS:,} "
            "(one or two sentences of story, not a script)."
        )
    if not 1 <= episode_count <= MAX_EPISODES:
        raise InvalidInput(f"A season has 1 to {MAX_EPISODES} episodes, not {episode_count}.")
    seconds = minutes * 60
    if not MIN_EPISODE_SECONDS <= seconds <= MAX_EPISODE_SECONDS:
        raise InvalidInput(
            f"An episode runs {MIN_EPISODE_SECONDS / 60:g} to {MAX_EPISODE_SECONDS / 60:g} "
            f"minutes, not {minutes:g}."
        )


def check_hooks(hook_types: list[str]) -> None:
    """Every hook from HOOK_TYPES, and no two consecutive episodes opening the same way."""
    for number, hook in enumerate(hook_types, start=1):
        if hook not in HOOK_TYPES:
            raise InvalidInput(f"Episode {number}'s hook {hook!r} is not one of {HOOK_TYPES}.")
    for number, (before, after) in enumerate(itertools.pairwise(hook_types), start=2):
        if before == after:
            raise InvalidInput(
                f"Episodes {number - 1} and {number} both open with a {after}; rotate hooks."
            )


def create_season(
    db: sqlite_utils.Database, project_id: int, plan: SeasonPlan, *, author_id: int | None = None
) -> Season:
    """The bible, the map and the cast in one transaction."""
    check_season_shape(plan.premise, len(plan.episodes), plan.episode_seconds / 60)
    check_hooks([entry.hook_type for entry in plan.episodes])
    with db.atomic():
        number = 1 + int(
            db.execute(
                "SELECT COALESCE(MAX(number), 0) FROM seasons WHERE project_id = ?", [project_id]
            ).fetchone()[0]
        )
        season_id = int(
            db.table("seasons")
            .insert(
                {
                    "project_id": project_id,
                    "number": number,
                    "premise": plan.premise,
                    "logline": plan.logline[:500],
                    "world": plan.world[:1000],
                    "tone": plan.tone[:300],
                    "visual_style": plan.visual_style[:500],
                    "episode_count": len(plan.episodes),
                    "episode_seconds": plan.episode_seconds,
                    "created_at": utc_now(),
                }
            )
            .last_pk
        )
        for index, entry in enumerate(plan.episodes, start=1):
            db.table("season_episodes").insert(
                {"season_id": season_id, "number": index, **asdict(entry)}
            )
        for member in plan.cast:
            characters.upsert_character(
                db,
                project_id,
                member.name,
                member.description,
                member.look,
                arc=member.arc,
                author_id=author_id,
                bump_plan=False,
            )
    return get_season(db, season_id)


def get_season(db: sqlite_utils.Database, season_id: int) -> Season:
    rows = list(db.table("seasons").rows_where("id = ?", [season_id]))
    if not rows:
        raise NotFound(f"Season {season_id} does not exist.")
    return Season.from_row(rows[0])


def current_season(db: sqlite_utils.Database, project_id: int) -> Season | None:
    rows = list(
        db.table("seasons").rows_where(
            "project_id = ?", [project_id], order_by="number DESC", limit=1
        )
    )
    return Season.from_row(rows[0]) if rows else None


def season_map(db: sqlite_utils.Database, season_id: int) -> list[SeasonEpisode]:
    return [
        SeasonEpisode.from_row(row)
        for row in db.table("season_episodes").rows_where(
            "season_id = ?", [season_id], order_by="number"
        )
    ]


def next_unwritten(db: sqlite_utils.Database, season_id: int) -> SeasonEpisode | None:
    """The first episode on the map without a written plan."""
    return next((entry for entry in season_map(db, season_id) if entry.episode_id is None), None)


def entry_for_episode(db: sqlite_utils.Database, episode_id: int) -> SeasonEpisode | None:
    rows = list(db.table("season_episodes").rows_where("episode_id = ?", [episode_id]))
    return SeasonEpisode.from_row(rows[0]) if rows else None


def set_beats(
    db: sqlite_utils.Database, entry_id: int, beats: Beats, *, author_id: int | None = None
) -> SeasonEpisode:
    """An episode's beats; beats written before stay on record."""
    row = db.table("season_episodes").get(entry_id)
    with db.atomic():
        if row["beats"]:
            record_revision(
                db, "season_episode", entry_id, row["revision"], row, author_id=author_id
            )
        db.table("season_episodes").update(
            entry_id,
            {
                "beats": json.dumps(asdict(beats), ensure_ascii=False),
                "revision": row["revision"] + (1 if row["beats"] else 0),
            },
        )
    return SeasonEpisode.from_row(db.table("season_episodes").get(entry_id))


def link_episode(db: sqlite_utils.Database, entry_id: int, episode_id: int) -> None:
    """The map entry's plan is written: it is this episode (call in the plan's transaction)."""
    db.table("season_episodes").update(entry_id, {"episode_id": episode_id})


def first_unfinished(db: sqlite_utils.Database, season_id: int) -> SeasonEpisode | None:
    """The first episode on the map that is not written, or written and not delivered."""
    delivered = {
        row[0]
        for row in db.execute(
            "SELECT entry.id FROM season_episodes AS entry "
            "JOIN episodes ON episodes.id = entry.episode_id "
            "WHERE entry.season_id = ? AND episodes.status = 'delivered'",
            [season_id],
        ).fetchall()
    }
    return next((e for e in season_map(db, season_id) if e.id not in delivered), None)


def finished(db: sqlite_utils.Database, season_id: int) -> bool:
    return first_unfinished(db, season_id) is None


def unfinished_season(
    db: sqlite_utils.Database, project_id: int, premise: str, episode_count: int, seconds: float
) -> Season | None:
    """The newest season of this premise and shape that is not finished: what a second run of
    the same command continues."""
    candidates = db.table("seasons").rows_where(
        "project_id = ? AND premise = ? AND episode_count = ? AND episode_seconds = ?",
        [project_id, premise, episode_count, seconds],
        order_by="number DESC",
    )
    for row in candidates:
        if not finished(db, row["id"]):
            return Season.from_row(row)
    return None


def season_summary(db: sqlite_utils.Database, season_id: int) -> str:
    """The season map as people read it: the logline, then a line per episode."""
    season = get_season(db, season_id)
    lines = [f"Season {season.number}: {season.logline or season.premise[:200]}"]
    for entry in season_map(db, season_id):
        written = ", not written yet"
        if entry.episode_id is not None:
            written = f", {episodes.get_episode(db, entry.episode_id).status}"
        lines.append(
            f"  Episode {entry.number}: {entry.title} (hook: {entry.hook_type}{written})"
            f" - {entry.logline}"
        )
    return "\n".join(lines)
