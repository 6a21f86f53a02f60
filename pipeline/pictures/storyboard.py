"""The storyboard contact sheet: one numbered 9:16 thumbnail per shot, its border coloured by the
shot's status, with a legend. One PNG, small enough for any Discord upload."""

from __future__ import annotations

import functools
import math
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import sqlite_utils
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from pipeline.cut.subtitles import find_font, wrap_text
from storage import episodes, plan, takes
from storage.errors import InvalidInput
from storage.models import Shot, Take

RGB = tuple[int, int, int]
LegendRows = list[list[tuple[str, RGB, int]]]  # per row: text, colour, x

STATUS_COLOURS: dict[str, RGB] = {
    "planned": (140, 140, 140),
    "queued": (52, 120, 246),
    "rendering": (155, 89, 182),
    "review": (241, 196, 15),
    "approved": (46, 204, 113),
    "retake": (231, 76, 60),
}
UNKNOWN_COLOUR = (255, 255, 255)
BACKGROUND = (24, 24, 28)
CARD = (48, 48, 56)
TEXT = (235, 235, 235)
MAX_BYTES = 4 * 1024 * 1024  # well under Discord's smallest upload limit (10 MiB)
MAX_WIDTH = 1920
MIN_WIDTH = 480
MAX_CELL_WIDTH = 216
MAX_COLUMNS = 12
MARGIN = 16
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class Layout:
    """Where everything goes; cells are 9:16 including their status border."""

    count: int
    columns: int
    cell_width: int
    header_height: int
    legend_height: int
    margin: int = MARGIN

    @classmethod
    def for_count(cls, count: int) -> Layout:
        """Roughly square sheets: about sqrt(count * 16/9) columns, at most MAX_WIDTH wide."""
        columns = max(1, min(MAX_COLUMNS, count, math.ceil(math.sqrt(count * 16 / 9))))
        cell_width = min(MAX_CELL_WIDTH, (MAX_WIDTH - MARGIN * (columns + 1)) // columns)
        header = max(28, cell_width // 4)
        return cls(count, columns, cell_width, header, header)

    @property
    def legend_swatch(self) -> int:
        return max(10, self.header_height // 2)

    @property
    def cell_height(self) -> int:
        return round(self.cell_width * 16 / 9)

    @property
    def border(self) -> int:
        return max(3, self.cell_width // 30)

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.columns)

    @property
    def size(self) -> tuple[int, int]:
        width = self.margin + self.columns * (self.cell_width + self.margin)
        height = (
            self.header_height
            + self.margin
            + self.rows * (self.cell_height + self.margin)
            + self.legend_height
        )
        return max(width, MIN_WIDTH), height

    def box(self, index: int) -> tuple[int, int, int, int]:
        """The outer edge of cell index (its border included): left, top, right, bottom."""
        row, column = divmod(index, self.columns)
        left = self.margin + column * (self.cell_width + self.margin)
        top = self.header_height + self.margin + row * (self.cell_height + self.margin)
        return left, top, left + self.cell_width, top + self.cell_height


@functools.cache
def sheet_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    found = find_font(cjk=True)  # a CJK font also carries Latin letters
    if found is not None:
        try:
            return ImageFont.truetype(str(found.path), size, index=found.index)
        except OSError:
            pass
    return ImageFont.load_default(size)


def _picture(shot: Shot, shot_takes: list[Take]) -> Path | None:
    """The approved take's picture, else the newest take's that has one."""
    approved = [t for t in shot_takes if t.id == shot.approved_take_id]
    for take in approved + sorted(shot_takes, key=lambda t: t.id, reverse=True):
        for candidate in (take.preview_path, take.media_path):
            path = Path(candidate)
            if candidate and path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file():
                return path
    return None


def _thumbnail(path: Path, size: tuple[int, int]) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            image.draft("RGB", size)  # JPEG decodes at a reduced size
            return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError, ValueError):
        return None  # a missing or broken preview gets the plain card


def _card(text: str, size: tuple[int, int]) -> Image.Image:
    card = Image.new("RGB", size, CARD)
    draw = ImageDraw.Draw(card)
    font_size = max(9, size[0] // 11)
    font = sheet_font(font_size)
    pad = max(4, size[0] // 12)
    lines = wrap_text(text, size[0] - 2 * pad, lambda s: draw.textlength(s, font=font))
    top = pad + font_size * 2  # below the number badge
    line_height = round(font_size * 1.3)
    room = max(1, (size[1] - top - pad) // line_height)
    if len(lines) > room:
        lines = [*lines[: room - 1], lines[room - 1].rstrip() + "…"]
    for index, line in enumerate(lines):
        draw.text((pad, top + index * line_height), line, font=font, fill=TEXT)
    return card


def fit_text(text: str, width: int, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont) -> str:
    """text, shortened with an ellipsis to fit width pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _draw(
    episode_title: str,
    shots: list[Shot],
    pictures: list[Path | None],
    layout: Layout,
    legend: LegendRows,
) -> Image.Image:
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    title_font = sheet_font(max(12, layout.header_height // 2))
    draw.text(
        (layout.margin, layout.header_height // 2 + layout.margin // 2),
        fit_text(episode_title, layout.size[0] - 2 * layout.margin, draw, title_font),
        font=title_font,
        fill=TEXT,
        anchor="lm",
    )
    badge_font = sheet_font(max(10, layout.cell_width // 8))
    inner = layout.border
    for index, (shot, picture) in enumerate(zip(shots, pictures, strict=True)):
        left, top, right, bottom = layout.box(index)
        colour = STATUS_COLOURS.get(shot.status, UNKNOWN_COLOUR)
        draw.rectangle((left, top, right - 1, bottom - 1), fill=colour)
        size = (right - left - 2 * inner, bottom - top - 2 * inner)
        image = _thumbnail(picture, size) if picture else None
        sheet.paste(image or _card(shot.description, size), (left + inner, top + inner))
        label = str(shot.number)
        pad = max(2, layout.cell_width // 40)
        x, y = left + inner + pad, top + inner + pad
        box = draw.textbbox((x + pad, y), label, font=badge_font)
        draw.rectangle((x, y, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
        draw.text((x + pad, y), label, font=badge_font, fill=colour)
    legend_font = sheet_font(layout.legend_swatch)
    _legend(draw, legend, legend_font, layout.legend_swatch, layout.size[1] - layout.legend_height)
    return sheet


def _legend_rows(
    shots: list[Shot], font: ImageFont.ImageFont, swatch: int, width: int
) -> LegendRows:
    """Legend entries with their shot counts, wrapped into rows that fit width."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    rows: LegendRows = [[]]
    x = margin = MARGIN
    for status, colour in STATUS_COLOURS.items():
        text = f"{status} {sum(1 for shot in shots if shot.status == status)}"
        needed = swatch + swatch // 2 + round(measure.textlength(text, font=font))
        if rows[-1] and x + needed > width - margin:
            rows.append([])
            x = margin
        rows[-1].append((text, colour, x))
        x += needed + swatch
    return rows


def _legend(
    draw: ImageDraw.ImageDraw,
    rows: LegendRows,
    font: ImageFont.ImageFont,
    swatch: int,
    top: int,
) -> None:
    line_height = swatch * 2
    for index, row in enumerate(rows):
        y = top + index * line_height + line_height // 2
        for text, colour, x in row:
            draw.rectangle((x, y - swatch // 2, x + swatch, y + swatch // 2), fill=colour)
            draw.text((x + swatch + swatch // 2, y), text, font=font, fill=TEXT, anchor="lm")


def save_within(image: Image.Image, out_path: Path, max_bytes: int) -> None:
    """Write a PNG of at most max_bytes: as it is, else with a 256-colour palette, else smaller."""
    partial = out_path.with_name(f".{out_path.name}.partial-{secrets.token_hex(4)}.png")
    try:
        candidate = image
        while True:
            candidate.save(partial, format="PNG", optimize=False, compress_level=6)
            if partial.stat().st_size <= max_bytes:
                break
            paletted = candidate.quantize(
                256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
            )
            paletted.save(partial, format="PNG", compress_level=6)
            if partial.stat().st_size <= max_bytes or candidate.width < 200:
                break
            candidate = candidate.resize(
                (candidate.width * 3 // 4, candidate.height * 3 // 4), Image.Resampling.LANCZOS
            )
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)


@dataclass(frozen=True)
class Storyboard:
    """What the sheet shows, read from the database (drawing needs no database)."""

    title: str
    shots: tuple[Shot, ...]
    pictures: tuple[Path | None, ...]


def load_storyboard(db: sqlite_utils.Database, episode_id: int) -> Storyboard:
    episode = episodes.get_episode(db, episode_id)
    shots = plan.list_shots(db, episode_id)
    if not shots:
        raise InvalidInput(f"Episode {episode.number} has no shots yet.")
    seconds = round(sum(shot.duration for shot in shots))
    title = (
        f"Episode {episode.number}: {episode.title} — {len(shots)} shots, "
        f"{seconds // 60}:{seconds % 60:02d}"
    )
    pictures = tuple(_picture(shot, takes.takes_for_shot(db, shot.id)) for shot in shots)
    return Storyboard(title, tuple(shots), pictures)


def draw_storyboard(board: Storyboard, out_path: Path) -> Path:
    """Draw the sheet to out_path (PNG of at most MAX_BYTES, written atomically)."""
    shots = list(board.shots)
    layout = Layout.for_count(len(shots))
    rows = _legend_rows(
        shots, sheet_font(layout.legend_swatch), layout.legend_swatch, layout.size[0]
    )
    layout = replace(layout, legend_height=len(rows) * layout.legend_swatch * 2 + layout.margin)
    sheet = _draw(board.title, shots, list(board.pictures), layout, rows)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_within(sheet, out_path, MAX_BYTES)
    return out_path


def storyboard_sheet(db: sqlite_utils.Database, episode_id: int, out_path: Path) -> Path:
    """Draw the episode's contact sheet to out_path (PNG, written atomically) and return it.

    From a thread other than the database's, call load_storyboard first, then draw_storyboard
    in the thread.
    """
    return draw_storyboard(load_storyboard(db, episode_id), out_path)
