"""The music bed: a file the team uploaded (or the score), looped or trimmed to the episode,
faded in and out, and lowered while a line that was not spoken is on screen (a spoken line
ducks it by itself: pipeline.sound.mix.mix_under_dialogue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.cut.segments import AUDIO_RATE

DUCK = 0.25  # the bed's level under a dialogue line (-12 dB), relative to its level elsewhere
MAX_FADE = 2.0


@dataclass(frozen=True)
class MusicBed:
    path: Path
    volume: float = 0.3  # 0..1, linear gain of the bed


def duck_expression(lines: Sequence[tuple[float, float]]) -> str:
    """True (non-zero) while t is inside one of the (start, end) intervals."""
    return "+".join(f"between(t,{start:.3f},{end:.3f})" for start, end in lines)


def music_bed(
    music: MusicBed, total: float, unspoken: Sequence[tuple[float, float]]
) -> ffmpeg.Stream:
    """The bed, `total` seconds long, lowered while the `unspoken` lines are on screen."""
    bed = looped(music.path, total, min(MAX_FADE, total / 4))
    bed = bed.filter("volume", f"{max(0.0, music.volume):.3f}")
    if unspoken:
        bed = bed.filter("volume", DUCK, enable=duck_expression(unspoken))
    return bed


def looped(path: Path, seconds: float, fade: float) -> ffmpeg.Stream:
    """The audio file at `path` as 48 kHz stereo, looped or cut to `seconds`, faded in and out
    over `fade` seconds."""
    return (
        ffmpeg.input(str(path), stream_loop=-1)
        .audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_rates=AUDIO_RATE, channel_layouts="stereo")
        .filter("atrim", duration=f"{seconds:.3f}")
        .filter("asetpts", "PTS-STARTPTS")
        .filter("afade", t="in", st=0, d=f"{fade:.3f}")
        .filter("afade", t="out", st=f"{seconds - fade:.3f}", d=f"{fade:.3f}")
    )
