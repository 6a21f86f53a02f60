"""Structured-output models for the LLM. Bounded so a small model cannot run away.

Strings are trimmed to their bound before validation rather than rejected: a slightly long
description from a weak model is still a usable plan.
"""

from __future__ import annotations

from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, Field, field_validator, model_validator


class BoundedModel(BaseModel):
    """Trims every over-long string field to its max_length before validation."""

    @model_validator(mode="before")
    @classmethod
    def _trim_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        trimmed = dict(data)
        for name, field in cls.model_fields.items():
            value = trimmed.get(name)
            limits = [meta.max_length for meta in field.metadata if isinstance(meta, MaxLen)]
            if value is None and field.annotation is str:
                trimmed[name] = ""
            elif isinstance(value, str) and limits:
                trimmed[name] = value[: limits[0]]
        return trimmed


class ShotDraft(BoundedModel):
    """One shot of a vertical short drama."""

    description: str = Field(
        min_length=3, max_length=300, description="What we see, in one sentence"
    )
    camera: str = Field(min_length=3, max_length=60, description="e.g. close-up, wide, low angle")
    duration: float = Field(default=4.0, description="Seconds on screen, 1 to 15")
    dialogue: str = Field(min_length=2, max_length=160, description="The line spoken (subtitled)")
    characters: list[str] = Field(default_factory=list, max_length=4)

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        try:
            return min(15.0, max(1.0, float(value)))
        except (TypeError, ValueError):
            return 4.0

    @field_validator("characters", mode="before")
    @classmethod
    def _characters(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return []
        return [str(name)[:40] for name in value if str(name).strip()][:4]


class SceneDraft(BoundedModel):
    heading: str = Field(
        min_length=2, max_length=80, description="Place and time, e.g. 'Shore, dusk'"
    )
    summary: str = Field(default="", max_length=300)
    shots: list[ShotDraft] = Field(min_length=1, max_length=8)


class CharacterDraft(BoundedModel):
    name: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=200)
    look: str = Field(default="", max_length=200, description="Visual look for image prompts")


class EpisodeDraft(BoundedModel):
    """A complete one-episode plan: title, characters, scenes with shots."""

    title: str = Field(min_length=2, max_length=80)
    logline: str = Field(default="", max_length=200)
    synopsis: str = Field(default="", max_length=500)
    characters: list[CharacterDraft] = Field(default_factory=list, max_length=4)
    scenes: list[SceneDraft] = Field(min_length=1, max_length=6)


class CompactSceneDraft(SceneDraft):
    shots: list[ShotDraft] = Field(min_length=2, max_length=3)


class CompactEpisodeDraft(EpisodeDraft):
    """The same plan with tighter bounds, so a small local model cannot loop to the limit."""

    characters: list[CharacterDraft] = Field(default_factory=list, max_length=2)
    scenes: list[CompactSceneDraft] = Field(min_length=2, max_length=3)


class ShotEditDraft(BoundedModel):
    """Changes to one shot; fields left empty stay as they are."""

    shot_number: int = Field(ge=1, le=500)
    description: str | None = Field(default=None, max_length=300)
    camera: str | None = Field(default=None, max_length=60)
    dialogue: str | None = Field(default=None, max_length=200)
    prompt: str | None = Field(default=None, max_length=600)


class DirectorTurn(BoundedModel):
    """One answer of the writers'-room agent when the model cannot call tools freely."""

    reply: str = Field(max_length=1500, description="What to say to the team")
    action: Literal["none", "write_plan", "edit_shot"] = "none"
    plan: EpisodeDraft | None = None
    edit: ShotEditDraft | None = None


class PromptRevision(BoundedModel):
    """A shot's image prompt rewritten to follow a reviewer's retake note."""

    prompt: str = Field(min_length=3, max_length=600, description="The whole revised prompt")


class CompactDirectorTurn(DirectorTurn):
    plan: CompactEpisodeDraft | None = None
