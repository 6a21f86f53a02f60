"""An episode's score from the pieces a music model made (pipeline.sound.music_jobs): each cue
is its mood's piece, looped if the cue is longer, faded in and out, the cues joined in order,
at the loudness of the composed score so that the mix keeps its balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import ffmpeg

from pipeline.cut.audio_bed import looped
from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.sound.score import SAMPLE_RATE, Cue

SCORE_LUFS = -17.0  # the composed score's integrated loudness (fluidsynth at gain 0.6: -16.9)
MAX_CUE_FADE = 0.5  # seconds at each end of a cue: a cut between moods, not a click


def covers(cues: Sequence[Cue], pieces: Mapping[str, Path]) -> bool:
    """Whether there is a piece, still on disk, for every cue's mood."""
    return bool(cues) and all(
        cue.mood in pieces and Path(pieces[cue.mood]).is_file() for cue in cues
    )


async def score_from_pieces(cues: Sequence[Cue], pieces: Mapping[str, Path], wav: Path) -> Path:
    """The cues laid end to end from their moods' pieces, to `wav` (48 kHz stereo)."""
    parts = [
        looped(pieces[cue.mood], cue.seconds, min(MAX_CUE_FADE, cue.seconds / 4)) for cue in cues
    ]
    joined = ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]
    levelled = joined.filter("loudnorm", i=SCORE_LUFS, tp=-2.0).filter("aresample", SAMPLE_RATE)
    output = ffmpeg.output(levelled, str(wav), acodec="pcm_s16le", ar=SAMPLE_RATE, ac=2)
    await run_ffmpeg_async(output.get_args())
    return wav
