"""Files the team uploads (a music bed): checked with ffmpeg, stored under ids, atomically."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pipeline.ffmpeg import ffmpeg_binary
from storage.errors import InvalidInput

MUSIC_FOLDER = "music"  # under the media folder
MAX_MUSIC_BYTES = 25 * 1024 * 1024
MUSIC_SUFFIXES = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac")
PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    codec: str


def check_music_upload(filename: str, size: int) -> str:
    """The stored suffix for an upload named filename of size bytes; refuses other files before
    anything is downloaded."""
    suffix = Path(filename).suffix.lower()
    if suffix not in MUSIC_SUFFIXES:
        raise InvalidInput(
            f"`{filename[:100]}` is not an audio file I take for music: upload one of "
            f"{', '.join(MUSIC_SUFFIXES)}."
        )
    if size > MAX_MUSIC_BYTES:
        raise InvalidInput(
            f"`{filename[:100]}` is {size / 2**20:.1f} MiB; music can be at most "
            f"{MAX_MUSIC_BYTES // 2**20} MiB."
        )
    return suffix


async def probe_audio(path: Path) -> AudioInfo | None:
    """The first audio stream's codec and the file's duration, or None when ffmpeg finds no
    audio in it (pipeline.ffmpeg.probe wants a video stream, music has none)."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "null",
        "-",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    text = stderr.decode("utf-8", "replace")
    audio = re.search(r"Stream #\S+.*?: Audio: (\w+)", text)
    # the last "time=" of the decode, else the container's header
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", text) or re.findall(
        r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text
    )
    if process.returncode != 0 or audio is None or not times:
        return None
    hours, minutes, seconds = times[-1]
    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return AudioInfo(duration, audio.group(1)) if duration > 0 else None


async def store_music(
    data: bytes, filename: str, media_dir: Path, project_id: int
) -> tuple[Path, AudioInfo]:
    """Check an uploaded music file and store it as <media>/music/project<id>-<token>.<ext>,
    beside the project's previous music, which stays until the project points at the new file
    (remove_music then); a refused file leaves nothing behind."""
    suffix = check_music_upload(filename, len(data))
    folder = media_dir / MUSIC_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    final = folder / f"project{project_id}-{token}{suffix}"
    partial = folder / f".project{project_id}.partial-{token}{suffix}"
    try:
        await asyncio.to_thread(partial.write_bytes, data)
        info = await probe_audio(partial)
        if info is None:
            raise InvalidInput(
                f"`{filename[:100]}` has no audio that ffmpeg can read: upload a sound file "
                f"({', '.join(MUSIC_SUFFIXES)})."
            )
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final, info


def remove_music(media_dir: Path, project_id: int, keep: Path | None = None) -> None:
    """Delete the project's music files, except keep (the one the project now uses)."""
    folder = media_dir / MUSIC_FOLDER
    for pattern in (f"project{project_id}-*", f"project{project_id}.*"):
        for path in folder.glob(pattern):
            if keep is None or path.resolve() != keep.resolve():
                path.unlink(missing_ok=True)
