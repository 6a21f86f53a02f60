"""The status rules: which status may follow which."""

from __future__ import annotations

from storage.errors import InvalidState

SHOT_TRANSITIONS: dict[str, set[str]] = {
    "planned": {"queued"},
    "queued": {"rendering", "planned"},
    "rendering": {"review", "queued", "planned"},
    "review": {"approved", "retake", "queued"},
    "retake": {"queued"},
    "approved": {"retake"},
}

EPISODE_TRANSITIONS: dict[str, set[str]] = {
    "writing": {"shooting"},
    "shooting": {"writing", "cutting"},
    "cutting": {"shooting", "delivered"},
    "delivered": {"shooting", "cutting"},
}

TAKE_TRANSITIONS: dict[str, set[str]] = {
    "review": {"approved", "rejected"},
    "approved": {"rejected"},
    "rejected": set(),
}

JOB_TRANSITIONS: dict[str, set[str]] = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"done", "failed", "queued", "cancelled"},
    "done": set(),
    "failed": set(),
    "cancelled": set(),
}


def check_transition(kind: str, rules: dict[str, set[str]], current: str, new: str) -> None:
    """Raise InvalidState unless current -> new is allowed (staying put is always allowed)."""
    if current == new:
        return
    if new not in rules.get(current, set()):
        raise InvalidState(f"A {kind} that is '{current}' cannot become '{new}'.")
