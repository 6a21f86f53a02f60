"""Structured-output models for the LLM. Bounded so a small model cannot run away.

Every string is cleaned (agents.plan_text: no markup, links or template tokens) and then
trimmed to its bound before validation rather than rejected: a slightly long description from
a weak model is still a usable plan. The camera comes from a vocabulary (agents.camera): a
constrained decoder (llama.cpp's JSON-schema grammar) can only write its terms, and free text
from a tool-calling model is read into them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, Field, field_validator, model_validator

from agents.camera import (
    ANGLES,
    DEFAULT_ANGLE,
    DEFAULT_MOVE,
    MOVES,
    SHOT_SIZES,
    Angle,
    Camera,
    Move,
    ShotSize,
    camera_in_vocabulary,
    parse_camera,
    read_terms,
)
from agents.plan_text import clean_name, clean_text, valid_unicode

# a line short enough to be spoken within a shot of the usual length (about 6 seconds): the
# shot is lengthened to hold its spoken line, and the episode's other shots give the time back
LINE_CHARS, CHINESE_LINE_CHARS = 90, 28


class BoundedModel(BaseModel):
    """Cleans every string field (but those in `free_text`) and trims it to its max_length
    before validation."""

    free_text: ClassVar[frozenset[str]] = frozenset()  # said to people, not stored in a plan
    names: ClassVar[frozenset[str]] = frozenset()  # fields holding a character's name

    @model_validator(mode="before")
    @classmethod
    def _trim_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        trimmed = cls._prepare(dict(data))
        for name, field in cls.model_fields.items():
            value = trimmed.get(name)
            limits = [meta.max_length for meta in field.metadata if isinstance(meta, MaxLen)]
            if value is None and field.annotation is str:
                trimmed[name] = ""
            elif isinstance(value, str):
                if name in cls.names:
                    value = clean_name(value)
                elif name not in cls.free_text:
                    value = clean_text(value)
                else:
                    value = valid_unicode(value)
                trimmed[name] = value[: limits[0]] if limits else value
        return trimmed

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A model's own reading of the raw fields, before they are cleaned and trimmed."""
        return data


def camera_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Shot size, angle and move in the vocabulary's words: read from a free-text `camera`
    ("low-angle CU, dolly in") where the model gave none, and "Close up" read as "close-up"."""
    camera = parse_camera(clean_text(str(data.get("camera") or "")))
    given = {"size": camera.size, "angle": camera.angle, "move": camera.move} if camera else {}
    for slot, key, vocabulary in (
        ("size", "shot_size", SHOT_SIZES),
        ("angle", "angle", ANGLES),
        ("move", "move", MOVES),
    ):
        value = data.get(key)
        if isinstance(value, str) and value not in vocabulary:
            value = read_terms(value).get(slot)
        if value or slot in given:
            data[key] = value or given[slot]
    return data


class ShotDraft(BoundedModel):
    """One shot of a vertical short drama."""

    description: str = Field(
        min_length=3, max_length=300, description="What we see, in one sentence"
    )
    shot_size: ShotSize = Field(description="How much of the scene the frame holds")
    angle: Angle = DEFAULT_ANGLE
    move: Move = DEFAULT_MOVE
    duration: float = Field(default=4.0, description="Seconds on screen, 1 to 15")
    dialogue: str = Field(
        default="", max_length=LINE_CHARS, description="The one line spoken (subtitled), or empty"
    )
    characters: list[str] = Field(
        default_factory=list, max_length=4, description="Names of the characters in the shot"
    )

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return camera_fields(data)

    @property
    def camera(self) -> str:
        return Camera(self.shot_size, self.angle, self.move).text

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
        names = (clean_name(str(name))[:40] for name in value)
        return [name for name in names if name][:4]


class SceneDraft(BoundedModel):
    heading: str = Field(
        min_length=2, max_length=80, description="Place and time, e.g. 'Shore, dusk'"
    )
    summary: str = Field(default="", max_length=300)
    shots: list[ShotDraft] = Field(min_length=1, max_length=8)
    mood: str = Field(default="", max_length=40, description="The scene's mood, for its music")

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A heading that was nothing but markup: the summary's first words stand in."""
        if not clean_text(str(data.get("heading") or "")):
            words = clean_text(str(data.get("summary") or "")).split()[:6]
            data["heading"] = " ".join(words) if len(words) > 1 else "Untitled scene"
        return data


class CharacterDraft(BoundedModel):
    names: ClassVar[frozenset[str]] = frozenset({"name"})

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

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not clean_text(str(data.get("title") or "")):  # it was only markup
            data["title"] = "Untitled episode"
        return drop_nameless(data, "characters")

    @model_validator(mode="after")
    def _shots_name_the_cast(self) -> EpisodeDraft:
        """Each shot's characters by their names in the cast ("li" is "Li Xingzhou"); a name
        the cast lacks joins it while there is room; a shot that lists nobody lists the cast
        members its description or line names."""
        limit = type(self).model_fields["characters"].metadata
        room = next((meta.max_length for meta in limit if isinstance(meta, MaxLen)), 4)
        for shot in (shot for scene in self.scenes for shot in scene.shots):
            named: list[str] = []
            for name in shot.characters:
                known = cast_name(name, [c.name for c in self.characters])
                if known is None and len(self.characters) < room:
                    self.characters.append(CharacterDraft(name=name))
                    known = name
                if known is not None and known not in named:
                    named.append(known)
            if not named:
                text = f"{shot.description} {shot.dialogue}".lower()
                named = [c.name for c in self.characters if c.name.lower() in text]
            shot.characters = named[:4]
        return self


def drop_nameless(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The cast under `key` without the members whose name cleans to nothing: a weak model may
    leave a name blank; drop the member, don't fail the answer. A missing cast stays missing
    (its default applies)."""
    cast = data.get(key)
    if isinstance(cast, list):
        data[key] = [
            c for c in cast if not isinstance(c, dict) or clean_name(str(c.get("name") or ""))
        ]
    return data


def cast_name(name: str, cast: list[str]) -> str | None:
    """The cast member `name` means: the same name in any case, or a name it is one word of."""
    wanted = " ".join(name.split()).lower()
    for member in cast:
        if member.lower() == wanted:
            return member
    for member in cast:
        if wanted and wanted in member.lower().split():
            return member
    return None


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

    _camera = field_validator("camera")(camera_in_vocabulary)


class DirectorTurn(BoundedModel):
    """One answer of the writers'-room agent when the model cannot call tools freely."""

    free_text: ClassVar[frozenset[str]] = frozenset({"reply"})

    reply: str = Field(max_length=1500, description="What to say to the team")
    action: Literal["none", "write_plan", "edit_shot"] = "none"
    plan: EpisodeDraft | None = None
    edit: ShotEditDraft | None = None


class ShotRewrite(BoundedModel):
    """A shot's line or description written again, because it repeated another shot's."""

    text: str = Field(default="", max_length=300, description="The new text, in one sentence")


class LineRewrite(ShotRewrite):
    """A repeated line written again."""

    text: str = Field(default="", max_length=LINE_CHARS, description="The new line, one sentence")


# a line in Chinese: Han characters and Chinese punctuation only, as a decoder's grammar
CHINESE_LINE = "^[\u4e00-\u9fff，。！？、…：；“”]{2,40}$"


class ChineseLineRewrite(ShotRewrite):
    """A repeated line written again in Chinese (the grammar holds a small model to it)."""

    text: str = Field(
        default="",
        max_length=CHINESE_LINE_CHARS,
        description="The new line, in Chinese",
        json_schema_extra={"pattern": CHINESE_LINE},
    )


class PromptRevision(BoundedModel):
    """A shot's image prompt rewritten to follow a reviewer's retake note."""

    prompt: str = Field(min_length=3, max_length=600, description="The whole revised prompt")


class CompactDirectorTurn(DirectorTurn):
    plan: CompactEpisodeDraft | None = None
