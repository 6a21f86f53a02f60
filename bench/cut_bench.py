"""Cut benchmark: Showrunner's cut_episode against the same cut in moviepy 2.x (not a test).

    /work/venv/bin/python bench/cut_bench.py [--shots 60] [--seconds 3] [--limit-mib 10]
                                             [--no-moviepy] [--keep]

A synthetic vertical episode: `--shots` takes of `--seconds` each, 720x1280 at 24 fps, H.264,
every take different (lavfi sources, hue and motion vary), most with a dialogue line (some
Chinese). Then, in one run:

- A: pipeline.cut.assemble.cut_episode (take checks, normalise, concat, burned subtitles,
  silent AAC, poster PNG), in a child process, three times over one segment cache:
  A cold: empty cache: every take normalised into a segment (two at a time), then joined;
  A warm: every segment already made (as the scheduler makes them when takes are approved):
          the cut only joins them by stream copy and encodes the audio;
  A retake: one take replaced by a new file: one segment encoded, the rest copied;
- B: the same cut with moviepy 2.x, in a child process: the same normalisation (cover-scale and
  crop when a take's size differs, 24 fps, trim or hold to the shot's length), concatenation,
  subtitles burned from the same SRT cues (same wrapping, timing, font, size, outline and bottom
  margin) as TextClips, a silent stereo AAC track, the same x264 settings (veryfast, CRF 23, high
  profile, yuv420p, +faststart) and a poster frame;
- stream copy: the raw takes joined by ffmpeg's concat demuxer with `-c copy` (possible only
  because they already share codec, size and frame rate; no subtitles, no audio), the floor;
- the delivery copy of cut A under the upload limit, with
  pipeline.delivery.copy_for_upload.fit_to_size.

Wall time is measured inside each child around the work only (imports excluded). Peak memory is
the largest sum of RSS over the child and all its descendants (ffmpeg), sampled every 50 ms with
psutil, plus the largest single process from wait4's ru_maxrss. moviepy is not a project
dependency: without it, part B is skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # peak tree RSS then reads 0; wait4's largest process still works
    psutil = None

from pipeline.cut.assemble import (
    CutShot,
    SegmentCache,
    build_srt,
    cut_episode,
    find_font,
    needs_cjk,
)
from pipeline.delivery.copy_for_upload import fit_to_size
from pipeline.ffmpeg import probe, run_ffmpeg

WIDTH, HEIGHT, FPS = 720, 1280, 24
MIB = 1024 * 1024
SAMPLE_EVERY = 0.05
TARGET_RATIO = 5.0
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}

# lavfi sources cycled over the takes; each take also gets its own hue and drift
SOURCES = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={hw}x{hh}:rate={fps}:start_scale={scale}",
    # cellular sources at an eighth of the size: blocks, not noise, like a real take's bitrate
    "life=size={ew}x{eh}:rate={fps}:mold=10:ratio=0.{seed}:death_color=#102040:seed={seed}",
    "cellauto=size={ew}x{eh}:rate={fps}:rule={rule}",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
)
LINES = (
    "Where were you last night?",
    "我一直在等你。",
    "The tide is coming in. We have to go now.",
    "Don't look back.",
    "你答应过我，你会回来的。",
    "He knows. He has always known.",
    "Then let the water god come for me!",
)


@dataclass(frozen=True)
class Measure:
    seconds: float
    cpu_seconds: float  # user + system, the child and the ffmpeg processes it waited for
    peak_tree_mib: float
    largest_process_mib: float
    extra: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# the synthetic episode


def take_args(index: int, seconds: float, path: Path) -> list[str]:
    template = SOURCES[index % len(SOURCES)]
    source = template.format(
        w=WIDTH,
        h=HEIGHT,
        hw=WIDTH // 2,
        hh=HEIGHT // 2,
        ew=WIDTH // 8,
        eh=HEIGHT // 8,
        fps=FPS,
        scale=1.0 + index * 0.37,
        seed=index % 9 + 1,
        rule=(30 + index * 7) % 256,
    )
    drift = f"crop=w=iw-{2 * (index % 7) + 2}:h=ih-8:x=t*{index % 5 + 1}:y=4"
    scale = f"scale={WIDTH}:{HEIGHT}:flags=neighbor"
    video = f"{drift},{scale},hue=h={index * 37 % 360}:s=1.2,format=yuv420p"
    return [
        "-f", "lavfi", "-t", str(seconds), "-i", source,
        "-vf", video, "-r", str(FPS),
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", str(FPS),
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip


def dialogue(index: int) -> str:
    return "" if index % 4 == 3 else LINES[index % len(LINES)]


def make_episode(folder: Path, count: int, seconds: float) -> list[CutShot]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"take{index:03d}.mp4" for index in range(count)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda i: run_ffmpeg(take_args(i, seconds, paths[i])), range(count)))
    return [
        CutShot(path, seconds, dialogue(index), f"Shot {index + 1}")
        for index, path in enumerate(paths)
    ]


def save_shots(shots: Sequence[CutShot], path: Path) -> None:
    rows = [[str(s.media_path), s.duration, s.dialogue, s.label] for s in shots]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def load_shots(path: Path) -> list[CutShot]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [CutShot(Path(media), duration, text, label) for media, duration, text, label in rows]


# ---------------------------------------------------------------------------------------------
# children: the work being measured


SHOWRUNNER_RUNS = {  # child kind -> the shot list it cuts (all share work/cache)
    "showrunner-cold": "shots.json",
    "showrunner-warm": "shots.json",
    "showrunner-retake": "shots_retake.json",
}


def child_showrunner(kind: str, work: Path) -> dict[str, Any]:
    shots = load_shots(work / SHOWRUNNER_RUNS[kind])
    out = work / kind / "episode.mp4"
    cache = SegmentCache(work / "cache")
    start = time.perf_counter()
    asyncio.run(cut_episode(shots, out, width=WIDTH, height=HEIGHT, fps=FPS, cache=cache))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "path": str(out), "encoded": cache.encoded, "reused": cache.reused}


def srt_cues(srt: str) -> list[tuple[float, float, str]]:
    cues = []
    for block in srt.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = (_srt_seconds(stamp) for stamp in lines[1].split(" --> "))
        cues.append((start, end, "\n".join(lines[2:])))
    return cues


def _srt_seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    seconds, millis = rest.split(",")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def child_moviepy(work: Path) -> dict[str, Any]:
    import numpy as np
    from moviepy import AudioClip, CompositeVideoClip, TextClip, concatenate_videoclips

    from pipeline.cut.subtitles import subtitle_metrics

    shots = load_shots(work / "shots.json")
    out = work / "moviepy" / "episode.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    srt = build_srt(shots, FPS, width=WIDTH, height=HEIGHT)
    out.with_suffix(".srt").write_text(srt, encoding="utf-8")
    clips = [_moviepy_normalised(shot) for shot in shots]
    video = concatenate_videoclips(clips, method="chain")
    clips[0].save_frame(str(out.with_suffix(".png")), t=0.5)

    font = find_font(cjk=needs_cjk(srt))
    # the SRT lines are already wrapped to the side margins, as Showrunner burns them
    font_size, outline, _, margin_v = subtitle_metrics(WIDTH, HEIGHT)
    texts = []
    for begin, end, text in srt_cues(srt):
        label = TextClip(
            font=str(font.path) if font else None,
            text=text,
            font_size=font_size,
            color="white",
            stroke_color="black",
            stroke_width=outline,
            method="label",
            text_align="center",
        )
        top = HEIGHT - margin_v - label.h
        texts.append(
            label.with_start(begin).with_duration(end - begin).with_position(("center", top))
        )
    episode = CompositeVideoClip([video, *texts], size=(WIDTH, HEIGHT))

    def silence(t: Any) -> Any:
        return np.zeros((len(t), 2)) if isinstance(t, np.ndarray) else np.zeros(2)

    episode = episode.with_audio(AudioClip(silence, duration=episode.duration, fps=48_000))
    episode.write_videofile(
        str(out),
        fps=FPS,
        codec="libx264",
        preset="veryfast",
        audio_codec="aac",
        audio_bitrate="128k",
        audio_fps=48_000,
        pixel_format="yuv420p",
        ffmpeg_params=["-crf", "23", "-profile:v", "high", "-movflags", "+faststart"],
        temp_audiofile_path=str(out.parent),
        logger=None,
    )
    for clip in [episode, *texts, *clips]:
        clip.close()  # stops and reaps each clip's ffmpeg reader
    return {"seconds": time.perf_counter() - start, "path": str(out), "subtitles": len(texts)}


def _moviepy_normalised(shot: CutShot) -> Any:
    from moviepy import VideoFileClip, vfx

    clip = VideoFileClip(str(shot.media_path), audio=False)
    if tuple(clip.size) != (WIDTH, HEIGHT):
        scale = max(WIDTH / clip.w, HEIGHT / clip.h)
        clip = clip.resized(scale).cropped(
            x_center=clip.w * scale / 2, y_center=clip.h * scale / 2, width=WIDTH, height=HEIGHT
        )
    clip = clip.with_fps(FPS)
    if clip.duration >= shot.duration:
        return clip.subclipped(0, shot.duration)
    hold = shot.duration - clip.duration
    return clip.with_effects([vfx.Freeze(t="end", freeze_duration=hold)])


def child_main(kind: str, work: Path) -> None:
    result = child_moviepy(work) if kind == "moviepy" else child_showrunner(kind, work)
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# the orchestrator: run a child, sample its memory


def tree_rss(pid: int) -> int:
    """RSS of pid and all its descendants, in bytes (0 without psutil)."""
    if psutil is None:
        return 0
    total = 0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return total


def measure_child(kind: str, work: Path) -> Measure:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--work", str(work)]
    env = {**os.environ, **THREAD_ENV}
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        peak = 0
        # reaped with wait4, not Popen.poll: its rusage holds the largest process's peak RSS
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(process.pid))
            time.sleep(SAMPLE_EVERY)
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    match = re.search(r"^RESULT (.*)$", text, re.MULTILINE)
    if process.returncode or match is None:
        raise RuntimeError(f"{kind} child failed ({process.returncode}):\n{text[-3000:]}")
    result = json.loads(match.group(1))
    largest = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(result.pop("seconds"), cpu, peak / MIB, largest, result)


# ---------------------------------------------------------------------------------------------
# stream copy and delivery copy (in this process: ffmpeg does all the work)


def stream_copy_concat(shots: Sequence[CutShot], out: Path) -> float:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{shot.media_path}'\n" for shot in shots), encoding="utf-8")
    start = time.perf_counter()
    run_ffmpeg(
        ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
         "-movflags", "+faststart", str(out)]
    )  # fmt: skip
    return time.perf_counter() - start


def decode_errors(path: Path) -> int:
    """Error lines from a full decode: 0 means every frame decodes cleanly."""
    from pipeline.ffmpeg import ffmpeg_binary

    completed = subprocess.run(
        [ffmpeg_binary(), "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    return len(completed.stderr.decode("utf-8", "replace").strip().splitlines())


COUNT_PACKETS = ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]


def frame_count(path: Path) -> int:
    from pipeline.ffmpeg import ffmpeg_binary

    completed = subprocess.run(
        [ffmpeg_binary(), "-nostdin", "-i", str(path), *COUNT_PACKETS],
        capture_output=True,
        check=False,
    )
    frames = re.findall(r"frame=\s*(\d+)", completed.stderr.decode("utf-8", "replace"))
    return int(frames[-1]) if frames else 0


# ---------------------------------------------------------------------------------------------
# report


def describe(path: Path) -> str:
    info = probe(path)
    size = path.stat().st_size / MIB
    codecs = f"{info.video_codec}/{info.audio_codec or 'no audio'}"
    return f"{info.width}x{info.height} {codecs} {info.duration:.2f} s {size:.1f} MiB"


def row(name: str, measure: Measure) -> str:
    return (
        f"  {name:<28} {measure.seconds:8.1f} s {measure.cpu_seconds:8.1f} s"
        f" {measure.peak_tree_mib:9.0f} MiB {measure.largest_process_mib:9.0f} MiB"
    )


def moviepy_version() -> str | None:
    try:
        import moviepy  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import version

    return version("moviepy")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--limit-mib", type=float, default=10.0)
    parser.add_argument("--no-moviepy", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", choices=(*SHOWRUNNER_RUNS, "moviepy"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.work)
        return
    work = Path(tempfile.mkdtemp(prefix="showrunner-cut-bench-"))
    try:
        run_bench(args, work)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_bench(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    print(f"cut bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    shots = make_episode(work / "takes", args.shots, args.seconds)
    save_shots(shots, work / "shots.json")
    takes_mib = sum(s.media_path.stat().st_size for s in shots) / MIB
    spoken = [s for s in shots if s.dialogue]
    print(
        f"episode: {len(shots)} shots x {args.seconds:g} s = {len(shots) * args.seconds:g} s, "
        f"{WIDTH}x{HEIGHT} @ {FPS} fps, H.264 takes ({takes_mib:.1f} MiB, made in "
        f"{time.perf_counter() - started:.1f} s); dialogue on {len(spoken)} shots "
        f"({sum(needs_cjk(s.dialogue) for s in spoken)} in Chinese)"
    )
    cold = measure_child("showrunner-cold", work)
    warm = measure_child("showrunner-warm", work)
    # a retake: a new file for one shot in the middle of the episode
    retake = len(shots) // 2
    new_take = work / "takes" / "retake.mp4"
    run_ffmpeg(take_args(retake + 1, args.seconds, new_take))
    retaken = [
        *shots[:retake],
        replace(shots[retake], media_path=new_take),
        *shots[retake + 1 :],
    ]
    save_shots(retaken, work / "shots_retake.json")
    recut = measure_child("showrunner-retake", work)
    version = None if args.no_moviepy else moviepy_version()
    moviepy = measure_child("moviepy", work) if version else None
    report_cuts(cold, warm, recut, moviepy, version, args.no_moviepy)
    master = Path(cold.extra["path"])
    report_stream_copy(shots, master, cold, warm, work / "copy" / "episode.mp4")
    report_delivery(master, args.limit_mib)
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.2f} (other work on the machine stretches wall times, "
        "not CPU times)"
    )


def report_cuts(
    cold: Measure,
    warm: Measure,
    recut: Measure,
    moviepy: Measure | None,
    version: str | None,
    skipped: bool,
) -> None:
    print(f"\n  {'':<28} {'wall':>10} {'cpu':>10} {'peak tree':>13} {'largest proc':>13}")
    print(row("A cold (empty cache)", cold))
    print(row("A warm (segments ready)", warm))
    print(row("A re-cut after 1 retake", recut))
    if moviepy is not None:
        print(row(f"B moviepy {version}", moviepy))
    for name, measure in (("cold", cold), ("warm", warm), ("retake", recut)):
        extra = measure.extra
        print(
            f"  A {name}: {describe(Path(extra['path']))}; segments encoded {extra['encoded']}, "
            f"reused {extra['reused']}; {frame_count(Path(extra['path']))} frames"
        )
    showrunner = cold
    if moviepy is None:
        reason = (
            "--no-moviepy" if skipped else "moviepy is not installed (not a project dependency)"
        )
        print(f"  B skipped: {reason}")
        return
    print(f"  B: {describe(Path(moviepy.extra['path']))}, {moviepy.extra['subtitles']} cues")
    ratio = moviepy.seconds / showrunner.seconds
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"  speed, cold cut: Showrunner is {ratio:.2f}x faster than moviepy in wall time "
        f"(target >= {TARGET_RATIO:g}x: {verdict}), "
        f"{moviepy.cpu_seconds / showrunner.cpu_seconds:.2f}x in CPU time; memory: "
        f"{moviepy.peak_tree_mib / max(showrunner.peak_tree_mib, 1):.2f}x less at peak"
    )
    print(
        f"  warm cut: {moviepy.seconds / warm.seconds:.0f}x faster than moviepy; re-cut after "
        f"a retake: {moviepy.seconds / recut.seconds:.0f}x (moviepy has no cache: it redoes "
        "everything every time)"
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report_stream_copy(
    shots: Sequence[CutShot], master: Path, cold: Measure, warm: Measure, copy: Path
) -> None:
    copy.parent.mkdir()
    cpu = children_cpu()
    seconds = stream_copy_concat(shots, copy)
    cpu = children_cpu() - cpu
    print(
        f"\nstream copy of the raw takes (concat demuxer, -c copy, no subtitles or audio): "
        f"{seconds:.2f} s, {cpu:.2f} s cpu; the warm cut (stream copy of the segments, plus "
        f"audio, poster, checks): {warm.seconds:.2f} s; the cold cut (encoding every segment): "
        f"{cold.seconds:.1f} s, {cold.seconds / warm.seconds:.0f}x the warm cut"
    )
    print(
        f"  {describe(copy)}; {frame_count(copy)} frames (cut A: {frame_count(master)}); "
        f"decode errors: {decode_errors(copy)}"
    )


def report_delivery(master: Path, limit_mib: float) -> None:
    limit = int(limit_mib * MIB)
    cpu = children_cpu()
    start = time.perf_counter()
    delivered = asyncio.run(fit_to_size(master, limit))
    seconds = time.perf_counter() - start
    cpu = children_cpu() - cpu
    size = delivered.stat().st_size
    verdict = "fits" if size <= limit else "DOES NOT FIT"
    which = "the master itself" if delivered == master else f"a copy: {describe(delivered)}"
    print(
        f"\ndelivery copy (fit_to_size): master {master.stat().st_size / MIB:.1f} MiB -> "
        f"{size / MIB:.2f} MiB ({size} bytes, {size / limit:.0%} of the limit) vs limit "
        f"{limit_mib:g} MiB ({limit} bytes): {verdict}; {seconds:.1f} s, {cpu:.1f} s cpu"
    )
    print(f"  {which}")


if __name__ == "__main__":
    main()
