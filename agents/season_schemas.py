"""Structured-output models for writing a season in small steps: the season map, an episode's
beats, its scenes, then each scene's shots. Each is one bounded call; the sizes that depend on
the season (how many episodes, scenes, shots; who is in the cast) are set per call, so a
grammar-constrained model can only answer with that many, naming only the cast."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, create_model, field_validator

from agents.schemas import (
    CHINESE_LINE,
    CHINESE_LINE_CHARS,
    LINE_CHARS,
    BoundedModel,
    CharacterDraft,
    EpisodeDraft,
    SceneDraft,
    ShotDraft,
    drop_nameless,
)
from pipeline.sound.score import DEFAULT_MOOD, MOODS, mood_of
from storage.canon import CANON_KINDS
from storage.seasons import HOOK_TYPES

HookType = Literal[HOOK_TYPES]  # type: ignore[valid-type]
Mood = Literal[tuple(MOODS)]  # type: ignore[valid-type]
_GRAMMAR_SAFE = re.compile(r"[\w '’.·-]{1,40}")


def grammar_safe(names: tuple[str, ...]) -> list[str]:
    """The names a decoder's grammar can hold as literals (clean_name makes names so; a name
    stored before, or typed by a person, may not be)."""
    return [name for name in names if _GRAMMAR_SAFE.fullmatch(name)]


def _every_field_required(schema: dict[str, Any]) -> None:
    schema["required"] = list(schema.get("properties", {}))


class StepModel(BoundedModel):
    """One step's answer. Its schema requires every field, so a constrained decoder writes
    each one (a field with a default would otherwise be left out); validation stays lenient."""

    model_config = ConfigDict(json_schema_extra=_every_field_required)


def text(most: int, description: str = "", *, fewest: int = 3) -> Any:
    """A text field a constrained decoder must write (`fewest` characters or more), which an
    answer may still leave empty after cleaning: the season writer fills that gap in code
    rather than failing a whole step over one field."""
    return Field(
        default="",
        max_length=most,
        description=description,
        json_schema_extra={"minLength": fewest},
    )


class CastDraft(StepModel):
    names: ClassVar[frozenset[str]] = frozenset({"name"})

    name: str = text(40, fewest=1)
    description: str = text(200)
    look: str = text(200, "Visual look for image prompts")
    arc: str = text(200, "How they change over the season")


class MapEntryDraft(StepModel):
    title: str = text(80, fewest=2)
    logline: str = text(200, "The episode in a sentence")
    hook_type: HookType = Field(description="How the episode opens")  # type: ignore[valid-type]
    cliffhanger: str = text(200, "How it ends, unresolved")

    @field_validator("hook_type", mode="before")
    @classmethod
    def _hook(cls, value: Any) -> Any:
        text = str(value or "").strip().lower()
        return next((hook for hook in HOOK_TYPES if hook in text or text in hook), value)


class SeasonMapDraft(StepModel):
    """The series bible, its cast and a map of the season's episodes."""

    logline: str = text(200)
    world: str = text(300, "Where and when it happens")
    tone: str = text(100)
    visual_style: str = text(200, "For every image prompt")
    cast: list[CastDraft] = Field(
        default_factory=list, max_length=6, json_schema_extra={"minItems": 1}
    )

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return drop_nameless(data, "cast")

    episodes: list[MapEntryDraft]


class BeatsDraft(StepModel):
    """An episode's spine: four sentences."""

    hook: str = text(200, "The opening that grabs")
    escalation: str = text(200, "How it gets worse")
    twist: str = text(200, "What changes everything")
    cliffhanger: str = text(200, "The unresolved end")


class SceneOutlineDraft(StepModel):
    heading: str = text(80, "Place and time, 'Shore, dusk'", fewest=2)
    summary: str = text(300, "What happens, in a sentence")
    mood: Mood = Field(default=DEFAULT_MOOD, description="The scene's mood, for its music")  # type: ignore[valid-type]

    @field_validator("mood", mode="before")
    @classmethod
    def _mood(cls, value: Any) -> Any:
        return mood_of(str(value or ""))  # a word outside the vocabulary: the default mood


class ScenesDraft(StepModel):
    scenes: list[SceneOutlineDraft]


class ShotsDraft(StepModel):
    shots: list[ShotDraft]


class CanonFactDraft(StepModel):
    kind: Literal[CANON_KINDS]  # type: ignore[valid-type]
    subject: str = text(40, "The character, prop or place it is about", fewest=1)
    fact: str = text(120, "What must stay true, in a short sentence")


class CanonDraft(StepModel):
    facts: list[CanonFactDraft] = Field(max_length=6)


def canon_schema(subjects: tuple[str, ...]) -> type[CanonDraft]:
    """Facts whose subject a constrained decoder can only pick from `subjects`."""
    usable = grammar_safe(subjects)
    subject: Any = CanonFactDraft.model_fields["subject"]
    if usable:
        subject = Field(default="", max_length=40, json_schema_extra={"enum": usable})
    fact = create_model("CanonFactDraft", __base__=CanonFactDraft, subject=(str, subject))
    return create_model("CanonDraft", __base__=CanonDraft, facts=(list[fact], Field(max_length=6)))  # type: ignore[valid-type]


def season_map_schema(episodes: int) -> type[SeasonMapDraft]:
    entries = (list[MapEntryDraft], Field(min_length=episodes, max_length=episodes))
    return create_model("SeasonMapDraft", __base__=SeasonMapDraft, episodes=entries)


def scenes_schema(count: int) -> type[ScenesDraft]:
    scenes = (list[SceneOutlineDraft], Field(min_length=count, max_length=count))
    return create_model("ScenesDraft", __base__=ScenesDraft, scenes=scenes)


def line_budget(shot_seconds: float, chinese: bool) -> int:
    """How many characters a line may have to be spoken within about 70% of a shot of
    `shot_seconds` (the voices speak some 14 characters a second in English, 4 in Chinese):
    lines that fill every shot would make the episode longer than asked."""
    if chinese:
        return max(6, min(CHINESE_LINE_CHARS, round(0.7 * shot_seconds * 4)))
    return max(24, min(LINE_CHARS, round(0.7 * shot_seconds * 14)))


def shots_schema(
    fewest: int,
    most: int,
    cast: tuple[str, ...],
    *,
    chinese: bool = False,
    line_chars: int | None = None,
) -> type[ShotsDraft]:
    """`fewest` to `most` shots, every field written; a constrained decoder can only name the
    cast's characters, while what a tool-calling model writes is still read leniently ("li"
    is "Li Xingzhou", by the episode's own rules)."""
    usable = grammar_safe(cast)
    names: dict[str, Any] = {"items": {"type": "string"}}
    if usable:  # and at least one of them in each shot
        names = {"items": {"type": "string", "enum": usable}, "minItems": 1}
    every_field = ConfigDict(json_schema_extra=_every_field_required)
    shot = create_model(
        "ShotDraft",
        __base__=ShotDraft,
        __config__=every_field,
        description=(str, text(300, "What we see, in one sentence")),
        dialogue=(str, _line(chinese, line_chars)),
        characters=(
            list[str],
            Field(default_factory=list, max_length=4, json_schema_extra=names),
        ),
    )
    count = Field(min_length=1, max_length=most, json_schema_extra={"minItems": fewest})
    shots = (list[shot], count)  # type: ignore[valid-type]
    return create_model("ShotsDraft", __base__=ShotsDraft, shots=shots)


def _line(chinese: bool, most: int | None = None) -> Any:
    """The spoken line, of at most `most` characters: for a Chinese premise a constrained
    decoder can only write Chinese (a small model otherwise answers a Chinese premise in
    English); read leniently either way."""
    if not chinese:
        limit = most or LINE_CHARS
        return Field(default="", max_length=limit, description="The line spoken, or empty")
    return Field(
        default="",
        max_length=most or CHINESE_LINE_CHARS,
        description="The line spoken, in Chinese",
        json_schema_extra={"pattern": CHINESE_LINE},
    )


class SeasonSceneDraft(SceneDraft):
    shots: list[ShotDraft] = Field(min_length=1, max_length=12)


class SeasonEpisodeDraft(EpisodeDraft):
    """An episode put together from its steps: longer than one call could write."""

    characters: list[CharacterDraft] = Field(default_factory=list, max_length=8)
    scenes: list[SeasonSceneDraft] = Field(min_length=1, max_length=12)
