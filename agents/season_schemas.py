"""Structured-output models for writing a season in small steps: the season map, an episode's
beats, its scenes, then each scene's shots. Each is one bounded call; the sizes that depend on
the season (how many episodes, scenes, shots; who is in the cast) are set per call, so a
grammar-constrained model can only answer with that many, naming only the cast."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, create_model, field_validator

from agents.schemas import BoundedModel, CharacterDraft, EpisodeDraft, SceneDraft, ShotDraft
from storage.seasons import HOOK_TYPES

HookType = Literal[HOOK_TYPES]  # type: ignore[valid-type]
BEATS = ("hook", "escalation", "twist", "cliffhanger")


class CastDraft(BoundedModel):
    name: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=200)
    look: str = Field(default="", max_length=200, description="Visual look for image prompts")
    arc: str = Field(default="", max_length=200, description="How they change over the season")


class MapEntryDraft(BoundedModel):
    title: str = Field(min_length=2, max_length=80)
    logline: str = Field(min_length=3, max_length=200, description="The episode in a sentence")
    hook_type: HookType = Field(description="How the episode opens")  # type: ignore[valid-type]
    cliffhanger: str = Field(min_length=3, max_length=200, description="How it ends, unresolved")

    @field_validator("hook_type", mode="before")
    @classmethod
    def _hook(cls, value: Any) -> Any:
        text = str(value or "").strip().lower()
        return next((hook for hook in HOOK_TYPES if hook in text or text in hook), value)


class SeasonMapDraft(BoundedModel):
    """The series bible, its cast and a map of the season's episodes."""

    logline: str = Field(min_length=3, max_length=200)
    world: str = Field(default="", max_length=300, description="Where and when it happens")
    tone: str = Field(default="", max_length=100)
    visual_style: str = Field(default="", max_length=200, description="For every image prompt")
    cast: list[CastDraft] = Field(min_length=1, max_length=6)
    episodes: list[MapEntryDraft]


class BeatsDraft(BoundedModel):
    """An episode's spine: four sentences."""

    hook: str = Field(min_length=3, max_length=200, description="The opening that grabs")
    escalation: str = Field(min_length=3, max_length=200, description="How it gets worse")
    twist: str = Field(min_length=3, max_length=200, description="What changes everything")
    cliffhanger: str = Field(min_length=3, max_length=200, description="The unresolved end")


class SceneOutlineDraft(BoundedModel):
    heading: str = Field(min_length=2, max_length=80, description="Place and time, 'Shore, dusk'")
    summary: str = Field(min_length=3, max_length=300, description="What happens, in a sentence")


class ScenesDraft(BoundedModel):
    scenes: list[SceneOutlineDraft]


class ShotsDraft(BoundedModel):
    shots: list[ShotDraft]


def season_map_schema(episodes: int) -> type[SeasonMapDraft]:
    entries = (list[MapEntryDraft], Field(min_length=episodes, max_length=episodes))
    return create_model("SeasonMapDraft", __base__=SeasonMapDraft, episodes=entries)


def scenes_schema(count: int) -> type[ScenesDraft]:
    scenes = (list[SceneOutlineDraft], Field(min_length=count, max_length=count))
    return create_model("ScenesDraft", __base__=ScenesDraft, scenes=scenes)


def shots_schema(fewest: int, most: int, cast: tuple[str, ...]) -> type[ShotsDraft]:
    """`fewest` to `most` shots, whose characters can only be the cast's names."""
    shot: type[ShotDraft] = ShotDraft
    if cast:
        # the schema a constrained decoder follows names only the cast; what a tool-calling
        # model writes is still read leniently ("li" is "Li Xingzhou") by the episode's rules
        only_cast = {"items": {"type": "string", "enum": list(cast)}}
        names = (
            list[str],
            Field(default_factory=list, max_length=4, json_schema_extra=only_cast),
        )
        # a constrained decoder writes every field, a line and who is in the shot included
        every_field = ConfigDict(json_schema_extra={"required": list(ShotDraft.model_fields)})
        shot = create_model(
            "ShotDraft", __base__=ShotDraft, __config__=every_field, characters=names
        )
    shots = (list[shot], Field(min_length=fewest, max_length=most))  # type: ignore[valid-type]
    return create_model("ShotsDraft", __base__=ShotsDraft, shots=shots)


class SeasonSceneDraft(SceneDraft):
    shots: list[ShotDraft] = Field(min_length=1, max_length=12)


class SeasonEpisodeDraft(EpisodeDraft):
    """An episode put together from its steps: longer than one call could write."""

    characters: list[CharacterDraft] = Field(default_factory=list, max_length=8)
    scenes: list[SeasonSceneDraft] = Field(min_length=1, max_length=12)
