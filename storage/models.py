"""Rows as frozen dataclasses. `from_row` takes a sqlite-utils row dict."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Self

from storage.rows import pick as _pick

# the sound's rows live beside these, and are imported from here as every row is
from storage.sound_models import Audition as Audition
from storage.sound_models import Line as Line
from storage.sound_models import Music as Music
from storage.sound_models import Voice as Voice
from storage.status import EpisodeStatus, JobStatus, ShotStatus, TakeStatus


@dataclass(frozen=True)
class Project:
    id: int
    guild_id: int | None
    writers_channel_id: int | None
    review_channel_id: int | None
    delivery_channel_id: int | None
    title: str
    logline: str
    style: str
    width: int
    height: int
    fps: int
    quorum: int
    director_role_id: int | None
    created_by: int | None
    created_at: str
    review_mode: str = "clips"
    title_card_seconds: float = 0.0
    end_card_seconds: float = 0.0
    credits: str = ""
    music_path: str = ""
    music_volume: float = 0.3

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Character:
    id: int
    project_id: int
    name: str
    description: str
    look: str
    seed: int
    reference_path: str = ""
    revision: int = 1
    arc: str = ""
    voice: Voice | None = None  # bound at casting (storage.voices)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["voice"] = Voice.from_json(row.get("voice") or "")
        return cls(**values)


@dataclass(frozen=True)
class Episode:
    id: int
    project_id: int
    number: int
    title: str
    synopsis: str
    status: EpisodeStatus
    cut_path: str | None
    created_at: str
    teaser: str = ""
    plan_revision: int = 1
    accepted_revision: int = 0
    accepted_by: int | None = None
    accepted_at: str | None = None

    @property
    def plan_accepted(self) -> bool:
        return self.accepted_revision == self.plan_revision

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["status"] = EpisodeStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class Scene:
    id: int
    episode_id: int
    number: int
    heading: str
    summary: str
    mood: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Shot:
    id: int
    episode_id: int
    scene_id: int
    number: int
    description: str
    prompt: str
    negative_prompt: str
    camera: str
    duration: float
    dialogue: str
    characters: tuple[str, ...]
    status: ShotStatus
    approved_take_id: int | None
    revision: int
    continuous: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["characters"] = tuple(json.loads(row["characters"] or "[]"))
        values["continuous"] = bool(row.get("continuous", 0))
        values["status"] = ShotStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class Take:
    id: int
    shot_id: int
    job_id: str
    seed: int
    engine: str
    model: str
    parameters: dict[str, Any]
    media_path: str
    preview_path: str
    status: TakeStatus
    channel_id: int | None
    message_id: int | None
    created_at: str
    kind: str = "clip"
    source_take_id: int | None = None
    note: str = ""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["parameters"] = json.loads(row["parameters"] or "{}")
        values["status"] = TakeStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    episode_id: int
    shot_id: int | None
    render_id: int | None
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    attempts: int
    worker: str | None
    progress: float
    stage: str
    error: str | None
    requester: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["payload"] = json.loads(row["payload"] or "{}")
        values["status"] = JobStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class Render:
    id: int
    episode_id: int
    channel_id: int | None
    status_message_id: int | None
    requester: int | None
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Message:
    id: int
    project_id: int
    channel_id: int | None
    author_id: int | None
    author_name: str
    role: str
    content: str
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: str
    delivered_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["payload"] = json.loads(row["payload"] or "{}")
        return cls(**values)


@dataclass(frozen=True)
class Season:
    """The series bible and the season's shape: how many episodes, how long each."""

    id: int
    project_id: int
    number: int
    premise: str
    logline: str
    world: str
    tone: str
    visual_style: str
    episode_count: int
    episode_seconds: float
    revision: int
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))


@dataclass(frozen=True)
class Beats:
    """An episode's spine, each one sentence."""

    hook: str
    escalation: str
    twist: str
    cliffhanger: str


@dataclass(frozen=True)
class SeasonEpisode:
    """One episode on the season map; `episode_id` once its plan is written."""

    id: int
    season_id: int
    number: int
    title: str
    logline: str
    hook_type: str
    cliffhanger: str
    beats: Beats | None
    episode_id: int | None
    revision: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        values = _pick(cls, row)
        values["beats"] = Beats(**json.loads(row["beats"])) if row["beats"] else None
        return cls(**values)


@dataclass(frozen=True)
class CanonFact:
    """A fact that must hold (wardrobe, injury, prop, place, relationship) about a subject."""

    id: int
    season_id: int
    kind: str
    subject: str
    fact: str
    episode_id: int | None
    retired_at: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(**_pick(cls, row))
