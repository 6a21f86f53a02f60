"""Speech benchmark: each embedded engine's real-time factor on the CPU, and what the cast's
voices sound like to a listener's measures (not a test).

    .venv/bin/python bench/speech_bench.py

About ten seconds of speech (three lines) per engine, spoken three times (the median wall
time reported) after a first call that loads the engine; real-time factor = wall seconds /
seconds of speech (the issue's target for the embedded default: 10 s of speech in at most 3 s,
a factor of 0.3). Then the first four voices of the casting palette and the narrator speaking
one line: median pitch, spoken length, words a minute, loudness.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.sound.analysis import median_pitch, spoken_seconds
from pipeline.sound.loudness import measure
from pipeline.worker.engines.speech import speak, why_no_speech
from storage.models import Voice
from storage.voices import NARRATOR, PALETTE

LINES = (
    "The storm is coming, and we have nowhere left to hide tonight.",
    "You promised me you would come back before the tide turned.",
    "Then let the water god come for me. I will not kneel.",
)
LINE = "You promised me you would come back before the tide turned."
RUNS = 3


def real_time_factor(voice: Voice, folder: Path) -> tuple[float, float, float]:
    """(seconds of speech, median wall seconds, the first call's wall seconds)."""
    started = time.perf_counter()
    speak(LINES[0], voice, folder / "first.wav")
    first = time.perf_counter() - started
    walls, speech = [], 0.0
    for run in range(RUNS):
        started = time.perf_counter()
        spoken = [speak(line, voice, folder / f"{run}-{i}.wav") for i, line in enumerate(LINES)]
        walls.append(time.perf_counter() - started)
        speech = sum(line.seconds for line in spoken)
    return speech, statistics.median(walls), first


async def main() -> None:
    if why_no_speech():
        raise SystemExit(f"cannot speak here: {why_no_speech()}")
    print(f"cores: {os.cpu_count()}, Piper on one thread")
    with tempfile.TemporaryDirectory(prefix="speech-bench-") as name:
        folder = Path(name)
        for label, voice in (("piper (joe)", NARRATOR), ("espeak-ng (m3)", PALETTE[0])):
            speech, wall, first = real_time_factor(voice, folder)
            print(
                f"{label:<15} {speech:5.1f} s of speech in {wall:5.2f} s: real-time factor "
                f"{wall / speech:.3f} (first call, loading included: {first:.2f} s)"
            )
        print(f"\none line, {len(LINE.split())} words:")
        for voice in (*PALETTE[:4], NARRATOR):
            line = speak(LINE, voice, folder / f"voice-{voice.name}.wav")
            seconds = spoken_seconds(line.path)
            loudness = await measure(line.path)
            print(
                f"  {voice.describe():<38} median pitch {median_pitch(line.path):5.0f} Hz, "
                f"{seconds:4.2f} s spoken ({len(LINE.split()) / seconds * 60:3.0f} words/min), "
                f"{loudness.integrated:5.1f} LUFS"
            )


if __name__ == "__main__":
    asyncio.run(main())
