"""Loudness as the short-video platforms want it: -14 LUFS integrated, true peak at or below
-1 dBTP (EBU R128, measured with ffmpeg's ebur128 filter).

One static gain to the target, then a true-peak limiter (at four times the sample rate) with
a ceiling under -1 dBTP, since the AAC encode adds some peak. The result is measured: where the
limiter took loudness away (a score's stingers), the gain is raised by what is missing; where
the encode overshot the peak (by 2.3 dB on one produced episode), the ceiling is lowered by the
excess; and the pass is made again. A static gain
keeps the mix's own dynamics; loudnorm's dynamic mode would not, and it falls back to it
without saying when the linear gain would clip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import AssembleError
from pipeline.ffmpeg import run_ffmpeg_async

TARGET_LUFS = -14.0
MAX_TRUE_PEAK = -1.0
LIMITER_CEILING = -1.8  # dBTP before the AAC encode, which adds up to ~0.5 dB of peak
SILENT_BELOW = -70.0  # LUFS: ebur128's gate; a track this quiet has nothing to normalise
_SUMMARY = re.compile(
    r"Integrated loudness:\s+I:\s+(-?[\d.]+|-inf) LUFS.*?Peak:\s+(-?[\d.]+|-inf) dBFS", re.S
)


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP

    @property
    def silent(self) -> bool:
        return self.integrated <= SILENT_BELOW


def parse_ebur128(log: str) -> Loudness:
    """The summary ebur128 prints at the end of ffmpeg's log (the last one: a graph can
    print a bogus one before it)."""
    found = _SUMMARY.findall(log)
    if not found:
        raise AssembleError("ffmpeg printed no loudness summary")
    integrated, peak = found[-1]
    return Loudness(float(integrated), float(peak))


METER_FILTER = "ebur128=peak=true:framelog=verbose"
# ebur128 passes the audio through: at the end of a chain that writes a file it measures what
# is written without a second decode (parse the run's log with parse_ebur128). This meter reads
# the sample peak, not the true peak (which costs a 4x oversampling): its Loudness.true_peak
# is then a sample peak, for the passes before the encode that is measured in full
SAMPLE_METER = {"peak": "sample", "framelog": "verbose"}


async def measure(media: Path) -> Loudness:
    """The integrated loudness and true peak of a file's first audio stream."""
    log = await run_ffmpeg_async(
        ["-nostats", "-i", str(media), "-map", "0:a:0", "-af", METER_FILTER, "-f", "null", "-"]
    )
    return parse_ebur128(log)


def normalising_filter(gain: float, ceiling_db: float = LIMITER_CEILING, rate: int = 48_000) -> str:
    """The audio filter that raises a track by `gain` dB under a limiter at `ceiling_db`
    (oversampled 2x: the peaks between samples that are left, the encode's check catches)."""
    ceiling = 10 ** (ceiling_db / 20)
    return (
        f"volume={gain:.2f}dB,aresample={rate * 2},"
        f"alimiter=limit={ceiling:.4f}:attack=5:release=50:level=false,aresample={rate}"
    )
