"""Speech benchmark: each embedded engine's real-time factor on the CPU, and what the cast's
voices sound like to a listener's measures (not a test).

    .venv/bin/python bench/speech_bench.py

About ten seconds of speech (three lines) per engine, spoken three times (the median wall
time reported) after a first call that loads the engine; real-time factor = wall seconds /
seconds of speech (the issue's target for the embedded default: 10 s of speech in at most 3 s,
a factor of 0.3). Then the first four voices of the casting palette and the narrator speaking
one line: median pitch, spoken length, words a minute, loudness.

The speech model tier the same way, cloned from a 4 s clip: `--model` names a Hugging Face id
or folder (VibeVoice); without it, the tiny random model built from configs, whose figure is
the cost of the code path (processor, generation, diffusion, decoder), not of a real model.

    .venv/bin/python bench/speech_bench.py --model vibevoice/VibeVoice-1.5B-hf
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from pipeline.sound.analysis import median_pitch, spoken_seconds
from pipeline.sound.clips import clip_for_request
from pipeline.sound.loudness import measure
from pipeline.worker.engines.speech import SpokenLine, speak, why_no_speech
from storage.voices import NARRATOR, PALETTE

LINES = (
    "The storm is coming, and we have nowhere left to hide tonight.",
    "You promised me you would come back before the tide turned.",
    "Then let the water god come for me. I will not kneel.",
)
LINE = "You promised me you would come back before the tide turned."
RUNS = 3


def real_time_factor(
    say: Callable[[str, Path], SpokenLine], folder: Path
) -> tuple[float, float, float]:
    """(seconds of speech, median wall seconds, the first call's wall seconds)."""
    started = time.perf_counter()
    say(LINES[0], folder / "first.wav")
    first = time.perf_counter() - started
    walls, speech = [], 0.0
    for run in range(RUNS):
        started = time.perf_counter()
        spoken = [say(line, folder / f"{run}-{i}.wav") for i, line in enumerate(LINES)]
        walls.append(time.perf_counter() - started)
        speech = sum(line.seconds for line in spoken)
    return speech, statistics.median(walls), first


def model_speaker(model: str, folder: Path) -> Callable[[str, Path], SpokenLine]:
    """The speech model speaking in a voice cloned from a 4 s recording (espeak's f2 here)."""
    import base64

    from pipeline.worker.engines.speech_model import SpeechModels
    from pipeline.worker.settings import WorkerSettings

    recorded = speak(LINES[1], PALETTE[1], folder / "voice.wav").path
    clip = folder / "clip.wav"
    run_ffmpeg(["-y", "-i", str(recorded), "-ac", "1", "-ar", "24000", "-t", "4", str(clip)])
    data = base64.b64decode(clip_for_request(str(clip)))
    models = SpeechModels(WorkerSettings.from_env())

    def say(text: str, out: Path) -> SpokenLine:
        return SpokenLine(out, models.speak(model, text, data, out, 0), model)

    return say


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a speech model (default: the tiny one)")
    args = parser.parse_args()
    if why_no_speech():
        raise SystemExit(f"cannot speak here: {why_no_speech()}")
    print(f"cores: {os.cpu_count()}, Piper on one thread")
    with tempfile.TemporaryDirectory(prefix="speech-bench-") as name:
        folder = Path(name)
        speakers = {
            "piper (joe)": lambda text, out: speak(text, NARRATOR, out),
            "espeak-ng (m3)": lambda text, out: speak(text, PALETTE[0], out),
        }
        model = args.model
        if not model:
            from pipeline.worker.tiny_models.speech import make_tiny_speech_model

            model = str(make_tiny_speech_model(folder / "tiny-vibevoice"))
        label = "tiny VibeVoice" if not args.model else args.model
        speakers[label] = model_speaker(model, folder)
        for label, say in speakers.items():
            speech, wall, first = real_time_factor(say, folder)
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
