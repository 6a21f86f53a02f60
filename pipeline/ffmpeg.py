"""Where the ffmpeg binary is, and how to run it (asyncio in the bot, blocking in the worker)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class FfmpegError(RuntimeError):
    """ffmpeg failed; the message is short, the stderr tail is kept for the log."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


def ffmpeg_binary() -> str:
    """FFMPEG_BINARY if set, else imageio-ffmpeg's bundled binary, else ffmpeg on PATH."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if not found:
            raise FfmpegError(
                "ffmpeg not found: install imageio-ffmpeg or set FFMPEG_BINARY"
            ) from None
        return found


def _tail(stderr: bytes, lines: int = 12) -> str:
    return "\n".join(stderr.decode("utf-8", "replace").strip().splitlines()[-lines:])


def run_ffmpeg(args: list[str]) -> None:
    """Run ffmpeg with args (without the binary) and wait; raise FfmpegError on failure."""
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", *args],
        capture_output=True,
        check=False,
    )
    if completed.returncode != 0:
        tail = _tail(completed.stderr)
        raise FfmpegError(f"ffmpeg failed ({completed.returncode}): {tail[-300:]}", tail)


async def run_ffmpeg_async(args: list[str]) -> None:
    """Like run_ffmpeg, as an asyncio subprocess so the event loop never blocks."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-y",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        tail = _tail(stderr)
        raise FfmpegError(f"ffmpeg failed ({process.returncode}): {tail[-300:]}", tail)


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None


def probe(path: str | Path) -> MediaInfo:
    """Read duration, size and codecs with the ffmpeg binary itself (no ffprobe is bundled)."""
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    text = completed.stderr.decode("utf-8", "replace")
    return parse_probe_output(text)


def parse_probe_output(text: str) -> MediaInfo:
    import re

    duration_match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    # the last "time=" of a full decode is more exact than the container header
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", text)
    hms = times[-1] if times else (duration_match.groups() if duration_match else None)
    if hms is None:
        raise FfmpegError("not a media file", text[-300:])
    duration = int(hms[0]) * 3600 + int(hms[1]) * 60 + float(hms[2])
    video = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})", text)
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", text)
    if video is None:
        raise FfmpegError("no video stream", text[-300:])
    return MediaInfo(
        duration=duration,
        width=int(video.group(2)),
        height=int(video.group(3)),
        video_codec=video.group(1),
        audio_codec=audio.group(1) if audio else None,
    )


def probe_json(path: str | Path) -> str:
    """MediaInfo as JSON, for logs and the CLI."""
    info = probe(path)
    return json.dumps(info.__dict__)
