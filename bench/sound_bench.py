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
score rendering alone, and its loudness. Then a music model's pieces (the tiny ACE-Step, or
`--music-model`): its real-time factor, and the score laid from its pieces. Then the same
episode with its lines spoken by two characters (espeak m3 and f2, alternating) and its stems
written: what a listener would measure of each voice (median pitch, words a minute) and of
each stem (integrated loudness), and how far the score is ducked under the lines.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.cut.assemble import CutShot, SegmentCache, cut_episode
from pipeline.ffmpeg import run_ffmpeg
from pipeline.sound.analysis import median_pitch, read_mono, spoken_seconds
from pipeline.sound.loudness import measure
from pipeline.sound.mix import LINE_LEAD, cues_on_timeline
from pipeline.sound.model_score import score_from_pieces
from pipeline.sound.music_jobs import MAX_PIECE, MUSIC_STEPS, mood_music
from pipeline.sound.score import MOODS, Cue, render_score, why_no_score
from pipeline.worker.engines.speech import speak
from pipeline.worker.requests import RenderRequest
from storage.voices import PALETTE

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
    parser.add_argument("--music-model", default="", help="ACE-Step id or folder (default tiny)")
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
        composed = await measure(folder / "score.wav")
        print(
            f"score alone: {total:.0f} s of music in {time.perf_counter() - started:.2f} s "
            f"({len(cues)} cues), {composed.integrated:.1f} LUFS"
        )
        await model_score(folder, cues, args.music_model)
        await spoken_episode(folder, shots)


async def model_score(folder: Path, cues: list[Cue], model: str) -> None:
    """The music model's pieces (one per mood, MAX_PIECE s each) and the score laid from them."""
    from pipeline.worker.engines import no_progress
    from pipeline.worker.engines.music import MusicEngine
    from pipeline.worker.settings import WorkerSettings

    if not model:
        from pipeline.worker.tiny_models.music import make_tiny_music_model

        model = str(make_tiny_music_model(folder / "tiny-ace-step"))
    engine, pieces, made, wall = MusicEngine(WorkerSettings.from_env()), {}, 0.0, 0.0
    for index, mood in enumerate(dict.fromkeys(cue.mood for cue in cues)):
        prompt, bpm, key = mood_music(mood)
        request = RenderRequest(
            job_id=f"bench{index}", engine="music", prompt=prompt, seeds=(index,),
            duration=MAX_PIECE, model=model, steps=MUSIC_STEPS, extra={"bpm": bpm, "key": key},
        )  # fmt: skip
        started = time.perf_counter()
        (take,) = engine.render(request, folder, no_progress)
        wall += time.perf_counter() - started if index else 0.0  # the first loads the model
        made += MAX_PIECE if index else 0.0
        pieces[mood] = Path(take.media_path)
    rtf = wall / made
    print(f"music model {Path(model).name}: {made:.0f} s of music in {wall:.2f} s "
          f"(real-time factor {rtf:.3f}; the tiny model's is its code path's cost)")  # fmt: skip
    started = time.perf_counter()
    laid = await score_from_pieces(cues, pieces, folder / "model-score.wav")
    loudness = await measure(laid)
    print(f"score laid from its pieces: {time.perf_counter() - started:.2f} s, "
          f"{loudness.integrated:.1f} LUFS")  # fmt: skip


async def spoken_episode(folder: Path, shots: list[CutShot]) -> None:
    """The episode with its lines spoken by two voices, cut with stems, measured."""
    spoken, heard = [], {}
    for index, shot in enumerate(shots):
        if not shot.dialogue:
            spoken.append(shot)
            continue
        voice = PALETTE[index % 2]
        line = speak(f"The tide is coming for us, number {index}.", voice,
                     folder / f"line{index}.wav")  # fmt: skip
        heard.setdefault(voice.name, []).append(line.path)
        spoken.append(replace(shot, duration=max(shot.duration, LINE_LEAD + line.seconds + 0.3),
                              line=line.path, line_seconds=line.seconds))  # fmt: skip
    out = await cut_episode(spoken, folder / "spoken.mp4", score=True, stems=True)
    for name, paths in heard.items():
        pitch = statistics.median(median_pitch(path) for path in paths)
        talking = sum(spoken_seconds(path) for path in paths)
        words = 8 * len(paths)
        print(f"voice {name}: median pitch {pitch:.0f} Hz, {words / talking * 60:.0f} words/min")
    for stem in ("dialogue", "music", "effects"):
        level = await measure(out.with_suffix(f".{stem}.wav"))
        print(f"stem {stem:<8}: {level.integrated:6.1f} LUFS, peak {level.true_peak:6.1f} dBTP")
    mix = await measure(out)
    print(f"spoken episode: {mix.integrated:.1f} LUFS integrated, {mix.true_peak:.1f} dBTP")
    under, between = music_levels(out.with_suffix(".music.wav"), spoken)
    print(f"score under the lines {under:.1f} dB, between them {between:.1f} dB "
          f"(ducked {between - under:.1f} dB)")  # fmt: skip


def music_levels(music: Path, shots: list[CutShot]) -> tuple[float, float]:
    """The music stem's mean level (dB RMS) while lines are heard, and while none is."""
    samples, rate = read_mono(music)
    during = np.zeros(samples.size, dtype=bool)
    start = 0.0
    for shot in shots:
        window = shot.window(shot.duration)
        if window is not None:
            during[int((start + window[0]) * rate) : int((start + window[1]) * rate)] = True
        start += shot.duration

    def level(mask: np.ndarray) -> float:
        return 10 * np.log10(float(np.mean(samples[mask] ** 2)) + 1e-12)

    return level(during), level(~during)


if __name__ == "__main__":
    asyncio.run(main())
