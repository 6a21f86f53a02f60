"""An episode's score from the pieces a music model made (pipeline.sound.music_jobs): each cue
is its mood's piece, looped if the cue is longer, faded in and out, the cues joined in order,
at the loudness of the composed score so that the mix keeps its balance. A cue whose mood has
no piece (it failed, or a season episode's recap is in another mood) plays the composed score
at that time instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import ffmpeg

from pipeline.cut.audio_bed import looped
from pipeline.errors import AssembleError, DiskFullError, FfmpegError
from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.sound.score import SAMPLE_RATE, Cue, render_score, why_no_score

log = logging.getLogger(__name__)

SCORE_LUFS = -17.0  # the composed score's integrated loudness (fluidsynth at gain 0.6: -16.9)
MAX_CUE_FADE = 0.5  # seconds at each end of a cue: a cut between moods, not a click


async def episode_score(
    cues: Sequence[Cue],
    stingers: Sequence[float],
    pieces: Mapping[str, Path],
    wav: Path,
    name: str,
) -> Path | None:
    """The episode's score to `wav`: the model's pieces where there is one for a cue's mood,
    composed elsewhere; None when neither can be made (the episode `name` is cut silent
    rather than not at all)."""
    total = sum(cue.seconds for cue in cues)
    if any(has_piece(cue, pieces) for cue in cues):
        composed = wav.with_name(f"{wav.stem}.composed.wav")  # for the cues without a piece
        try:
            if not all(has_piece(cue, pieces) for cue in cues) and not why_no_score():
                await render_score(cues, total, composed, stingers)
            return await score_from_pieces(
                cues, pieces, wav, composed if composed.is_file() else None
            )
        except DiskFullError:
            raise
        except (AssembleError, FfmpegError) as error:  # a piece ffmpeg cannot read
            log.warning("the model's music not used for %s: %s", name, error)
        finally:
            composed.unlink(missing_ok=True)
    try:
        return await render_score(cues, total, wav, stingers)
    except AssembleError as error:
        log.warning("no score for %s: %s", name, error)
        return None


def has_piece(cue: Cue, pieces: Mapping[str, Path]) -> bool:
    """Whether there is a piece, still on disk, for the cue's mood."""
    return cue.mood in pieces and Path(pieces[cue.mood]).is_file()


async def score_from_pieces(
    cues: Sequence[Cue], pieces: Mapping[str, Path], wav: Path, composed: Path | None = None
) -> Path:
    """The cues laid end to end to `wav` (48 kHz stereo): each from its mood's piece, or from
    the `composed` score at its time when it has none (silent without one)."""
    parts = []
    for cue in cues:
        fade = min(MAX_CUE_FADE, cue.seconds / 4)
        if has_piece(cue, pieces):
            parts.append(looped(pieces[cue.mood], cue.seconds, fade))
        elif composed is not None:
            parts.append(
                ffmpeg.input(str(composed), ss=f"{cue.start:.3f}", t=f"{cue.seconds:.3f}")
                .audio.filter("aresample", SAMPLE_RATE)
                .filter("aformat", sample_rates=SAMPLE_RATE, channel_layouts="stereo")
                .filter("apad", whole_dur=f"{cue.seconds:.3f}")
            )
        else:
            silence = f"anullsrc=channel_layout=stereo:sample_rate={SAMPLE_RATE}"
            parts.append(ffmpeg.input(silence, f="lavfi", t=f"{cue.seconds:.3f}").audio)
    joined = ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]
    levelled = joined.filter("loudnorm", i=SCORE_LUFS, tp=-2.0).filter("aresample", SAMPLE_RATE)
    output = ffmpeg.output(levelled, str(wav), acodec="pcm_s16le", ar=SAMPLE_RATE, ac=2)
    await run_ffmpeg_async(output.get_args())
    return wav
