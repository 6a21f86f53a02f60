"""Title and end cards: centred text over a dark background, as segments of the episode.

Rendered by libass from an ASS script (CJK-safe with the font pipeline.cut.subtitles finds), over
ffmpeg's colour source, with silent audio, through the same output settings as the shots, so a
card joins the cut by stream copy like any shot.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.cut.segment_cache import Segment, SegmentCache
from pipeline.cut.segments import (
    BT601_CONVERSION,
    BT601_TAGS,
    VideoFormat,
    cache_key,
    segment_args,
    silence,
)
from pipeline.cut.subtitles import FontFile, find_font, fonts_dir, needs_cjk, wrap_text
from pipeline.ffmpeg import run_ffmpeg_async

BACKGROUND = "0x10141c"


@dataclass(frozen=True)
class Card:
    seconds: float
    heading: str  # the large line(s)
    lines: tuple[str, ...] = ()  # smaller lines under it


def title_card(series: str, number: int, title: str, seconds: float) -> Card | None:
    """Series title, then "Episode n" and the episode's title; None when seconds is 0."""
    if seconds <= 0:
        return None
    episode = f"Episode {number}" + (f" · {title.strip()}" if title.strip() else "")
    return Card(seconds, series.strip() or episode, (episode,) if series.strip() else ())


def end_card(credits: str, teaser: str, seconds: float) -> Card | None:
    """The "next episode" teaser line and the credits; None when seconds is 0 or both are empty."""
    if seconds <= 0 or not (credits.strip() or teaser.strip()):
        return None
    lines = tuple(line.strip() for line in credits.splitlines() if line.strip())
    if teaser.strip():
        return Card(seconds, f"Next: {teaser.strip()}", lines)
    return Card(seconds, lines[0], lines[1:])


def card_frames(card: Card, fps: int) -> int:
    return max(1, round(card.seconds * fps))


def _ass_text(text: str) -> str:
    # braces open override blocks and a backslash starts a tag in ASS: keep them literal
    return text.replace("\\", "＼").replace("{", "(").replace("}", ")")


def _wrapped(text: str, width: float, size: int) -> list[str]:
    def measure(part: str) -> float:
        return sum(size * (1.0 if needs_cjk(ch) else 0.58) for ch in part)

    return wrap_text(text, width, measure)


def card_script(card: Card, fmt: VideoFormat, font: FontFile | None) -> str:
    """An ASS script drawing the card centred, heading large, other lines smaller."""
    width, height = fmt.width, fmt.height
    big = max(12, round(min(height * 0.055, width * 0.09)))
    small = max(10, round(big * 0.6))
    usable = width * 0.84
    heading = [_ass_text(line) for line in _wrapped(card.heading, usable, big)]
    rest = [_ass_text(line) for text in card.lines for line in _wrapped(text, usable, small)]
    body = "\\N".join(heading)
    if rest:
        body += f"\\N{{\\fs{round(small * 0.6)}}}\\N{{\\fs{small}}}" + "\\N".join(rest)
    end = card.seconds + 1  # longer than the card: the trim decides where it ends
    family = font.family if font else "Sans"
    bold = -1 if font is not None and font.bold else 0
    outline = max(1, round(big / 24))
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {width}",
            f"PlayResY: {height}",
            "WrapStyle: 2",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BackColour, Bold, "
            "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV",
            f"Style: Card,{family},{big},&H00FFFFFF,&H00000000,&H00000000,{bold},1,{outline},0,"
            f"5,{round(width * 0.08)},{round(width * 0.08)},0",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Text",
            f"Dialogue: 0,0:00:00.00,{_ass_time(end)},Card,{body}",
            "",
        ]
    )


def _ass_time(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _card_font(card: Card) -> FontFile | None:
    return find_font(cjk=needs_cjk(card.heading + "".join(card.lines)))


async def prepare_card(cache: SegmentCache, card: Card, fmt: VideoFormat) -> Segment:
    """The card as a segment of the episode (cached like a shot)."""
    frames = card_frames(card, fmt.fps)
    font = _card_font(card)
    key = cache_key(
        "card",
        heading=card.heading,
        lines=list(card.lines),
        frames=frames,
        format=[fmt.width, fmt.height, fmt.fps],
        background=BACKGROUND,
        font=[str(font.path), font.index, font.family, font.bold] if font else None,
    )

    async def make(out: Path) -> None:
        size = f"{fmt.width}x{fmt.height}"
        background = ffmpeg.input(
            f"color=c={BACKGROUND}:s={size}:r={fmt.fps}", f="lavfi", t=frames / fmt.fps + 1
        )
        with tempfile.TemporaryDirectory(prefix="showrunner-card-") as folder:
            script = Path(folder) / "card.ass"
            script.write_text(card_script(card, fmt, font), encoding="utf-8")
            fonts = Path(folder) / "fonts"
            fonts.mkdir()
            video = (
                background.video.filter(
                    "ass", filename=str(script), fontsdir=fonts_dir(font, fonts)
                )
                .filter("setsar", r=1)
                .filter("scale", **BT601_CONVERSION)
                .filter("format", pix_fmts="yuv420p")
                .filter("setparams", **BT601_TAGS)
                .filter("trim", end_frame=frames)
                .filter("setpts", expr="PTS-STARTPTS")
            )
            await run_ffmpeg_async(segment_args(video, silence(frames, fmt.fps), out, fmt))

    return await cache.get(key, make)
