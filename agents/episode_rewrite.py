"""An episode's scenes and shots written again from its beats, on request ("rewrite episode
2", after its twist was changed): the scenes that tell the changed beats (beat_edits.told_by),
in place, shot for shot. Shot numbers, the other scenes and their approved takes stay; a
rewritten shot that was approved or in review is marked for a retake. All model calls come
first, then one transaction: a failed step changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from agents.beat_edits import listed, season_entry, told_by
from agents.context import ToolContext
from agents.plan_writer import rewrite_each_repeat
from agents.requests import BEATS
from agents.season_schemas import SeasonEpisodeDraft
from agents.season_writer import (
    episode_brief,
    fit_durations,
    write_outline,
    write_scene_shots,
)
from agents.structured import ModelCaller
from pipeline import workflow
from storage import episodes, plan
from storage.errors import InvalidState, NotAllowed
from storage.models import Scene, Season, SeasonEpisode, Shot
from storage.revisions import history
from storage.status import IN_FLIGHT, EpisodeStatus


def changed_since_written(context: ToolContext, entry: SeasonEpisode) -> tuple[str, ...]:
    """The beats that differ from the ones before the last edit."""
    before = history(context.db, "season_episode", entry.id)
    if not before or entry.beats is None or not before[-1].data.get("beats"):
        return ()
    old, now = json.loads(before[-1].data["beats"]), asdict(entry.beats)
    return tuple(beat for beat in BEATS if old.get(beat) != now[beat])


async def rewrite_episode(
    caller: ModelCaller,
    context: ToolContext,
    episode_number: int | None,
    beats: tuple[str, ...] = (),
) -> tuple[int, str]:
    """Write again the scenes that tell `beats` (none named: the beats changed by the last
    edit; none changed: every scene), in place. The episode's id and what to tell the team."""
    if not context.is_director:
        raise NotAllowed("Only the project's director can rewrite an episode.")
    season, entry = season_entry(context, episode_number)
    if entry.episode_id is None or entry.beats is None:
        raise InvalidState(
            f"Episode {entry.number} is not written yet: there is nothing to rewrite."
        )
    db = context.db
    episode = episodes.get_episode(db, entry.episode_id)
    if episode.status == EpisodeStatus.CUTTING:
        raise InvalidState(f"Episode {entry.number} is being cut; rewrite it after the cut.")
    all_scenes = plan.list_scenes(db, episode.id)
    scenes = told_by(all_scenes, beats or changed_since_written(context, entry) or BEATS)
    shots: dict[int, list[Shot]] = {}
    for shot in plan.list_shots(db, episode.id):
        shots.setdefault(shot.scene_id, []).append(shot)
    scenes = [scene for scene in scenes if shots.get(scene.id)]  # a scene all cut has none
    rewritten = [s for scene in scenes for s in shots[scene.id]]
    busy = [s.number for s in rewritten if s.status in IN_FLIGHT]
    if busy:
        raise InvalidState(
            f"Shots {listed(busy)} are queued or rendering: rewrite when they are done."
        )
    draft = await _written_again(caller, context, season, entry, all_scenes, scenes, shots)
    with db.atomic():
        for scene, written in zip(scenes, draft.scenes, strict=True):
            plan.edit_scene(
                db,
                scene.id,
                heading=written.heading,
                summary=written.summary,
                author_id=context.user_id,
                reason="rewritten from the beats",
            )
            for old, new in zip(shots[scene.id], written.shots, strict=False):
                plan.edit_shot(
                    db,
                    old.id,
                    author_id=context.user_id,
                    reason="rewritten from the beats",
                    description=new.description,
                    dialogue=new.dialogue,
                    camera=new.camera,
                    duration=new.duration,
                    characters=new.characters,
                    prompt="",
                )
        reopened = workflow.shots_rewritten(db, episode.id, [s.id for s in rewritten])
    told = (
        f"approved or in review before, now marked for a retake: {listed(reopened)}"
        if reopened
        else "none of them was approved"
    )
    return episode.id, (
        f"Episode {entry.number}: scenes {listed([s.number for s in scenes])} written again "
        f"from the beats (shots {listed([s.number for s in rewritten])}; {told})."
    )


async def _written_again(
    caller: ModelCaller,
    context: ToolContext,
    season: Season,
    entry: SeasonEpisode,
    all_scenes: Sequence[Scene],
    scenes: Sequence[Scene],
    shots: dict[int, list[Shot]],
) -> SeasonEpisodeDraft:
    """The chosen scenes written again, each with as many shots as it has, in its length."""
    assert entry.beats is not None
    brief = episode_brief(context, season, entry)
    outline = await write_outline(caller, brief, entry.beats, len(all_scenes))
    written = []
    for scene in scenes:
        old = shots[scene.id]
        index = scene.number - 1
        before = ""
        if index > 0 and shots.get(all_scenes[index - 1].id):
            before = shots[all_scenes[index - 1].id][-1].description
        seconds = sum(shot.duration for shot in old)
        new = await write_scene_shots(
            caller,
            brief,
            outline[index],
            (scene.number, len(all_scenes)),
            (len(old), len(old)),
            seconds,
            before,
        )
        one = SeasonEpisodeDraft.model_validate(
            {
                "title": entry.title,
                "synopsis": "",
                "scenes": [{**outline[index].model_dump(), "shots": [s.model_dump() for s in new]}],
            }
        )
        fit_durations(one, seconds)
        written.append(one.scenes[0])
    draft = SeasonEpisodeDraft(title=entry.title, synopsis="", scenes=written)
    await rewrite_each_repeat(caller, draft, chinese=brief.chinese)
    return draft
