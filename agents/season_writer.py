"""A season written in small steps that even the embedded model gets right: the season map,
then per episode its beats, its scenes, and each scene's shots, each one bounded call.

What is stored after each step stays: the map first, then an episode's beats, then its whole
plan in one transaction. A season stopped part way is continued from the first episode on the
map without a plan, never written twice. A step that fails is asked again alone (the model
caller's repair), never the whole season.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import HumanMessage

from agents.beat_edits import beats_of_scene
from agents.plan_writer import (
    cast_the_named,
    name_problems,
    names_hint,
    rewrite_repeats,
    shots_of,
)
from agents.premise import premise_names
from agents.prompts import CANON_FACTS, EPISODE_BEATS, EPISODE_SCENES, SCENE_SHOTS, SEASON_MAP
from agents.schemas import ShotDraft
from agents.season_schemas import (
    BeatsDraft,
    CastDraft,
    MapEntryDraft,
    SceneOutlineDraft,
    SeasonEpisodeDraft,
    SeasonMapDraft,
    canon_schema,
    line_budget,
    scenes_schema,
    season_map_schema,
    shots_schema,
)
from agents.structured import ModelCaller
from agents.tools import ToolContext, to_episode_plan
from storage import canon, characters, plan, seasons
from storage.errors import NotAllowed
from storage.models import Beats, CanonFact, Character, Episode, Season, SeasonEpisode

SECONDS_PER_SCENE = 20.0
SECONDS_PER_SHOT = 3.5
SHOT_SECONDS = (1.5, 10.0)
MAX_CAST = 8  # a step's prompt and grammar stay small
_CJK = re.compile(r"[\u4e00-\u9fff]")


def in_chinese(premise: str) -> bool:
    return bool(_CJK.search(premise))


def language_hint(premise: str) -> str:
    if in_chinese(premise):
        return "\nWrite every title, description and line of dialogue in Chinese (用中文写)."
    return ""


def scene_count(episode_seconds: float) -> int:
    """A one-minute episode has 3 scenes, a three-minute one 9."""
    return max(2, min(9, round(episode_seconds / SECONDS_PER_SCENE)))


def shot_range(scene_seconds: float) -> tuple[int, int]:
    shots = max(2, round(scene_seconds / SECONDS_PER_SHOT))
    return max(2, shots - 1), min(12, shots)


def rotate_hooks(entries: Sequence[MapEntryDraft]) -> None:
    """No two consecutive episodes open the same way: a repeat takes the first other hook."""
    for before, entry, after in zip(
        [None, *entries[:-1]], entries, [*entries[1:], None], strict=True
    ):
        if before is not None and entry.hook_type == before.hook_type:
            taken = {before.hook_type, after.hook_type if after else None}
            entry.hook_type = next(hook for hook in seasons.HOOK_TYPES if hook not in taken)


def fit_durations(draft: SeasonEpisodeDraft, target_seconds: float) -> None:
    """Shot lengths scaled so the episode runs its target length, each within SHOT_SECONDS."""
    shots = shots_of(draft)
    low, high = SHOT_SECONDS
    for _ in range(3):  # clamping moves the total: scale again from what it left
        total = sum(shot.duration for shot in shots)
        if not total or abs(total - target_seconds) <= 0.02 * target_seconds:
            return
        factor = target_seconds / total
        for shot in shots:
            shot.duration = round(min(high, max(low, shot.duration * factor)), 2)


async def write_season(
    caller: ModelCaller, context: ToolContext, premise: str, episode_count: int, minutes: float
) -> Season:
    """The season map and the cast, stored: the first step of a season."""
    seasons.check_season_shape(premise, episode_count, minutes)
    if not context.is_director:
        raise NotAllowed("Only the project's director can start a season; nothing was changed.")
    names = premise_names(premise)
    prompt = SEASON_MAP.format(
        episodes=episode_count,
        minutes=minutes,
        hooks=", ".join(seasons.HOOK_TYPES),
        premise=premise,
        language=language_hint(premise),
    )
    schema = season_map_schema(episode_count)
    draft: SeasonMapDraft = await caller.ask(
        schema,
        [HumanMessage(prompt + names_hint(names))],
        check=lambda draft: name_problems(names, map_text(draft)),
    )
    fill_map_gaps(draft, premise)
    rotate_hooks(draft.episodes)
    cast = [c.name.lower() for c in draft.cast]
    for person in names.people:
        if person.lower() not in cast and len(draft.cast) < 6:
            draft.cast.append(CastDraft(name=person, description="from the premise"))
    season_plan = seasons.SeasonPlan(
        premise=premise,
        episode_seconds=minutes * 60,
        episodes=tuple(
            seasons.MapEntry(e.title, e.logline, e.hook_type, e.cliffhanger) for e in draft.episodes
        ),
        logline=draft.logline,
        world=draft.world,
        tone=draft.tone,
        visual_style=draft.visual_style,
        cast=tuple(seasons.CastMember(c.name, c.description, c.look, c.arc) for c in draft.cast),
    )
    return seasons.create_season(
        context.db, context.project_id, season_plan, author_id=context.user_id
    )


def fill_map_gaps(draft: SeasonMapDraft, premise: str) -> None:
    """What an answer left empty, from what it did say: a map entry is never blank."""
    draft.logline = draft.logline or premise[:200]
    for number, entry in enumerate(draft.episodes, start=1):
        entry.title = entry.title or f"Episode {number}"
        entry.logline = entry.logline or entry.title
        entry.cliffhanger = entry.cliffhanger or "To be continued."


def map_text(draft: SeasonMapDraft) -> str:
    """Everything a reader sees of the season map, as one text (for the name checks)."""
    parts = [draft.logline, draft.world, *(f"{c.name} {c.description}" for c in draft.cast)]
    parts += [f"{e.title} {e.logline} {e.cliffhanger}" for e in draft.episodes]
    return "\n".join(parts)


@dataclass(frozen=True)
class EpisodeBrief:
    """What every writing step of one episode is told: its map entry, the cast it may name
    (with their canon), and the language to write in."""

    entry: SeasonEpisode
    cast: tuple[str, ...]
    cast_text: str
    chinese: bool
    language: str  # the line that asks for the premise's language ("" for English)


def episode_brief(context: ToolContext, season: Season, entry: SeasonEpisode) -> EpisodeBrief:
    members = writing_cast(context)
    return EpisodeBrief(
        entry,
        tuple(member.name for member in members),
        cast_with_canon(members, canon.canon(context.db, season.id)),
        in_chinese(season.premise),
        language_hint(season.premise),
    )


async def write_outline(
    caller: ModelCaller, brief: EpisodeBrief, beats: Beats, count: int
) -> list[SceneOutlineDraft]:
    """The episode's `count` scenes, a heading and a summary each, from its beats."""
    entry = brief.entry
    request = EPISODE_SCENES.format(
        number=entry.number,
        title=entry.title,
        hook=beats.hook,
        escalation=beats.escalation,
        twist=beats.twist,
        cliffhanger=beats.cliffhanger,
        cast=brief.cast_text,
        scenes=count,
        language=brief.language,
    )
    outline = await caller.ask(scenes_schema(count), [HumanMessage(request)])
    spine = (beats.hook, beats.escalation, beats.twist, beats.cliffhanger)
    for index, scene in enumerate(outline.scenes):
        scene.heading = scene.heading or f"Scene {index + 1}"
        scene.summary = scene.summary or spine[beats_of_scene(index, count)[0]]
    return list(outline.scenes)


async def write_scene_shots(
    caller: ModelCaller,
    brief: EpisodeBrief,
    scene: SceneOutlineDraft,
    position: tuple[int, int],
    shots: tuple[int, int],
    seconds: float,
    before: str,
) -> list[ShotDraft]:
    """Scene `position` = (number, of how many)'s shots, `shots` = (fewest, most) of them."""
    (number, count), (fewest, most) = position, shots
    request = SCENE_SHOTS.format(
        number=brief.entry.number,
        title=brief.entry.title,
        scene=number,
        scenes=count,
        heading=scene.heading,
        summary=scene.summary,
        before=f"The scene before ended on: {before}\n" if before else "",
        cast=brief.cast_text,
        fewest=fewest,
        most=most,
        seconds=seconds,
        language=brief.language,
    )
    line_chars = line_budget(seconds / ((fewest + most) / 2), brief.chinese)
    schema = shots_schema(fewest, most, brief.cast, chinese=brief.chinese, line_chars=line_chars)
    written = await caller.ask(schema, [HumanMessage(request)])
    for shot in written.shots:
        shot.description = shot.description or shot.dialogue or scene.summary
        if len(shot.dialogue) >= line_chars and " " in shot.dialogue:  # cut short: at a word
            shot.dialogue = shot.dialogue.rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return list(written.shots)


async def write_next_episode(
    caller: ModelCaller, context: ToolContext, season: Season
) -> Episode | None:
    """The first episode on the map without a plan, written and stored; None when every
    episode has one."""
    entry = seasons.next_unwritten(context.db, season.id)
    if entry is None:
        return None
    db = context.db
    brief = episode_brief(context, season, entry)
    beats = entry.beats or await _write_beats(caller, context, season, entry, brief.language)
    own_seconds = seasons.shot_seconds(season, entry.number)  # the recap and teaser aside
    count = scene_count(own_seconds)
    outline = await write_outline(caller, brief, beats, count)
    scene_seconds = own_seconds / count
    scenes = []
    before = ""
    for index, scene in enumerate(outline, start=1):
        shots = await write_scene_shots(
            caller, brief, scene, (index, count), shot_range(scene_seconds), scene_seconds, before
        )
        dumped = [shot.model_dump() for shot in shots]
        scenes.append(
            {
                "heading": scene.heading,
                "summary": scene.summary,
                "mood": scene.mood,
                "shots": dumped,
            }
        )
        before = shots[-1].description
    draft = SeasonEpisodeDraft.model_validate(
        {
            "title": entry.title,
            "logline": "",
            "synopsis": " ".join((beats.hook, beats.escalation, beats.twist, beats.cliffhanger)),
            "characters": [{"name": name} for name in brief.cast],
            "scenes": scenes,
        }
    )
    cast_the_named(draft, premise_names(season.premise))
    await rewrite_repeats(caller, draft, chinese=brief.chinese)
    fit_durations(draft, own_seconds)
    episode_plan = replace(to_episode_plan(draft), teaser=entry.cliffhanger)
    with db.atomic():
        episode = plan.save_episode_plan(
            db, context.project_id, episode_plan, author_id=context.user_id
        )
        seasons.link_episode(db, entry.id, episode.id)
    return episode


async def _write_beats(
    caller: ModelCaller, context: ToolContext, season: Season, entry: SeasonEpisode, language: str
) -> Beats:
    """The episode's beats, stored at once: a stopped run does not write them again."""
    earlier = [e for e in seasons.season_map(context.db, season.id) if e.number < entry.number]
    previously = ""
    if earlier:
        previously = f"Previously: {earlier[-1].logline} It ended: {earlier[-1].cliffhanger}\n"
    request = EPISODE_BEATS.format(
        logline=season.logline,
        number=entry.number,
        count=season.episode_count,
        title=entry.title,
        episode_logline=entry.logline,
        hook_type=entry.hook_type,
        cliffhanger=entry.cliffhanger,
        previously=previously,
        language=language,
    )
    answer = await caller.ask(BeatsDraft, [HumanMessage(request)])
    beats = Beats(  # a beat left empty: the map's own words for the episode
        answer.hook or entry.logline,
        answer.escalation or entry.logline,
        answer.twist or entry.logline,
        answer.cliffhanger or entry.cliffhanger,
    )
    seasons.set_beats(context.db, entry.id, beats)
    return beats


def writing_cast(context: ToolContext) -> list[Character]:
    """The characters a writing step is told of (and may name), the first MAX_CAST of them."""
    return characters.list_characters(context.db, context.project_id)[:MAX_CAST]


def cast_with_canon(members: Sequence[Character], facts: Sequence[CanonFact]) -> str:
    """The cast as the writing steps see it: who each is, and what must stay true of them."""
    parts = []
    for member in members:
        held = [f.fact for f in facts if f.subject.lower() == member.name.lower()][:4]
        known = "; ".join([member.description or "no description", *held])
        parts.append(f"{member.name} ({known})")
    return "; ".join(parts)


async def extend_canon(
    caller: ModelCaller, context: ToolContext, season: Season, episode: Episode
) -> list[CanonFact]:
    """After an episode is approved: the facts it establishes, added to the season's canon
    (once: an episode whose facts are on record adds none)."""
    db = context.db
    if any(fact.episode_id == episode.id for fact in canon.canon(db, season.id)):
        return []
    cast = tuple(member.name for member in writing_cast(context))
    places = tuple(dict.fromkeys(s.heading.split(",")[0] for s in plan.list_scenes(db, episode.id)))
    subjects = (*cast, *places[:4])
    request = CANON_FACTS.format(
        number=episode.number,
        title=episode.title,
        plan=plan.plan_summary(db, episode.id, limit=2500),
        subjects=", ".join(subjects),
    )
    answer = await caller.ask(canon_schema(subjects), [HumanMessage(request)])
    added = []
    with db.atomic():
        for fact in answer.facts:
            if fact.subject and fact.fact:
                added.append(
                    canon.add_fact(
                        db, season.id, fact.kind, fact.subject, fact.fact, episode_id=episode.id
                    )
                )
    return added
