"""Title and end cards, and the music bed, in real cuts probed frame by frame and by level."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageStat

from pipeline.cut.assemble import Card, CutShot, MusicBed, cut_episode
from pipeline.cut.cards import end_card, title_card
from pipeline.errors import AssembleError
from pipeline.ffmpeg import probe, run_ffmpeg
from tests.media import frame_count, make_take, mean_volume

SMALL = {"width": 180, "height": 320, "fps": 24}


def frame_at(video: Path, seconds: float) -> Image.Image:
    png = video.with_name(f"frame_{seconds:.2f}.png")
    run_ffmpeg(["-ss", str(seconds), "-i", str(video), "-frames:v", "1", str(png)])
    with Image.open(png) as image:
        return image.convert("L")


def brightness(image: Image.Image) -> float:
    return ImageStat.Stat(image).mean[0]


def text_pixels(image: Image.Image) -> int:
    """Near-white pixels: the card's lettering on its dark background."""
    return sum(image.point(lambda v: 255 if v > 200 else 0).histogram()[255:])


@pytest.fixture
def shots(tmp_path: Path) -> list[CutShot]:
    return [
        CutShot(make_take(tmp_path / "a.mp4", 1.0), 1.0, "Where were you?"),
        CutShot(make_take(tmp_path / "b.mp4", 1.0, "testsrc2"), 1.0, "我一直在等你。"),
    ]


async def test_title_and_end_cards_frame_the_episode(tmp_path: Path, shots: list[CutShot]) -> None:
    title = title_card("潮汐 The Tide", 3, "The Flood", 1.0)
    end = end_card("Written by Ada\n导演：林", "The dam breaks.", 0.5)
    assert title is not None and end is not None

    out = await cut_episode(shots, tmp_path / "episode.mp4", title=title, end=end, **SMALL)

    assert abs(probe(out).duration - 3.5) <= 0.05
    assert frame_count(out) == 24 + 48 + 12
    title_frame, shot_frame, end_frame = (frame_at(out, t) for t in (0.5, 1.5, 3.25))
    # dark cards with light lettering; the testsrc shot is bright all over
    assert brightness(title_frame) < 40 and brightness(end_frame) < 40
    assert brightness(shot_frame) > 80
    assert text_pixels(title_frame) > 100 and text_pixels(end_frame) > 100
    # the subtitles move with the shots: they start after the title card
    srt = out.with_suffix(".srt").read_text(encoding="utf-8")
    assert srt == (
        "1\n00:00:01,000 --> 00:00:02,000\nWhere were you?\n\n"
        "2\n00:00:02,000 --> 00:00:03,000\n我一直在等你。\n"
    )


async def test_chinese_card_text_renders(tmp_path: Path, shots: list[CutShot]) -> None:
    # a card that only says something in Chinese still shows lettering (a CJK font was found)
    out = await cut_episode(
        shots[:1], tmp_path / "episode.mp4", title=Card(0.5, "第一集：洪水"), **SMALL
    )

    assert text_pixels(frame_at(out, 0.25)) > 100


def test_cards_are_optional() -> None:
    assert title_card("The Tide", 1, "Pilot", 0) is None
    assert end_card("Written by Ada", "More soon.", 0) is None
    assert end_card("", "", 2.0) is None
    assert end_card("Written by Ada", "", 2.0) == Card(2.0, "Written by Ada")
    assert title_card("", 2, "", 1.5) == Card(1.5, "Episode 2")


def make_music(path: Path, seconds: float) -> Path:
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", str(path)])
    return path


async def test_music_bed_is_looped_faded_and_lowered_under_dialogue(tmp_path: Path) -> None:
    # four silent shots; the third has a dialogue line; the music file lasts only 1 s
    shots = [
        CutShot(make_take(tmp_path / f"{i}.mp4", 1.0), 1.0, "Now!" if i == 2 else "")
        for i in range(4)
    ]
    music = MusicBed(make_music(tmp_path / "bed.mp3", 1.0), volume=0.5)

    out = await cut_episode(shots, tmp_path / "episode.mp4", music=music, **SMALL)

    assert probe(out).audio_codec == "aac"
    assert abs(probe(out).duration - 4.0) <= 0.05
    # fades in (1 s fade), full between, ducked under the line (2-3 s), fades out (3-4 s)
    start, full, ducked = (
        mean_volume(out, 0.0, 0.2),
        mean_volume(out, 1.2, 0.6),
        mean_volume(out, 2.2, 0.6),
    )
    assert full > -40
    assert full - ducked >= 8
    assert ducked > -60  # lowered, not cut: and still playing after the 1 s file ran out
    assert start < full - 6
    assert mean_volume(out, 3.8, 0.2) < full - 6


async def test_music_bed_under_a_takes_own_sound(tmp_path: Path) -> None:
    shots = [CutShot(make_take(tmp_path / "a.mp4", 2.0, tone=880), 2.0, "")]
    quiet = MusicBed(make_music(tmp_path / "bed.wav", 5.0), volume=0.0)

    out = await cut_episode(shots, tmp_path / "episode.mp4", music=quiet, **SMALL)

    # a silent bed leaves the take's own sound as it was
    assert mean_volume(out, 0.5, 1.0) > -30


async def test_a_missing_music_file_is_named(tmp_path: Path, shots: list[CutShot]) -> None:
    with pytest.raises(AssembleError, match=r"music bed file gone\.mp3 is missing"):
        await cut_episode(
            shots, tmp_path / "episode.mp4", music=MusicBed(tmp_path / "gone.mp3"), **SMALL
        )
    assert not (tmp_path / "episode.mp4").exists()
