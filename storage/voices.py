"""The voice bible: every character gets a voice when cast, distinct within the cast, and
keeps it (a change goes on record, as every edit does); the project has a narrator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import sqlite_utils

from storage.errors import InvalidInput
from storage.models import Character, Voice
from storage.revisions import record_revision

# The embedded tier's casting palette: espeak-ng variants, alternating low and high voices,
# each at its own pitch and rate so that two characters never sound alike.
PALETTE: tuple[Voice, ...] = (
    Voice("espeak", "m3", 38, 160),
    Voice("espeak", "f2", 62, 165),
    Voice("espeak", "m1", 25, 150),
    Voice("espeak", "f4", 78, 172),
    Voice("espeak", "m7", 50, 176),
    Voice("espeak", "f1", 55, 155),
    Voice("espeak", "m2", 15, 145),
    Voice("espeak", "f5", 88, 182),
)
NARRATOR = Voice("piper", "joe", 50, 160)
ENGINES = ("espeak", "piper")  # the embedded tier; a Hugging Face model id names the other
MAX_CLIP_PATH = 500


def next_voice(taken: Sequence[Voice]) -> Voice:
    """The first palette voice nobody has; past the palette, a palette voice at a pitch
    nobody speaks at."""
    for voice in PALETTE:
        if voice not in taken:
            return voice
    base = PALETTE[len(taken) % len(PALETTE)]
    pitches = {voice.pitch for voice in taken if voice.name == base.name}
    pitch = next((p for p in range(base.pitch % 7, 100, 7) if p not in pitches), base.pitch)
    return replace(base, pitch=pitch)


def cast_voice(db: sqlite_utils.Database, character_id: int) -> Voice:
    """The character's voice, bound now if it has none (call in the casting transaction)."""
    row = db.table("characters").get(character_id)
    if row["voice"]:
        voice = Voice.from_json(row["voice"])
        assert voice is not None
        return voice
    taken = [
        Character.from_row(other).voice
        for other in db.table("characters").rows_where(
            "project_id = ? AND voice != ''", [row["project_id"]]
        )
    ]
    voice = next_voice([v for v in taken if v is not None])
    db.table("characters").update(character_id, {"voice": voice.to_json()})
    return voice


def set_voice(
    db: sqlite_utils.Database,
    character: Character,
    voice: Voice,
    *,
    author_id: int | None = None,
    reason: str = "voice",
) -> Voice:
    """A director's choice of voice for a character; the old row stays on record."""
    check_voice(voice)
    with db.atomic():
        old = db.table("characters").get(character.id)
        record_revision(
            db, "character", character.id, old["revision"], old, author_id=author_id, reason=reason
        )
        db.table("characters").update(
            character.id, {"voice": voice.to_json(), "revision": old["revision"] + 1}
        )
    return voice


def narrator(db: sqlite_utils.Database, project_id: int) -> Voice:
    row = db.table("projects").get(project_id)
    return Voice.from_json(row["narrator_voice"]) or NARRATOR


def check_voice(voice: Voice) -> None:
    if not voice.engine.strip() or (not voice.name.strip() and not voice.clip):
        raise InvalidInput("A voice needs an engine and a voice name (or a reference clip).")
    if not 0 <= voice.pitch <= 99:
        raise InvalidInput(f"A voice's pitch is 0-99, not {voice.pitch}.")
    if not 80 <= voice.rate <= 400:
        raise InvalidInput(f"A voice speaks 80-400 words a minute, not {voice.rate}.")
    if len(voice.clip) > MAX_CLIP_PATH:
        raise InvalidInput("That reference clip's path is too long.")
