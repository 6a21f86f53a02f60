"""What the cut asks of sound: the score's cues laid out on the episode's timeline, and the
finished MP4's audio brought to the platforms' loudness (video copied as it is)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.sound.loudness import (
    LIMITER_CEILING,
    MAX_TRUE_PEAK,
    TARGET_LUFS,
    Loudness,
    measure,
    normalising_filter,
)
from pipeline.sound.score import Cue, mood_of

SCORE_VOLUME = 0.5  # the score's gain under the takes' own sound, before the loudness pass
MAX_PASSES = 4
CLOSE_ENOUGH = 0.4  # LU from the target: the platforms' tolerance is 1
PEAK_MARGIN = 0.3  # dB under the true-peak limit when the encode overshot it


def cues_on_timeline(
    moods: Sequence[str], seconds: Sequence[float], opening: float, closing: float
) -> tuple[list[Cue], list[float]]:
    """One cue per run of consecutive shots in one mood (shots of `seconds` each, after an
    opening card of `opening` seconds, before a closing card of `closing`): the opening card
    takes the first shot's mood, the closing card the last's. And the stingers: on the hook
    (the start) and on the cliffhanger (the closing card)."""
    cues: list[Cue] = []
    time = 0.0
    for index, (mood, length) in enumerate(zip(moods, seconds, strict=True)):
        mood = mood_of(mood)
        length += opening if index == 0 else 0.0
        length += closing if index == len(moods) - 1 else 0.0
        if cues and cues[-1].mood == mood:
            last = cues[-1]
            cues[-1] = Cue(last.start, last.seconds + length, mood)
        else:
            cues.append(Cue(time, length, mood))
        time += length
    stingers = [0.0] + ([time - closing] if closing else [])
    return cues, stingers


async def to_platform_loudness(media: Path, out: Path) -> Loudness:
    """`media`'s audio at -14 LUFS with its true peak under -1 dBTP, written with its video
    copied to `out` (replacing `media` is the caller's); the loudness it had before. A silent
    track is left as it is (there is nothing to bring up), and `out` is not written."""
    before = await measure(media)
    if before.silent:
        return before
    gain, ceiling = TARGET_LUFS - before.integrated, LIMITER_CEILING
    for _ in range(MAX_PASSES):
        await run_ffmpeg_async(
            ["-i", str(media), "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
             "-af", normalising_filter(gain, ceiling), "-c:a", "aac", "-b:a", "160k",
             "-ar", "48000", "-ac", "2", "-movflags", "+faststart", "-f", "mp4", str(out)]
        )  # fmt: skip
        after = await measure(out)
        loud_enough = abs(after.integrated - TARGET_LUFS) <= CLOSE_ENOUGH
        if loud_enough and after.true_peak <= MAX_TRUE_PEAK:
            break
        if not loud_enough:
            gain += TARGET_LUFS - after.integrated  # what the limiter took away
        if after.true_peak > MAX_TRUE_PEAK:
            ceiling -= after.true_peak - MAX_TRUE_PEAK + PEAK_MARGIN  # what the encode added
    return before


def replace_if_written(written: Path, target: Path) -> None:
    if written.is_file():
        os.replace(written, target)
