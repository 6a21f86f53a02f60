"""The sound's rows as frozen dataclasses: voices, spoken lines, auditions, model-made music.
Imported through storage.models, as every row is."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Self

from storage.rows import pick as _pick


@dataclass(frozen=True)
class Voice:
    """How a character (or the narrator) speaks: a speech engine and its voice, told apart
    from the rest of the cast by variant, pitch and rate; a reference clip for engines that
    clone. The engine picks its language's base voice per line (Mandarin for a Chinese line)."""

    engine: str  # "espeak" (Debian espeak-ng), "piper" (English), or a Hugging Face model id
    name: str  # the engine's voice: an espeak variant ("m3", "f2"), "joe" for piper
    pitch: int = 50  # 0-99
    rate: int = 160  # words per minute
    clip: str = ""  # a reference recording, for engines that clone from one

    def describe(self) -> str:
        clip = ", with a reference clip" if self.clip else ""
        return f"{self.engine} {self.name}, pitch {self.pitch}, {self.rate} wpm{clip}"

    @classmethod
    def from_json(cls, text: str) -> Voice | None:
        return cls(**json.loads(text)) if text else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass(frozen=True)
class Line:
    """One reading of a shot's dialogue: who spoke it, in which voice, how long it runs."""

    id: int
    shot_id: int
    job_id: str
    text: str
    speaker: str  # the character's name; "" for the narrator
    voice: Voice
    reading: str  # the direction it was read with ("angrier"); "" for the first reading
    media_path: str
    seconds: float
    engine: str
    error: str  # why it could not be spoken; "" when it was
    created_at: str

    @property
    def spoken(self) -> bool:
        return not self.error and bool(self.media_path)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["voice"] = Voice.from_json(row["voice"])
        return cls(**values)


@dataclass(frozen=True)
class Music:
    """A piece of an episode's score made by a model, for the scenes in one mood."""

    id: int
    episode_id: int
    mood: str
    model: str
    job_id: str
    media_path: str
    seconds: float
    error: str  # why it could not be made; "" when it was
    created_at: str

    @property
    def made(self) -> bool:
        return not self.error and bool(self.media_path)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Audition:
    """Candidate voices reading one of a character's line; `chosen` once the team picked."""

    id: int
    character_id: int
    channel_id: int
    line: str
    voices: tuple[Voice, ...]
    readings: tuple[str, ...]  # each candidate's WAV ("" until spoken)
    message_id: int | None
    chosen: int | None  # the picked candidate, 0-based

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        candidates = json.loads(row["candidates"])
        return cls(
            id=row["id"],
            character_id=row["character_id"],
            channel_id=row["channel_id"],
            line=row["line"],
            voices=tuple(Voice(**c["voice"]) for c in candidates),
            readings=tuple(c["media_path"] for c in candidates),
            message_id=row["message_id"],
            chosen=row["chosen"],
        )
