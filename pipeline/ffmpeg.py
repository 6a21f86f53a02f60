"""Where the ffmpeg binary is, and how to run it (asyncio in the bot, blocking in the worker)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import DiskFullError, FfmpegError

# errno texts as ffmpeg prints them: ENOSPC, EFBIG (RLIMIT_FSIZE), EDQUOT
_OUT_OF_SPACE = (b"No space left on device", b"File too large", b"Disk quota exceeded")


def _out_of_space(returncode: int, stderr: bytes) -> bool:
    return returncode == -signal.SIGXFSZ or any(text in stderr for text in _OUT_OF_SPACE)


def _limit_file_size(max_bytes: int) -> Callable[[], None]:
    def limit() -> None:  # runs in the forked child, before exec
        # ignored, SIGXFSZ no longer kills ffmpeg: its write fails with EFBIG and it exits
        # with an error like on a full disk (the ignored disposition survives exec)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


_configured_binary = ""


def use_ffmpeg(binary: str) -> None:
    """Run this ffmpeg from now on (settings.ffmpeg_binary); empty: the default search."""
    global _configured_binary
    _configured_binary = binary


def ffmpeg_binary() -> str:
    """The configured binary (use_ffmpeg), else FFMPEG_BINARY if set, else imageio-ffmpeg's
    bundled binary, else ffmpeg on PATH."""
    configured = _configured_binary or os.environ.get("FFMPEG_BINARY")
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


def run_ffmpeg(
    args: list[str], *, stdin: bytes | None = None, timeout: float | None = None
) -> None:
    """Run ffmpeg with args (without the binary), feeding it stdin, and wait; raise FfmpegError
    on failure (subprocess.TimeoutExpired after timeout seconds)."""
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", "-y", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    if completed.returncode != 0:
        tail = _tail(completed.stderr)
        raise FfmpegError(f"ffmpeg failed ({completed.returncode}): {tail[-300:]}", tail)


async def run_ffmpeg_async(args: list[str], *, max_file_bytes: int | None = None) -> str:
    """Like run_ffmpeg, as an asyncio subprocess so the event loop never blocks; return
    ffmpeg's log (stderr).

    max_file_bytes caps every file ffmpeg writes (RLIMIT_FSIZE), so a run can be made to meet
    a full disk. Running out of space raises DiskFullError.
    """
    preexec = _limit_file_size(max_file_bytes) if max_file_bytes is not None else None
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-y",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        # a cancelled cut (the bot stopping) must not leave ffmpeg writing in the background
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    returncode = process.returncode
    assert returncode is not None  # communicate() waited for the exit
    if returncode != 0:
        tail = _tail(stderr)
        if _out_of_space(returncode, stderr):
            raise DiskFullError(f"ffmpeg ran out of disk space ({returncode})", tail)
        raise FfmpegError(f"ffmpeg failed ({returncode}): {tail[-300:]}", tail)
    return stderr.decode("utf-8", "replace")


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
