"""An episode's beats edited in chat: the new wording stored (the old stays on record), and the
approved shots of the scenes that tell the changed beats named, since the change invalidates
them. Each beat is told by a run of scenes: a new twist concerns the scenes that tell the twist.
Writing those scenes again is episode_rewrite's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from agents.context import ToolContext
from agents.plan_text import clean_text
from agents.requests import BEATS
from storage import episodes, plan, seasons
from storage.errors import InvalidInput, NotAllowed, NotFound
from storage.models import Beats, Scene, Season, SeasonEpisode
from storage.status import ShotStatus


def beats_of_scene(index: int, count: int) -> range:
    """The beats (0 the hook ... 3 the cliffhanger) that scene `index` (from 0) of `count`
    tells: one each from four scenes on; two or three scenes share the four beats."""
    return range(index * 4 // count, ((index + 1) * 4 - 1) // count + 1)


def season_entry(context: ToolContext, number: int | None) -> tuple[Season, SeasonEpisode]:
    """The current season and its episode `number` (None: the current episode's entry)."""
    season = seasons.current_season(context.db, context.project_id)
    if season is None:
        raise NotFound("There is no season yet: a director starts one.")
    entries = seasons.season_map(context.db, season.id)
    if number is None:
        current = episodes.current_episode(context.db, context.project_id)
        number = next((e.number for e in entries if current and e.episode_id == current.id), 1)
    entry = next((e for e in entries if e.number == number), None)
    if entry is None:
        raise NotFound(f"Season {season.number} has no episode {number}.")
    return season, entry


def told_by(scenes: Sequence[Scene], beats: Iterable[str]) -> list[Scene]:
    """The scenes that tell these beats."""
    wanted = {BEATS.index(beat) for beat in beats}
    count = len(scenes)
    return [s for i, s in enumerate(scenes) if wanted.intersection(beats_of_scene(i, count))]


def edit_beats(
    context: ToolContext,
    episode_number: int | None = None,
    hook: str | None = None,
    escalation: str | None = None,
    twist: str | None = None,
    cliffhanger: str | None = None,
) -> str:
    """Store new wording for an episode's beats; say which approved shots it invalidates."""
    if not context.is_director:
        raise NotAllowed("Only the project's director can change a season's beats.")
    _, entry = season_entry(context, episode_number)
    given = {"hook": hook, "escalation": escalation, "twist": twist, "cliffhanger": cliffhanger}
    values = {beat: clean_text(text)[:300] for beat, text in given.items() if text}
    if not any(values.values()):
        raise InvalidInput('Name a beat and its new wording, e.g. "episode 2\'s twist: ...".')
    old = entry.beats or Beats(entry.logline, entry.logline, entry.logline, entry.cliffhanger)
    new = replace(old, **{beat: text for beat, text in values.items() if text})
    changed = [beat for beat in BEATS if getattr(new, beat) != getattr(old, beat)]
    if not changed:
        return f"Episode {entry.number}'s beats already say that; nothing changed."
    seasons.set_beats(context.db, entry.id, new, author_id=context.user_id)
    said = f"Episode {entry.number}'s {' and '.join(changed)} changed."
    if entry.episode_id is None:
        return f"{said} The episode is not written yet: it will be written from these beats."
    scenes = told_by(plan.list_scenes(context.db, entry.episode_id), changed)
    told = scene_ids(scenes)
    shots = plan.list_shots(context.db, entry.episode_id)
    approved = [s.number for s in shots if s.scene_id in told and s.status == ShotStatus.APPROVED]
    invalid = (
        f"It invalidates approved shots {listed(approved)}."
        if approved
        else "None of their shots is approved yet."
    )
    which = (
        f"Scenes {listed([s.number for s in scenes])} tell"
        if len(scenes) > 1
        else f"Scene {scenes[0].number} tells"
    )
    return (
        f"{said} {which} it. {invalid} "
        f'Say "rewrite episode {entry.number}" to write those scenes and their shots again.'
    )


def scene_ids(scenes: Iterable[Scene]) -> set[int]:
    return {scene.id for scene in scenes}


def listed(numbers: Sequence[int]) -> str:
    return ", ".join(str(number) for number in numbers)
