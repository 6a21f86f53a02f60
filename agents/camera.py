"""The camera vocabulary: every shot is framed by a shot size, an angle and a move from these
lists, so a storyboard reads the same whoever (or whatever model) wrote it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

ShotSize = Literal[
    "extreme wide",
    "wide",
    "full",
    "medium",
    "medium close-up",
    "close-up",
    "extreme close-up",
    "over-the-shoulder",
    "two-shot",
    "insert",
]
Angle = Literal["eye level", "low angle", "high angle", "overhead", "dutch angle", "point of view"]
Move = Literal["static", "push in", "pull out", "pan", "tilt", "tracking", "handheld", "crane"]

SHOT_SIZES: tuple[str, ...] = get_args(ShotSize)
ANGLES: tuple[str, ...] = get_args(Angle)
MOVES: tuple[str, ...] = get_args(Move)
DEFAULT_ANGLE = "eye level"
DEFAULT_MOVE = "static"

# what writers (and models) also call them; matched as whole words, longest first
SYNONYMS: dict[str, str] = {
    "establishing": "extreme wide",
    "extreme long": "extreme wide",
    "ews": "extreme wide",
    "els": "extreme wide",
    "long shot": "wide",
    "wide shot": "wide",
    "ws": "wide",
    "full shot": "full",
    "full body": "full",
    "mid shot": "medium",
    "medium shot": "medium",
    "waist": "medium",
    "ms": "medium",
    "mcu": "medium close-up",
    "medium close": "medium close-up",
    "closeup": "close-up",
    "close up": "close-up",
    "close": "close-up",
    "cu": "close-up",
    "extreme close": "extreme close-up",
    "ecu": "extreme close-up",
    "macro": "extreme close-up",
    "detail": "insert",
    "ots": "over-the-shoulder",
    "over the shoulder": "over-the-shoulder",
    "two shot": "two-shot",
    "eye-level": "eye level",
    "low-angle": "low angle",
    "worm's eye": "low angle",
    "high-angle": "high angle",
    "bird's eye": "overhead",
    "top down": "overhead",
    "top-down": "overhead",
    "aerial": "overhead",
    "dutch": "dutch angle",
    "canted": "dutch angle",
    "pov": "point of view",
    "subjective": "point of view",
    "locked off": "static",
    "still": "static",
    "dolly in": "push in",
    "zoom in": "push in",
    "push-in": "push in",
    "dolly out": "pull out",
    "zoom out": "pull out",
    "pull back": "pull out",
    "pull-out": "pull out",
    "panning": "pan",
    "whip pan": "pan",
    "tilting": "tilt",
    "tilt up": "tilt",
    "tilt down": "tilt",
    "track": "tracking",
    "dolly": "tracking",
    "follow": "tracking",
    "steadicam": "tracking",
    "hand-held": "handheld",
    "shaky": "handheld",
    "jib": "crane",
    "drone": "crane",
}
_TERMS: dict[str, str] = {term: term for term in (*SHOT_SIZES, *ANGLES, *MOVES)} | SYNONYMS
_PATTERN = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(term) for term in sorted(_TERMS, key=len, reverse=True))
    + r")(?![\w-])"
)


@dataclass(frozen=True)
class Camera:
    size: str
    angle: str = DEFAULT_ANGLE
    move: str = DEFAULT_MOVE

    @property
    def text(self) -> str:
        """As stored on the shot and shown on cards: "close-up, low angle, push in"."""
        return f"{self.size}, {self.angle}, {self.move}"


def read_terms(text: str) -> dict[str, str]:
    """The vocabulary's terms named in free text, by slot ("size", "angle", "move"): the first
    one of each slot wins."""
    found: dict[str, str] = {}
    for match in _PATTERN.finditer(text.lower()):
        term = _TERMS[match.group(1)]
        slot = "size" if term in SHOT_SIZES else "angle" if term in ANGLES else "move"
        found.setdefault(slot, term)
    return found


def parse_camera(text: str) -> Camera | None:
    """The framing free text describes ("Low-angle CU, slow dolly in"); None when it names no
    shot size and no angle (a camera field that says nothing about framing)."""
    found = read_terms(text)
    if "size" not in found and "angle" not in found:
        return None
    return Camera(
        found.get("size", "medium"),
        found.get("angle", DEFAULT_ANGLE),
        found.get("move", DEFAULT_MOVE),
    )


def camera_in_vocabulary(value: str | None) -> str | None:
    """A camera edit that names at least one of the vocabulary's terms; a ValueError naming
    the vocabulary otherwise (the model is told, and can try again)."""
    if value is not None and not read_terms(value):
        said = f"camera {value[:60]!r}" if value else "an empty camera"
        raise ValueError(f"{said} names no framing: {vocabulary_help()}")
    return value


def changed_camera(current: str, edit: str) -> str:
    """`current` framing with what `edit` names changed: "make it a close-up" keeps the angle
    and move it had."""
    before = parse_camera(current) or Camera("medium")
    terms = read_terms(edit)
    return Camera(
        terms.get("size", before.size),
        terms.get("angle", before.angle),
        terms.get("move", before.move),
    ).text


def in_vocabulary(text: str) -> bool:
    """Whether a stored camera field is exactly one of the vocabulary's framings."""
    parsed = parse_camera(text)
    return parsed is not None and parsed.text == text


def vocabulary_help() -> str:
    return (
        f"shot size one of {', '.join(SHOT_SIZES)}; angle one of {', '.join(ANGLES)}; "
        f"move one of {', '.join(MOVES)}"
    )
