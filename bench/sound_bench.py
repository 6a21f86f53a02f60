"""Sound benchmark: what the score and the loudness pass cost in the cut (not a test).

    .venv/bin/python bench/sound_bench.py [--shots 20] [--seconds 3]

A synthetic 720x1280 episode of `--shots` takes (testsrc2, 24 fps) of `--seconds` each, in
scenes of four shots that cycle through the moods, most shots with a dialogue line. Side by
side in one run, each case three times (the median reported):
- silent: cut_episode as before the score (no music, nothing to normalise);
- scored: the same cut with the score composed, rendered by fluidsynth, ducked under the lines
  and brought to -14 LUFS;
both from an empty segment cache (cold: every take normalised) and from a warm one (the cut
only joins segments and makes the audio). Then the scored cut's loudness and true peak, and the
score rendering alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.cut.assemble import CutShot, SegmentCache, cut_episode
from pipeline.ffmpeg import run_ffmpeg
from pipeline.sound.loudness import measure
from pipeline.sound.mix import cues_on_timeline
from pipeline.sound.score import MOODS, render_score, why_no_score

RUNS = 3


def make_takes(folder: Path, count: int, seconds: float) -> list[Path]:
    takes = []
    for index in range(count):
        path = folder / f"take{index:02d}.mp4"
        run_ffmpeg(
            ["-f", "lavfi", "-i", f"testsrc2=size=720x1280:rate=24:duration={seconds}",
             "-vf", f"hue=h={index * 17}", "-c:v", "libx264", "-preset", "veryfast",
             "-pix_fmt", "yuv420p", str(path)]
        )  # fmt: skip
        takes.append(path)
    return takes


async def timed_cut(
    shots: list[CutShot], out: Path, cache: SegmentCache | None, score: bool
) -> float:
    started = time.perf_counter()
    await cut_episode(shots, out, cache=cache, score=score)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if why_no_score():
        raise SystemExit(f"no score can be rendered here: {why_no_score()}")
    moods = list(MOODS)
    with tempfile.TemporaryDirectory(prefix="sound-bench-") as name:
        folder = Path(name)
        takes = make_takes(folder, args.shots, args.seconds)
        shots = [
            CutShot(path, args.seconds, "" if i % 3 == 2 else f"Line {i}: the tide is coming",
                    f"Shot {i + 1}", moods[(i // 4) % len(moods)])
            for i, path in enumerate(takes)
        ]  # fmt: skip
        print(f"episode: {len(shots)} shots x {args.seconds:g} s = {len(shots) * args.seconds:g} s")
        results: dict[str, list[float]] = {}
        for run in range(RUNS):
            for score in (False, True):
                label = "scored" if score else "silent"
                cold = SegmentCache(folder / f"cache-{label}-{run}")
                out = folder / f"{label}.mp4"
                results.setdefault(f"cold {label}", []).append(
                    await timed_cut(shots, out, cold, score)
                )
                results.setdefault(f"warm {label}", []).append(
                    await timed_cut(shots, out, cold, score)
                )
        for case in ("cold", "warm"):
            silent = statistics.median(results[f"{case} silent"])
            scored = statistics.median(results[f"{case} scored"])
            print(
                f"{case:<5} silent {silent:6.2f} s   scored {scored:6.2f} s   "
                f"ratio {scored / silent:5.2f} (+{scored - silent:.2f} s)"
            )
        loudness = await measure(folder / "scored.mp4")
        print(
            f"scored cut: {loudness.integrated:.1f} LUFS integrated, "
            f"true peak {loudness.true_peak:.1f} dBTP"
        )
        cues, stingers = cues_on_timeline(
            [s.mood for s in shots], [s.duration for s in shots], 0.0, 0.0
        )
        started = time.perf_counter()
        total = sum(cue.seconds for cue in cues)
        await render_score(cues, total, folder / "score.wav", stingers)
        print(
            f"score alone: {total:.0f} s of music in {time.perf_counter() - started:.2f} s "
            f"({len(cues)} cues)"
        )


if __name__ == "__main__":
    asyncio.run(main())
