"""Structured-output models for the LLM. Bounded so a small model cannot run away.

Strings are trimmed to their bound before validation rather than rejected: a slightly long
description from a weak model is still a usable plan.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


def _trim(value: Any, limit: int) -> Any:
    if value is None:
        return ""
    return value[:limit] if isinstance(value, str) else value


class ShotDraft(BaseModel):
    """One shot of a vertical short drama."""

    description: str = Field(
        min_length=3, max_length=300, description="What we see, in one sentence"
    )
    camera: str = Field(min_length=3, max_length=60, description="e.g. close-up, wide, low angle")
    duration: float = Field(default=4.0, description="Seconds on screen, 1 to 15")
    dialogue: str = Field(min_length=2, max_length=160, description="The line spoken (subtitled)")
    characters: list[str] = Field(default_factory=list, max_length=4)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        return _trim(value, 300)

    @field_validator("camera", mode="before")
    @classmethod
    def _camera(cls, value: Any) -> Any:
        return _trim(value, 60)

    @field_validator("dialogue", mode="before")
    @classmethod
    def _dialogue(cls, value: Any) -> Any:
        return _trim(value, 160)

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


class SceneDraft(BaseModel):
    heading: str = Field(
        min_length=2, max_length=80, description="Place and time, e.g. 'Rugged shore, dusk'"
    )
    summary: str = Field(default="", max_length=300)
    shots: list[ShotDraft] = Field(min_length=1, max_length=8)

    @field_validator("heading", mode="before")
    @classmethod
    def _heading(cls, value: Any) -> Any:
        return _trim(value, 80)

    @field_validator("summary", mode="before")
    @classmethod
    def _summary(cls, value: Any) -> Any:
        return _trim(value, 300)


class CharacterDraft(BaseModel):
    name: str = Field(max_length=40)
    description: str = Field(default="", max_length=200)
    look: str = Field(default="", max_length=200, description="Visual look for image prompts")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return _trim(value, 40)

    @field_validator("description", "look", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _trim(value, 200)


class EpisodeDraft(BaseModel):
    """A complete one-episode plan: title, characters, scenes with shots."""

    title: str = Field(min_length=2, max_length=80)
    logline: str = Field(default="", max_length=200)
    synopsis: str = Field(default="", max_length=500)
    characters: list[CharacterDraft] = Field(default_factory=list, max_length=4)
    scenes: list[SceneDraft] = Field(min_length=1, max_length=6)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        return _trim(value, 80)

    @field_validator("logline", mode="before")
    @classmethod
    def _logline(cls, value: Any) -> Any:
        return _trim(value, 200)

    @field_validator("synopsis", mode="before")
    @classmethod
    def _synopsis(cls, value: Any) -> Any:
        return _trim(value, 500)


class CompactSceneDraft(SceneDraft):
    shots: list[ShotDraft] = Field(min_length=2, max_length=3)


class CompactEpisodeDraft(EpisodeDraft):
    """The same plan with tighter bounds, so a small local model cannot loop to the limit."""

    characters: list[CharacterDraft] = Field(default_factory=list, max_length=2)
    scenes: list[CompactSceneDraft] = Field(min_length=2, max_length=3)


class DirectorTurn(BaseModel):
    """One answer of the writers'-room agent when the model cannot call tools freely."""

    reply: str = Field(max_length=1500, description="What to say to the team")
    action: Literal["none", "write_plan"] = "none"
    plan: EpisodeDraft | None = None

    @field_validator("reply", mode="before")
    @classmethod
    def _reply(cls, value: Any) -> Any:
        return _trim(value, 1500)


class CompactDirectorTurn(DirectorTurn):
    plan: CompactEpisodeDraft | None = None
