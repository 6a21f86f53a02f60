"""Another reading of a line: the direction words a retake note may hold ("angrier",
"slower"), and the voice they make of the character's own (pitch and rate moved; the voice,
and so the character, stays the same)."""

from __future__ import annotations

import re
from dataclasses import replace

from storage.models import Voice

# direction -> (pitch change, rate factor); a note's words are matched to these stems
DIRECTIONS: dict[str, tuple[int, float]] = {
    "angrier": (8, 1.12),
    "calmer": (-5, 0.9),
    "sadder": (-8, 0.85),
    "happier": (10, 1.06),
    "slower": (0, 0.8),
    "faster": (0, 1.2),
    "higher": (12, 1.0),
    "lower": (-12, 1.0),
    "whispered": (-4, 0.88),
    "shouted": (10, 1.08),
}
_WORDS: dict[str, str] = {
    "angr": "angrier", "furious": "angrier",
    "calm": "calmer", "gentl": "calmer", "soft": "calmer",
    "sad": "sadder", "tear": "sadder",
    "happi": "happier", "happy": "happier", "bright": "happier", "cheer": "happier",
    "slow": "slower", "faster": "faster", "quick": "faster", "fast": "faster",
    "higher": "higher", "lower": "lower", "deeper": "lower",
    "whisper": "whispered", "shout": "shouted", "yell": "shouted", "scream": "shouted",
}  # fmt: skip
_ABOUT_THE_LINE = re.compile(r"\b(read|reading|say|said|line|voice|deliver\w*|tone|sound)\b", re.I)


def reading_of(note: str) -> str:
    """The directions a note gives for reading the line ("angrier, slower"), or "" when it
    asks for something else (a note about the picture)."""
    found: list[str] = []
    for word in re.findall(r"[a-z]+", note.lower()):
        for stem, direction in _WORDS.items():
            if word.startswith(stem) and direction not in found:
                found.append(direction)
                break
    if not found:
        return ""
    # a bare "slower" is about the line; "a sad sky" is about the picture unless it names the line
    words = len(re.findall(r"\w+", note))
    return ", ".join(found) if words <= 3 or _ABOUT_THE_LINE.search(note) else ""


def voice_for_reading(voice: Voice, reading: str) -> Voice:
    """The character's voice, moved by the reading's directions (within the engines' range)."""
    pitch, rate = voice.pitch, float(voice.rate)
    for direction in (part.strip() for part in reading.split(",")):
        change, factor = DIRECTIONS.get(direction, (0, 1.0))
        pitch, rate = pitch + change, rate * factor
    return replace(voice, pitch=max(0, min(99, pitch)), rate=max(80, min(400, round(rate))))
