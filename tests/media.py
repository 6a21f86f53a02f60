"""Small real media files made with ffmpeg for the tests, and what they measure."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from pipeline.ffmpeg import ffmpeg_binary, run_ffmpeg


def ffmpeg_log(*args: str) -> str:
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", *args],
        capture_output=True,
        check=False,
    )
    return completed.stderr.decode("utf-8", "replace")


def make_take(path: Path, seconds: float = 1.0, source: str = "testsrc", tone: int = 0) -> Path:
    args = ["-f", "lavfi", "-i", f"{source}=size=180x320:rate=24:duration={seconds}"]
    if tone:
        args += ["-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}"]
        args += ["-c:a", "aac"]
    run_ffmpeg([*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)])
    return path


def frame_count(video: Path) -> int:
    text = ffmpeg_log("-i", str(video), "-map", "0:v:0", "-c", "copy", "-f", "null", "-")
    return int(re.findall(r"frame=\s*(\d+)", text)[-1])


def mean_volume(media: Path, start: float, seconds: float) -> float:
    """Mean audio level in dB between start and start + seconds (-91 is digital silence)."""
    text = ffmpeg_log(
        "-ss", str(start), "-t", str(seconds), "-i", str(media),
        "-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-",
    )  # fmt: skip
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", text).group(1))


def band_volume(media: Path, start: float, seconds: float, hz: int) -> float:
    """Mean level in dB of one narrow band around `hz` (a tone, told apart from the rest)."""
    text = ffmpeg_log(
        "-ss", str(start), "-t", str(seconds), "-i", str(media), "-map", "0:a:0",
        "-af", f"bandpass=f={hz}:width_type=q:w=8,bandpass=f={hz}:width_type=q:w=8,volumedetect",
        "-f", "null", "-",
    )  # fmt: skip
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", text).group(1))


def tiny_clip(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ffmpeg_binary(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=90x160:rate=8",
            "-t",
            "0.5",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return str(path)


def clips(folder: Path, count: int, make: Callable[[Path], Path] = make_take) -> list[Path]:
    """`count` one-second takes in `folder`, made by `make`."""
    folder.mkdir(parents=True, exist_ok=True)
    return [make(folder / f"take{i}.mp4") for i in range(count)]
