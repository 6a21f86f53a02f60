"""A voice's reference clip (for engines that clone a voice from a recording): an upload is
checked before it is kept, and kept as a 24 kHz mono WAV of at most MAX_CLIP_SECONDS."""

from __future__ import annotations

import base64
import io
import re
import secrets
import tempfile
import wave
from pathlib import Path

from pipeline.cut.segment_cache import read_header
from pipeline.cut.segments import has_audio
from pipeline.errors import FfmpegError
from pipeline.ffmpeg import run_ffmpeg_async
from storage.errors import InvalidInput

MAX_CLIP_BYTES = 50 * 1024 * 1024
MAX_CLIP_SECONDS = 120.0  # a voice is cloned from seconds of speech, not from an episode
MIN_CLIP_SECONDS = 2.0
CLIP_RATE = 24_000
CLONE_SECONDS = 20.0  # what a speech request carries of a clip: models clone from seconds
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def check_clip_size(size: int, name: str) -> None:
    """Refuse an upload too big to be a voice clip before it is downloaded."""
    if size > MAX_CLIP_BYTES:
        raise InvalidInput(
            f"{name} is {size / 2**20:.0f} MiB: a voice clip is at most "
            f"{MAX_CLIP_BYTES // 2**20} MiB (and {MAX_CLIP_SECONDS:.0f} seconds)."
        )


async def store_clip(data: bytes, name: str, folder: Path) -> Path:
    """The upload `data` (called `name` in messages) kept in `folder` as a WAV; InvalidInput
    naming what is wrong when it is not audio, too long, too short or too big."""
    check_clip_size(len(data), name)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="showrunner-clip-") as work:
        upload = Path(work) / "upload"
        upload.write_bytes(data)
        header = await read_header(upload)
        if not has_audio(header):
            raise InvalidInput(f"{name} is not an audio file ffmpeg can read.")
        found = _DURATION.search(header)
        if found is None:
            raise InvalidInput(f"{name} has no length ffmpeg can read.")
        hours, minutes, seconds = found.groups()
        length = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        if length > MAX_CLIP_SECONDS:
            raise InvalidInput(
                f"{name} runs {length / 60:.0f} min {length % 60:.0f} s: a voice clip is at most "
                f"{MAX_CLIP_SECONDS:.0f} seconds (a clean recording of the voice alone)."
            )
        if length < MIN_CLIP_SECONDS:
            raise InvalidInput(f"{name} runs {length:.1f} s: a voice clip needs at least 2 s.")
        kept = folder / f"clip-{secrets.token_hex(6)}.wav"
        try:
            await run_ffmpeg_async(
                ["-i", str(upload), "-map", "0:a:0", "-ac", "1", "-ar", str(CLIP_RATE),
                 "-c:a", "pcm_s16le", str(kept)]
            )  # fmt: skip
        except FfmpegError as error:
            kept.unlink(missing_ok=True)
            raise InvalidInput(f"{name}'s audio could not be decoded.") from error
    return kept


def clip_for_request(path: str) -> str:
    """The first CLONE_SECONDS of a kept clip as a base64 WAV, for a speech request (a worker
    on another machine cannot read the bot's files); "" when there is none or it is gone."""
    if not path:
        return ""
    try:
        with wave.open(path) as clip:
            params = clip.getparams()
            frames = clip.readframes(int(CLONE_SECONDS * clip.getframerate()))
    except (OSError, EOFError, wave.Error):
        return ""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as cut:
        cut.setparams(params)
        cut.writeframes(frames)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
