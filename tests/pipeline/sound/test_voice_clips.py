"""A voice's reference clip: an upload is kept only when it is audio of a usable length."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from pipeline.ffmpeg import run_ffmpeg
from pipeline.sound.clips import CLIP_RATE, MAX_CLIP_BYTES, check_clip_size, store_clip
from storage.errors import InvalidInput
from tests.media import make_take


def recording(path: Path, seconds: float, frequency: int = 180) -> bytes:
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}",
                "-c:a", "aac", "-b:a", "32k", str(path)])  # fmt: skip
    return path.read_bytes()


def long_recording(path: Path, seconds: float) -> bytes:
    """A long recording made cheaply (8 kHz, 8 bits: 30 minutes of AAC took 13 s to encode)."""
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=180:sample_rate=8000:duration={seconds}",
                "-c:a", "pcm_u8", str(path)])  # fmt: skip
    return path.read_bytes()


async def test_a_spoken_clip_is_kept_as_a_mono_24k_wav(tmp_path: Path):
    kept = await store_clip(recording(tmp_path / "me.m4a", 6.0), "`me.m4a`", tmp_path / "voices")
    with wave.open(str(kept)) as clip:
        assert (clip.getnchannels(), clip.getframerate()) == (1, CLIP_RATE)
        assert abs(clip.getnframes() / CLIP_RATE - 6.0) < 0.1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: b"not audio at all" * 100, "`x` is not an audio file"),
        (
            lambda folder: make_take(folder / "silent.mp4", 3.0).read_bytes(),
            "`x` is not an audio file",
        ),
        (
            lambda folder: long_recording(folder / "long.wav", 30 * 60),
            "runs 30 min 0 s: a voice clip is at most 120 seconds",
        ),
        (lambda folder: recording(folder / "short.m4a", 0.5), "needs at least 2 s"),
    ],
)
async def test_a_clip_that_is_not_a_usable_recording_is_refused_by_name(tmp_path, make, message):
    with pytest.raises(InvalidInput, match=message):
        await store_clip(make(tmp_path), "`x`", tmp_path / "voices")
    assert not (tmp_path / "voices").exists() or not list((tmp_path / "voices").iterdir())


def test_a_200_mb_upload_is_refused_before_it_is_downloaded():
    with pytest.raises(InvalidInput, match="is 200 MiB: a voice clip is at most 50 MiB"):
        check_clip_size(200 * 2**20, "`huge.wav`")
    check_clip_size(MAX_CLIP_BYTES, "`fits.wav`")
