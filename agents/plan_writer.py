"""An episode plan written from a premise, and made usable even when the model is small.

The plan is one bounded structured call (the schema's grammar holds the camera to the
vocabulary). What a valid plan can still get wrong is found in code and fixed in small steps:
- names from the premise missing: the model is asked once again, naming them; a person it still
  leaves out joins the cast, so the character sheet and prompts carry them;
- a repeated line or description: that shot alone is written again; a line that repeats even
  then is dropped (a silent shot), never kept twice.
"""

from __future__ import annotations

import re

from langchain_core.messages import HumanMessage

from agents.premise import PremiseNames, missing_names, premise_names
from agents.prompts import PLAN_WRITER, REWRITE
from agents.schemas import (
    LINE_CHARS,
    CharacterDraft,
    ChineseLineRewrite,
    EpisodeDraft,
    LineRewrite,
    ShotDraft,
    ShotRewrite,
)
from agents.structured import ModelCaller

MAX_REWRITES = 12  # per plan: each is one small call
_NOT_WORDS = re.compile(r"[\W_]+")


def plan_text(draft: EpisodeDraft) -> str:
    """Everything a reader sees of the plan, as one text (for the name checks)."""
    parts = [draft.title, draft.logline, draft.synopsis]
    parts += [f"{c.name} {c.description}" for c in draft.characters]
    for scene in draft.scenes:
        parts += [scene.heading, scene.summary]
        parts += [f"{s.description} {s.dialogue} {' '.join(s.characters)}" for s in scene.shots]
    return "\n".join(parts)


def same_words(text: str) -> str:
    """A line as compared for repeats: case, spacing and punctuation ignored."""
    return _NOT_WORDS.sub(" ", text.lower()).strip()


def repeated_shots(draft: EpisodeDraft) -> list[tuple[int, ShotDraft, str]]:
    """(shot number, shot, "dialogue" or "description") for each shot whose line or
    description repeats an earlier shot's."""
    seen: dict[str, set[str]] = {"dialogue": set(), "description": set()}
    repeats = []
    for number, shot in enumerate(shots_of(draft), start=1):
        for field in ("dialogue", "description"):
            key = same_words(getattr(shot, field))
            if key and key in seen[field]:
                repeats.append((number, shot, field))
            seen[field].add(key)
    return repeats


def names_hint(names: PremiseNames) -> str:
    """The line that asks a plan step to use the premise's names (none when it gives none)."""
    return f"\nUse these names from the premise: {', '.join(names.all)}." if names.all else ""


def name_problems(names: PremiseNames, text: str) -> list[str]:
    """The repair request when `text` leaves out names the premise gives."""
    missing = missing_names(names, text)
    if not missing:
        return []
    return [f"the premise names {', '.join(missing)}: use these names in the plan"]


async def draft_plan(
    caller: ModelCaller, premise: str, schema: type[EpisodeDraft] = EpisodeDraft
) -> EpisodeDraft:
    names = premise_names(premise)
    prompt = PLAN_WRITER.format(premise=premise) + names_hint(names)
    draft = await caller.ask(
        schema, [HumanMessage(prompt)], check=lambda draft: name_problems(names, plan_text(draft))
    )
    cast_the_named(draft, names)
    await rewrite_repeats(caller, draft)
    return draft


def cast_the_named(draft: EpisodeDraft, names: PremiseNames) -> None:
    """People the premise names and the plan still leaves out join its cast, while there is
    room (the schema's own bound)."""
    room = type(draft).model_fields["characters"].metadata
    limit = next((meta.max_length for meta in room if hasattr(meta, "max_length")), 4)
    missing = set(missing_names(PremiseNames(people=names.people), plan_text(draft)))
    for person in names.people:
        if person in missing and len(draft.characters) < limit:
            draft.characters.append(CharacterDraft(name=person, description="from the premise"))


async def rewrite_repeats(
    caller: ModelCaller, draft: EpisodeDraft, *, chinese: bool = False
) -> None:
    """Each repeated line or description written again, one shot at a time (a line in Chinese
    when the premise is); then a shot that still shows what the shot before it showed, and
    says nothing new, joins that shot (one longer shot), and a line that only reads out its
    own shot's description is dropped."""
    await rewrite_each_repeat(caller, draft, chinese=chinese)
    for scene in draft.scenes:
        kept: list[ShotDraft] = []
        for shot in scene.shots:
            if same_words(shot.dialogue) == same_words(shot.description):
                shot.dialogue = ""
            before = kept[-1] if kept else None
            if (
                before is not None
                and same_words(shot.description) == same_words(before.description)
                and same_words(shot.dialogue) in ("", same_words(before.dialogue))
            ):
                before.duration += shot.duration
                continue
            kept.append(shot)
        scene.shots = kept


async def rewrite_each_repeat(
    caller: ModelCaller, draft: EpisodeDraft, *, chinese: bool = False
) -> None:
    """Each repeated line or description asked for again, with its scene around it (not
    "this repeats": a small model answers that with talk about repeating)."""
    shots = shots_of(draft)
    for rewrites, (number, shot, field) in enumerate(repeated_shots(draft)):
        if rewrites < MAX_REWRITES:
            used = {same_words(getattr(s, field)) for s in shots if s is not shot}
            scene = next(s for s in draft.scenes if any(one is shot for one in s.shots))
            previous = shots[number - 2].description if number > 1 else "the episode's start"
            request = REWRITE[field].format(
                title=draft.title,
                heading=scene.heading,
                summary=scene.summary,
                number=number,
                previous=previous,
                description=shot.description,
            )
            schema = ShotRewrite
            if field == "dialogue":
                schema = ChineseLineRewrite if chinese else LineRewrite
            answer = await caller.ask(schema, [HumanMessage(request)])
            new = same_words(answer.text)
            if new and new not in used and not echoes(answer.text, request.splitlines()[-1]):
                setattr(shot, field, answer.text[: LINE_CHARS if field == "dialogue" else 300])
                continue
        if field == "dialogue":
            shot.dialogue = ""  # silence rather than the same line twice


def echoes(answer: str, instruction: str, run: int = 4) -> bool:
    """Whether `answer` repeats `run` words in a row of the instruction it was given: a small
    model copies its orders ("a short sentence, in the language of the scene") into the line."""
    said = f" {same_words(answer)} "
    words = same_words(instruction).split()
    return any(f" {' '.join(words[i : i + run])} " in said for i in range(len(words) - run + 1))


def shots_of(draft: EpisodeDraft) -> list[ShotDraft]:
    return [shot for scene in draft.scenes for shot in scene.shots]
