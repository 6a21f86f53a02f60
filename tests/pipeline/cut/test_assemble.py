"""Cutting an episode with the real ffmpeg binary: sizes, codecs, timing, subtitles, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageChops

from pipeline.cut.assemble import CutShot, build_srt, cut_episode, wrap_text
from pipeline.errors import AssembleError
from pipeline.ffmpeg import probe, run_ffmpeg


def make_take(path: Path, width: int, height: int, seconds: float) -> Path:
    run_ffmpeg(
        [
            "-f", "lavfi",
            "-i", f"testsrc=size={width}x{height}:rate=30:duration={seconds}",
            "-pix_fmt", "yuv420p",
            str(path),
        ]
    )  # fmt: skip
    return path


def frame_at(video: Path, seconds: float, png: Path) -> Image.Image:
    run_ffmpeg(["-ss", str(seconds), "-i", str(video), "-frames:v", "1", str(png)])
    with Image.open(png) as image:
        return image.convert("RGB")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # spaces, a colon, quotes, brackets, a comma, a semicolon and a backslash: each is special
    # somewhere in ffmpeg's filter syntax
    path = tmp_path / "Ep 1: it's [final], cut; \\ v2"
    path.mkdir()
    return path


@pytest.fixture
def shots(folder: Path) -> list[CutShot]:
    return [
        # shorter than its shot (padded), longer (trimmed), and a different aspect each
        CutShot(make_take(folder / "a.mp4", 320, 240, 1.0), 1.25, "Where were you?"),
        CutShot(make_take(folder / "b.mp4", 180, 320, 2.0), 1.0, ""),
        CutShot(make_take(folder / "c.mp4", 640, 360, 0.5), 0.75, "我一直在等你。"),
    ]


async def test_cut_has_size_codecs_duration_and_subtitles(
    folder: Path, shots: list[CutShot]
) -> None:
    out = await cut_episode(shots, folder / "episode.mp4", width=180, height=320)

    assert out == (folder / "episode.mp4").resolve()
    info = probe(out)
    assert (info.width, info.height) == (180, 320)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.duration - 3.0) <= 0.1
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    assert srt == (
        "1\n00:00:00,000 --> 00:00:01,250\nWhere were you?\n\n"
        "2\n00:00:02,250 --> 00:00:03,000\n我一直在等你。\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.mp4", "b.mp4", "c.mp4", "episode.mp4", "episode.png", "episode.srt"
    ]  # fmt: skip

    # the burned subtitle changes the bottom third of the picture, and only there
    silent = await cut_episode(
        [CutShot(shot.media_path, shot.duration) for shot in shots],
        folder / "silent.mp4",
        width=180,
        height=320,
    )
    with_text = frame_at(out, 0.5, folder / "with.png")
    without = frame_at(silent, 0.5, folder / "without.png")
    changed = ImageChops.difference(with_text, without).point(lambda v: 255 if v > 40 else 0)
    box = changed.getbbox()
    assert box is not None
    assert box[1] >= 320 * 0.55 and box[3] <= 320 * 0.9


async def test_cut_at_default_size(folder: Path) -> None:
    take = make_take(folder / "wide.mp4", 640, 360, 1.0)

    out = await cut_episode([CutShot(take, 1.0, "好的。")], folder / "episode.mp4")

    info = probe(out)
    assert (info.width, info.height) == (720, 1280)
    assert abs(info.duration - 1.0) <= 0.1


async def test_missing_take_names_the_shot_and_keeps_the_previous_cut(
    folder: Path, shots: list[CutShot]
) -> None:
    out = folder / "episode.mp4"
    out.write_bytes(b"previous cut")
    out.with_suffix(".srt").write_text("previous subtitles", encoding="utf-8")
    missing = CutShot(folder / "gone.mp4", 1.0, "Hello?", label="Ep 1 · Scene 1 · Shot 2")

    with pytest.raises(AssembleError, match=r"Shot 2.*gone\.mp4.*missing"):
        await cut_episode([shots[0], missing, shots[2]], out, width=180, height=320)

    assert out.read_bytes() == b"previous cut"
    assert out.with_suffix(".srt").read_text(encoding="utf-8") == "previous subtitles"
    assert not [p for p in folder.iterdir() if "partial" in p.name]


async def test_unreadable_take_names_the_shot(folder: Path, shots: list[CutShot]) -> None:
    broken = folder / "broken.mp4"
    broken.write_bytes(b"not a video at all")

    with pytest.raises(AssembleError, match=r"shot 2.*broken\.mp4.*unreadable"):
        await cut_episode([shots[0], CutShot(broken, 1.0)], folder / "episode.mp4")


async def test_empty_shot_list_is_an_error(folder: Path) -> None:
    with pytest.raises(AssembleError, match="no shots"):
        await cut_episode([], folder / "episode.mp4")


def test_srt_times_follow_the_frame_grid_and_wraps_long_lines() -> None:
    long_line = "这是一个很长的中文句子，需要自动换行才能在手机屏幕上显示完整。"
    shots = [
        CutShot(Path("a.mp4"), 1.3, "Hi."),
        CutShot(Path("b.mp4"), 1.3, long_line),
    ]

    srt = build_srt(shots, 24, width=720, height=1280)

    # 1.3 s is 31.2 frames: the cut starts shot 2 at frame 31 and ends it at frame 62
    assert "00:00:00,000 --> 00:00:01,292\nHi.\n" in srt
    assert "00:00:01,292 --> 00:00:02,583\n" in srt
    cue_lines = srt.split("00:00:02,583\n")[1].strip().splitlines()
    assert len(cue_lines) >= 2
    assert "".join(cue_lines) == long_line


def test_wrap_text_keeps_words_and_splits_cjk() -> None:
    def measure(text: str) -> float:
        return float(len(text))

    assert wrap_text("one two three four", 9, measure) == ["one two", "three", "four"]
    assert wrap_text("你好世界，朋友们", 4, measure) == ["你好世界，", "朋友们"]
    assert wrap_text("abcdefghij", 4, measure) == ["abcd", "efgh", "ij"]
    assert wrap_text("first\n\nsecond", 20, measure) == ["first", "second"]
