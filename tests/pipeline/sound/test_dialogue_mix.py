"""The mix: a spoken line on top at its place in the shot, the music ducked under it by the
line itself (sidechain), its subtitle shown while it is heard; the whole at -14 LUFS."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from pipeline.cut.assemble import CutShot, MusicBed, build_srt, cut_episode
from pipeline.ffmpeg import probe, run_ffmpeg
from pipeline.sound.loudness import MAX_TRUE_PEAK, TARGET_LUFS, measure
from pipeline.sound.mix import LINE_LEAD, LINE_PAD
from tests.media import band_volume, make_take

LINE_HZ, MUSIC_HZ = 1000, 220  # a tone stands in for each, so the two can be told apart


def tone(path: Path, hz: int, seconds: float, volume: float) -> Path:
    """A sine at `volume` times full scale (lavfi's sine is at 1/8)."""
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds}:sample_rate=22050",
                "-af", f"volume={volume * 8}", str(path)])  # fmt: skip
    return path


def frame(media: Path, at: float, out: Path) -> np.ndarray:
    run_ffmpeg(["-ss", str(at), "-i", str(media), "-frames:v", "1", "-f", "rawvideo",
                "-pix_fmt", "gray", str(out)])  # fmt: skip
    return np.frombuffer(out.read_bytes(), dtype=np.uint8).reshape(320, 180).astype(int)


def test_a_spoken_lines_subtitle_is_timed_to_the_speech_an_unspoken_one_to_the_shot():
    shots = [
        CutShot(Path("a.mp4"), 4.0, "Run!", line=Path("run.wav"), line_seconds=1.5),
        CutShot(Path("b.mp4"), 2.0, "Nobody heard this one."),
    ]
    srt = build_srt(shots, 24, width=180, height=320, start=1.0)
    first, second = srt.split("\n\n")
    assert first.splitlines()[1] == "00:00:01,150 --> 00:00:02,950"  # 1 + 0.15 to + 1.5 + 0.3
    assert second.splitlines()[1] == "00:00:05,000 --> 00:00:07,000"
    assert (LINE_LEAD, LINE_PAD) == (0.15, 0.3)


async def test_the_music_ducks_under_a_spoken_line_and_the_mix_meets_the_platforms(
    tmp_path: Path,
):
    take = make_take(tmp_path / "take.mp4", 4.0, source="color")  # black
    line = tone(tmp_path / "line.wav", LINE_HZ, 1.5, 0.5)  # peaks of speech: half scale
    music = tone(tmp_path / "music.wav", MUSIC_HZ, 5.0, 0.2)
    shot = CutShot(take, 4.0, "Give me back my boat", line=line, line_seconds=1.5)
    out = await cut_episode([shot], tmp_path / "ep.mp4", width=180, height=320, fps=24,
                            music=MusicBed(music, 1.0))  # fmt: skip
    # the line is heard from 0.15 s to 1.65 s, not after
    assert band_volume(out, 0.5, 0.8, LINE_HZ) > band_volume(out, 2.5, 1.0, LINE_HZ) + 30
    # the music is at least 8 dB down while the line is heard, and back after it
    under = band_volume(out, 0.6, 0.8, MUSIC_HZ)
    after = band_volume(out, 2.6, 1.0, MUSIC_HZ)
    assert after - under >= 8, (under, after)
    # the line is on top: louder under it than the music around it
    assert band_volume(out, 0.6, 0.8, LINE_HZ) > after
    loudness = await measure(out)
    assert abs(loudness.integrated - TARGET_LUFS) <= 1.0 and loudness.true_peak <= MAX_TRUE_PEAK
    # its subtitle is burned in while it is heard, gone after (the take is one flat colour)
    during, later = frame(out, 1.0, tmp_path / "f1"), frame(out, 3.0, tmp_path / "f3")
    assert np.abs(during - later)[200:].mean() > 1.0  # the lower part carries the text
    assert np.abs(during - later)[:100].mean() < 0.5


async def test_the_stems_line_up_with_the_cut_and_hold_one_part_each(tmp_path: Path):
    take = make_take(tmp_path / "take.mp4", 4.0, source="color", tone=440)  # the take's sound
    line = tone(tmp_path / "line.wav", LINE_HZ, 1.5, 0.5)
    music = tone(tmp_path / "music.wav", MUSIC_HZ, 6.0, 0.2)
    shot = CutShot(take, 4.0, "Give me back my boat", line=line, line_seconds=1.5)
    out = await cut_episode([shot], tmp_path / "ep.mp4", width=180, height=320, fps=24,
                            music=MusicBed(music, 1.0), stems=True)  # fmt: skip
    stems = {name: out.with_suffix(f".{name}.wav") for name in ("dialogue", "music", "effects")}
    for path in stems.values():
        with wave.open(str(path)) as stem:
            seconds = stem.getnframes() / stem.getframerate()
        assert abs(seconds - probe(out).duration) < 0.05, path.name
    heard = {
        (name, hz): band_volume(path, 0.5, 0.8, hz)
        for name, path in stems.items()
        for hz in (LINE_HZ, MUSIC_HZ, 440)
    }
    assert heard[("dialogue", LINE_HZ)] > heard[("dialogue", MUSIC_HZ)] + 30
    assert heard[("music", MUSIC_HZ)] > heard[("music", LINE_HZ)] + 30
    assert heard[("effects", 440)] > heard[("effects", MUSIC_HZ)] + 30
    # the music stem is the music as mixed: ducked under the line
    assert band_volume(stems["music"], 2.6, 1.0, MUSIC_HZ) - heard[("music", MUSIC_HZ)] >= 8
