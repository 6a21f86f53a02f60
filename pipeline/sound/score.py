"""An episode's score, composed in code: a cue per scene in the scene's mood (key, tempo,
instruments), a stinger on the hook and on the cliffhanger, written as MIDI with pretty_midi
and rendered to a 48 kHz stereo WAV by fluidsynth with a General MIDI soundfont (Debian's
`fluidsynth` and `timgm6mb-soundfont`). Without them there is no score, and `why_no_score`
says so. Deterministic: the same cues give the same notes.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from pipeline.errors import AssembleError

SAMPLE_RATE = 48000
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/MuseScore_General.sf2"),
)
MAX_SCORE_SECONDS = 600.0


@dataclass(frozen=True)
class MoodStyle:
    """How a mood sounds: tempo, key (the tonic's MIDI pitch and mode) and three General MIDI
    programs (pad, pulse, bass), with how many pulse notes fall on a beat."""

    tempo: int
    tonic: int
    minor: bool
    pad: int
    pulse: int
    bass: int
    notes_per_beat: int
    velocity: int


MOODS: dict[str, MoodStyle] = {
    "tense": MoodStyle(116, 50, True, 48, 45, 43, 2, 84),  # strings, pizzicato, contrabass
    "ominous": MoodStyle(72, 45, True, 95, 47, 43, 1, 80),  # sweep pad, timpani
    "mysterious": MoodStyle(84, 52, True, 88, 11, 32, 2, 70),  # new-age pad, vibraphone
    "melancholy": MoodStyle(66, 57, True, 89, 0, 32, 1, 66),  # warm pad, piano
    "tender": MoodStyle(76, 60, False, 89, 46, 32, 2, 62),  # warm pad, harp
    "hopeful": MoodStyle(92, 55, False, 48, 0, 32, 2, 74),  # strings, piano
    "triumphant": MoodStyle(108, 48, False, 48, 61, 43, 1, 92),  # strings, brass
    "playful": MoodStyle(124, 62, False, 0, 12, 33, 2, 76),  # piano, marimba
}
DEFAULT_MOOD = "tense"
# chords as scale degrees: minor i-VI-III-VII, major I-V-vi-IV
_PROGRESSIONS = {True: (0, 5, 2, 6), False: (0, 4, 5, 3)}
_SCALES = {True: (0, 2, 3, 5, 7, 8, 10), False: (0, 2, 4, 5, 7, 9, 11)}


@dataclass(frozen=True)
class Cue:
    """A stretch of the episode in one mood, in seconds from its start."""

    start: float
    seconds: float
    mood: str


def mood_of(text: str) -> str:
    """A mood from the vocabulary (an unknown or empty one is the default)."""
    word = text.strip().lower()
    return word if word in MOODS else DEFAULT_MOOD


def why_no_score() -> str:
    """Why no score can be rendered here ("" when one can)."""
    if shutil.which("fluidsynth") is None:
        return "fluidsynth is not installed (Debian package fluidsynth)"
    if soundfont() is None:
        return "no General MIDI soundfont (Debian package timgm6mb-soundfont)"
    return ""


def soundfont() -> Path | None:
    return next((path for path in SOUNDFONTS if path.is_file()), None)


def compose(cues: Sequence[Cue], stingers: Sequence[float] = ()) -> pretty_midi.PrettyMIDI:
    """The score as MIDI: each cue's chords, pulse and bass; a stinger (timpani and an
    orchestra hit) at each time in `stingers`."""
    music = pretty_midi.PrettyMIDI(initial_tempo=100)
    parts: dict[int, pretty_midi.Instrument] = {}

    def part(program: int) -> pretty_midi.Instrument:
        if program not in parts:
            parts[program] = pretty_midi.Instrument(program=program)
        return parts[program]

    for cue in cues:
        _compose_cue(cue, MOODS[mood_of(cue.mood)], part)
    for at in stingers:
        for program, pitch in ((47, 38), (55, 50), (55, 57)):  # timpani, orchestra hit
            part(program).notes.append(pretty_midi.Note(110, pitch, at, at + 1.2))
    music.instruments.extend(parts.values())
    return music


def _compose_cue(cue: Cue, style: MoodStyle, part: Callable[[int], pretty_midi.Instrument]) -> None:
    beat = 60.0 / style.tempo
    bar = 4 * beat
    scale = _SCALES[style.minor]
    end = cue.start + cue.seconds
    fade_in = min(2.0, cue.seconds / 4)
    time, index = cue.start, 0
    while time < end - 0.05:
        degree = _PROGRESSIONS[style.minor][index % 4]
        root = style.tonic + scale[degree]
        triad = [
            root,
            style.tonic + _degree(scale, degree + 2),
            style.tonic + _degree(scale, degree + 4),
        ]
        until = min(time + bar, end)
        swell = min(1.0, 0.4 + (time - cue.start) / fade_in) if fade_in else 1.0
        velocity = int(style.velocity * swell)
        for pitch in triad:
            part(style.pad).notes.append(pretty_midi.Note(velocity - 10, pitch, time, until))
        step = beat / style.notes_per_beat
        for n in range(round((until - time) / step)):
            at = time + n * step
            pitch = triad[n % 3] + 12
            part(style.pulse).notes.append(pretty_midi.Note(velocity, pitch, at, at + step * 0.9))
        for n in range(round((until - time) / beat)):
            at = time + n * beat
            part(style.bass).notes.append(pretty_midi.Note(velocity, root - 12, at, at + beat))
        time, index = until, index + 1


def _degree(scale: Sequence[int], degree: int) -> int:
    """A scale degree's semitones above the tonic, octaves counted."""
    return scale[degree % 7] + 12 * (degree // 7)


async def render_score(
    cues: Sequence[Cue], seconds: float, wav: Path, stingers: Sequence[float] = ()
) -> Path:
    """The score rendered to `wav` (48 kHz stereo), `seconds` long (fluidsynth's release tail
    is the mix's to trim). AssembleError when fluidsynth or a soundfont is missing."""
    reason = why_no_score()
    if reason:
        raise AssembleError(f"no score: {reason}")
    if not 0 < seconds <= MAX_SCORE_SECONDS:
        raise AssembleError(f"a score runs 0-{MAX_SCORE_SECONDS:.0f} s, not {seconds:.1f} s")
    font = soundfont()
    assert font is not None
    with tempfile.TemporaryDirectory(prefix="showrunner-score-") as folder:
        midi = Path(folder) / "score.mid"
        compose(cues, stingers).write(str(midi))
        process = await asyncio.create_subprocess_exec(
            "fluidsynth", "-ni", "-q", "-F", str(wav), "-r", str(SAMPLE_RATE), "-g", "0.6",
            str(font), str(midi),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await process.communicate()
    if process.returncode != 0 or not wav.is_file():
        tail = output.decode(errors="replace")[-300:]
        raise AssembleError(f"fluidsynth failed ({process.returncode}): {tail}")
    return wav
