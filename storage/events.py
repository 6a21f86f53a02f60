"""The outbox: things the bot must post exactly once (drafts, deliveries, notices).

Each kind of event is a frozen dataclass; it is stored as its kind name and its fields as
JSON, so a restarted bot posts what the last one did not.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import ClassVar

import sqlite_utils

from storage.db import utc_now
from storage.models import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotReady:
    """A render job's takes are in review: post the draft."""

    kind: ClassVar[str] = "shot_ready"
    shot_id: int
    job_id: str


@dataclass(frozen=True)
class ClipApproved:
    """The clip of an approved keyframe was rendered, and is the shot's approved take."""

    kind: ClassVar[str] = "clip_approved"
    shot_id: int
    take_id: int


@dataclass(frozen=True)
class EpisodeCut:
    """An episode's cut is ready to be delivered."""

    kind: ClassVar[str] = "episode_cut"
    episode_id: int
    path: str


@dataclass(frozen=True)
class JobFailed:
    """A job failed for good (its error is on the job)."""

    kind: ClassVar[str] = "job_failed"
    job_id: str


@dataclass(frozen=True)
class DeliveryReady:
    """An episode's delivery copy is made (copy_path; '' and the problem when it could not
    be): post it."""

    kind: ClassVar[str] = "delivery_ready"
    episode_id: int
    job_id: str
    copy_path: str
    problem: str


@dataclass(frozen=True)
class LineSpoken:
    """A shot's line was read again (a retake note asked for another reading): post it."""

    kind: ClassVar[str] = "line_spoken"
    shot_id: int
    line_id: int


@dataclass(frozen=True)
class AuditionReady:
    """Every candidate voice of an audition has read its line: post it for the team's pick."""

    kind: ClassVar[str] = "audition_ready"
    audition_id: int


OutboxEvent = (
    ShotReady | ClipApproved | EpisodeCut | DeliveryReady | JobFailed | LineSpoken | AuditionReady
)
KINDS: dict[str, type[OutboxEvent]] = {
    cls.kind: cls
    for cls in (
        ShotReady, ClipApproved, EpisodeCut, DeliveryReady, JobFailed, LineSpoken, AuditionReady
    )
}  # fmt: skip


def emit(db: sqlite_utils.Database, event: OutboxEvent) -> Event:
    payload = dataclasses.asdict(event)
    row = {"kind": event.kind, "payload": json.dumps(payload), "created_at": utc_now()}
    event_id = db.table("events").insert(row).last_pk
    return Event.from_row(db.table("events").get(event_id))


def decode(event: Event) -> OutboxEvent | None:
    """The typed event of a stored one; None for a kind or fields this version does not know."""
    cls = KINDS.get(event.kind)
    if cls is None:
        return None
    names = {field.name for field in dataclasses.fields(cls)}
    try:
        return cls(**{key: value for key, value in event.payload.items() if key in names})
    except TypeError as error:  # a field missing
        log.warning("event %s (%s) is unreadable: %s", event.id, event.kind, error)
        return None


def pending_events(db: sqlite_utils.Database) -> list[Event]:
    return [
        Event.from_row(row)
        for row in db.table("events").rows_where("delivered_at IS NULL", order_by="id")
    ]


def mark_delivered(db: sqlite_utils.Database, event_id: int) -> None:
    db.table("events").update(event_id, {"delivered_at": utc_now()})
