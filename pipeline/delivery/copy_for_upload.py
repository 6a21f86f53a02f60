"""A delivery copy of an episode that fits an upload limit (two-pass H.264 at a computed bitrate).

The master is never touched: when it is too big, a smaller copy is encoded beside it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.errors import DeliveryError, FfmpegError
from pipeline.ffmpeg import MediaInfo, probe, run_ffmpeg_async

SIZE_HEADROOM = 0.95  # aim under the limit: x264's two-pass lands within a few percent
# mp4 headers, plus an index entry per video and audio frame (~28% of a tiny file)
CONTAINER_BYTES = 4096
CONTAINER_BYTES_PER_SECOND = 1000
SCALES = (1.0, 0.75, 0.5, 0.25)
MIN_VIDEO_BITRATE = 150_000  # at full size; below it the frame is mush, so shrink the frame
VIDEO_BITRATE_FLOOR = 8_000  # the last resort, at the smallest frame
MONO_AUDIO_BITRATE = 16_000  # the last resort: mono speech
MAX_ATTEMPTS = 6
MIN_SIDE = 16


@dataclass(frozen=True)
class Attempt:
    scale: float
    video_bitrate: int  # bit/s
    audio_bitrate: int  # bit/s


def delivery_path(master: Path) -> Path:
    """Where the delivery copy of master goes by default: `<stem>.delivery.mp4` beside it."""
    return master.with_name(f"{master.stem}.delivery.mp4")


def audio_bitrate(total_bitrate: float) -> int:
    """AAC bitrate for a total budget: 96k when there is room, 64k when tight, less at worst."""
    if total_bitrate >= 1_000_000:
        return 96_000
    if total_bitrate >= 200_000:
        return 64_000
    if total_bitrate >= 64_000:
        return 32_000
    return MONO_AUDIO_BITRATE


def plan_attempt(limit_bytes: int, duration: float, shrink: float, max_scale: float) -> Attempt:
    """Bitrates for one encode aiming at shrink x the limit, and the largest frame scale (at
    most max_scale) whose minimum bitrate the video budget still pays for."""
    duration = max(duration, 0.1)
    overhead = CONTAINER_BYTES + CONTAINER_BYTES_PER_SECOND * duration
    total = max(limit_bytes * SIZE_HEADROOM * shrink - overhead, 0.0) * 8 / duration
    audio = audio_bitrate(total)
    video = max(int(total - audio), VIDEO_BITRATE_FLOOR)
    scales = [s for s in SCALES if s <= max_scale]
    scale = next((s for s in scales if video >= MIN_VIDEO_BITRATE * s * s), scales[-1])
    return Attempt(scale, video, audio)


def next_try(shrink: float, scale: float, size: int, limit_bytes: int) -> tuple[float, float]:
    """After an encode at `scale` came out `size` bytes, over the limit: the next aim (lower by
    the overshoot, and by at least 10%) and the largest frame scale to try (the next smaller
    one; the smallest stays the smallest)."""
    shrink *= min(0.9, 0.95 * limit_bytes / size)
    smaller = [s for s in SCALES if s < scale]
    return shrink, smaller[0] if smaller else SCALES[-1]


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The frame size at scale, rounded to even numbers (H.264 with yuv420p needs them)."""

    def side(value: int) -> int:
        return max(MIN_SIDE, round(value * scale / 2) * 2)

    return side(width), side(height)


def _encode_args(
    master: Path, info: MediaInfo, attempt: Attempt, out: Path, passlog: Path, pass_number: int
) -> list[str]:
    source = ffmpeg.input(str(master))
    video = source.video
    if attempt.scale < 1:
        width, height = scaled_size(info.width, info.height, attempt.scale)
        video = video.filter("scale", w=width, h=height)
    options: dict[str, object] = {
        "c:v": "libx264",
        "b:v": attempt.video_bitrate,
        "pass": pass_number,
        "passlogfile": str(passlog),
        "preset": "fast",
        "profile:v": "high",
        "pix_fmt": "yuv420p",
    }
    if pass_number == 1:
        # the first pass only writes the rate-control log: no audio, no file
        return ffmpeg.get_args(ffmpeg.output(video, "-", an=None, f="null", **options))
    streams = [video]
    if info.audio_codec is not None:
        streams.append(source.audio)
        options |= {"c:a": "aac", "b:a": attempt.audio_bitrate}
        if attempt.audio_bitrate <= MONO_AUDIO_BITRATE:
            options["ac"] = 1
    options |= {"movflags": "+faststart", "f": "mp4"}
    return ffmpeg.get_args(ffmpeg.output(*streams, str(out), **options))


async def _encode(master: Path, info: MediaInfo, attempt: Attempt, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="showrunner-2pass-") as folder:
        passlog = Path(folder) / "x264"
        for pass_number in (1, 2):
            args = _encode_args(master, info, attempt, out, passlog, pass_number)
            try:
                await run_ffmpeg_async(args)
            except FfmpegError as error:
                raise DeliveryError(
                    f"could not encode a delivery copy of {master.name}: {error}"
                ) from error


def _reusable(copy: Path, master: Path, limit_bytes: int) -> bool:
    """A copy made from this very master (newer than it) that still fits."""
    try:
        stat = copy.stat()
    except OSError:
        return False
    return stat.st_mtime_ns >= master.stat().st_mtime_ns and 0 < stat.st_size <= limit_bytes


async def fit_to_size(master: Path, limit_bytes: int, out_path: Path | None = None) -> Path:
    """master when it fits in limit_bytes, else a copy that does (out_path, by default
    `<stem>.delivery.mp4` beside master): smaller bitrate first, then a smaller frame."""
    master = Path(master).resolve()
    if not master.is_file():
        raise DeliveryError(f"episode file {master.name} is missing")
    if master.stat().st_size <= limit_bytes:
        return master
    out = Path(out_path).resolve() if out_path is not None else delivery_path(master)
    if _reusable(out, master, limit_bytes):
        return out  # a retried delivery: the copy from the last try is still good
    try:
        info = await asyncio.to_thread(probe, master)
    except FfmpegError as error:
        raise DeliveryError(f"cannot read episode file {master.name}: {error}") from error

    tmp = out.with_name(f".{out.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial.mp4")
    shrink, max_scale = 1.0, SCALES[0]
    sizes: list[str] = []
    previous: Attempt | None = None
    try:
        for _ in range(MAX_ATTEMPTS):
            attempt = plan_attempt(limit_bytes, info.duration, shrink, max_scale)
            if attempt == previous:
                break  # at the floor already: another try would give the same size
            previous = attempt
            await _encode(master, info, attempt, tmp)
            size = tmp.stat().st_size
            if size <= limit_bytes:
                os.replace(tmp, out)
                return out
            sizes.append(f"{size} bytes at {attempt.scale:g}x")
            shrink, max_scale = next_try(shrink, attempt.scale, size, limit_bytes)
    finally:
        tmp.unlink(missing_ok=True)
    raise DeliveryError(
        f"could not fit {master.name} ({info.duration:.1f} s) into {limit_bytes} bytes "
        f"(tried {', '.join(sizes)})"
    )
