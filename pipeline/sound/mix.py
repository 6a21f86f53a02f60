"""What the cut asks of sound: the spoken lines placed in their shots, the score's cues laid
out on the episode's timeline and ducked under the lines (sidechain), and the finished MP4's
audio brought to the platforms' loudness (video copied as it is)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import ffmpeg

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
LINE_LEAD = 0.15  # seconds into its shot before a line is spoken
LINE_PAD = 0.3  # seconds a shot runs past its spoken line (the shot is lengthened to hold it)
AUDIO_RATE = 48_000
# the music under a line: compressed 8:1 by how far the dialogue is above -30 dBFS (speech
# at -12 dBFS RMS takes it about 15 dB down), back within a third of a second after
DUCKING = {"threshold": 0.03, "ratio": 8, "attack": 15, "release": 350}


def line_window(line_seconds: float, shot_seconds: float) -> tuple[float, float] | None:
    """When a spoken line is heard in its shot (seconds from the shot's start, its subtitle
    shown as long); None for a shot without a spoken line (its subtitle stays the whole
    shot)."""
    if line_seconds <= 0:
        return None
    start = min(LINE_LEAD, shot_seconds)
    return start, min(shot_seconds, start + line_seconds + LINE_PAD)


def dialogue_track(lines: Sequence[tuple[Path, float]]) -> ffmpeg.Stream | None:
    """The spoken lines (WAV, the second of the cut it starts at) as one stereo track."""
    voices = [
        ffmpeg.input(str(path))
        .audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_rates=AUDIO_RATE, channel_layouts="stereo")
        .filter("adelay", delays=round(at * 1000), all=1)
        for path, at in lines
    ]
    if len(voices) <= 1:
        return voices[0] if voices else None
    # lines never overlap (one per shot): a plain sum
    return ffmpeg.filter(voices, "amix", inputs=len(voices), duration="longest", normalize=0)


def mix_under_dialogue(
    takes_audio: ffmpeg.Stream, dialogue: ffmpeg.Stream | None, bed: ffmpeg.Stream | None
) -> ffmpeg.Stream:
    """The takes' own sound, the dialogue on top, and the bed (the score or the uploaded
    music) ducked by the dialogue itself; as long as the takes' sound."""
    parts = [takes_audio]
    if dialogue is not None and bed is not None:
        # padded with silence: the compressor stops where its sidechain ends
        split = dialogue.filter("apad").filter_multi_output("asplit", 2)
        dialogue, key = split.stream(0), split.stream(1)
        bed = ffmpeg.filter([bed, key], "sidechaincompress", **DUCKING)
    parts += [part for part in (dialogue, bed) if part is not None]
    if len(parts) == 1:
        return takes_audio
    return ffmpeg.filter(parts, "amix", inputs=len(parts), duration="first", normalize=0)


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
