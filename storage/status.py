"""The statuses of shots, episodes, takes and jobs (StrEnums: they compare and store as their
values), and which status may follow which."""

from __future__ import annotations

from enum import StrEnum

from storage.errors import InvalidState


class ShotStatus(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    RENDERING = "rendering"
    REVIEW = "review"
    RETAKE = "retake"
    APPROVED = "approved"


class EpisodeStatus(StrEnum):
    WRITING = "writing"
    SHOOTING = "shooting"
    CUTTING = "cutting"
    DELIVERED = "delivered"


class TakeStatus(StrEnum):
    REVIEW = "review"
    APPROVED = "approved"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


RENDERABLE = frozenset({ShotStatus.PLANNED, ShotStatus.RETAKE})  # a render shoots these
IN_FLIGHT = frozenset({ShotStatus.QUEUED, ShotStatus.RENDERING})  # a render job has them
ACTIVE_JOBS = (JobStatus.QUEUED, JobStatus.RUNNING)

SHOT_TRANSITIONS: dict[str, set[str]] = {
    ShotStatus.PLANNED: {ShotStatus.QUEUED},
    ShotStatus.QUEUED: {ShotStatus.RENDERING, ShotStatus.PLANNED},
    ShotStatus.RENDERING: {ShotStatus.REVIEW, ShotStatus.QUEUED, ShotStatus.PLANNED},
    ShotStatus.REVIEW: {ShotStatus.APPROVED, ShotStatus.RETAKE, ShotStatus.QUEUED},
    ShotStatus.RETAKE: {ShotStatus.QUEUED},
    ShotStatus.APPROVED: {ShotStatus.RETAKE},
}

EPISODE_TRANSITIONS: dict[str, set[str]] = {
    EpisodeStatus.WRITING: {EpisodeStatus.SHOOTING},
    EpisodeStatus.SHOOTING: {EpisodeStatus.WRITING, EpisodeStatus.CUTTING},
    EpisodeStatus.CUTTING: {EpisodeStatus.SHOOTING, EpisodeStatus.DELIVERED},
    EpisodeStatus.DELIVERED: {EpisodeStatus.SHOOTING, EpisodeStatus.CUTTING},
}

TAKE_TRANSITIONS: dict[str, set[str]] = {
    TakeStatus.REVIEW: {TakeStatus.APPROVED, TakeStatus.REJECTED},
    TakeStatus.APPROVED: {TakeStatus.REJECTED},
    TakeStatus.REJECTED: set(),
}

JOB_TRANSITIONS: dict[str, set[str]] = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED},
    JobStatus.RUNNING: {JobStatus.DONE, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.CANCELLED},
    JobStatus.DONE: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELLED: set(),
}


def check_transition(kind: str, rules: dict[str, set[str]], current: str, new: str) -> None:
    """Raise InvalidState unless current -> new is allowed (staying put is always allowed)."""
    if current == new:
        return
    if new not in rules.get(current, set()):
        raise InvalidState(f"A {kind} that is '{current}' cannot become '{new}'.")
