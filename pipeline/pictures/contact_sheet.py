"""A contact sheet: the takes of a shot side by side, numbered like the 1️⃣-4️⃣ vote reactions.

Bot side (PIL and ffmpeg, no torch). Each take is one 9:16 cell showing its still (or its clip's
first frame), cropped to fill; a round badge in the top-left corner carries its number.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from pipeline.errors import FfmpegError
from pipeline.ffmpeg import run_ffmpeg

CELL_WIDTH = 270
CELL_HEIGHT = 480  # 9:16
GAP = 8
MAX_COLUMNS = 4
BACKGROUND = (24, 24, 28)
MISSING = (70, 70, 76)  # a take whose picture is gone still gets its numbered cell
BADGE_FILL = (255, 255, 255)
BADGE_TEXT = (20, 20, 20)


def grid(count: int) -> tuple[int, int]:
    """(columns, rows): one row of up to four, then rows of four."""
    columns = min(max(count, 1), MAX_COLUMNS)
    return columns, math.ceil(max(count, 1) / columns)


def _frame_of(media_path: Path) -> Image.Image | None:
    frame = media_path.with_name(f".{media_path.stem}.{secrets.token_hex(4)}.sheet.png")
    try:
        run_ffmpeg(["-i", str(media_path), "-frames:v", "1", str(frame)])
        with Image.open(frame) as image:
            return image.convert("RGB")
    except (FfmpegError, OSError, UnidentifiedImageError):
        return None
    finally:
        frame.unlink(missing_ok=True)


def take_picture(preview_path: str, media_path: str) -> Image.Image | None:
    """A take's still, else its clip's first frame, else None."""
    if preview_path:
        try:
            with Image.open(preview_path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError):
            pass
    if media_path and Path(media_path).is_file():
        return _frame_of(Path(media_path))
    return None


def _badge(draw: ImageDraw.ImageDraw, left: int, top: int, number: int) -> None:
    size = CELL_WIDTH // 5
    margin = size // 5
    box = (left + margin, top + margin, left + margin + size, top + margin + size)
    draw.ellipse(box, fill=BADGE_FILL, outline=BACKGROUND, width=3)
    font = ImageFont.load_default(size=int(size * 0.62))
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    draw.text(centre, str(number), fill=BADGE_TEXT, font=font, anchor="mm")


def make_contact_sheet(pictures: Sequence[Image.Image | None], out: Path) -> Path:
    """Write the numbered grid of pictures (take 1 first) to out as PNG, atomically."""
    if not pictures:
        raise ValueError("a contact sheet needs at least one take")
    columns, rows = grid(len(pictures))
    sheet = Image.new(
        "RGB",
        (columns * CELL_WIDTH + (columns + 1) * GAP, rows * CELL_HEIGHT + (rows + 1) * GAP),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        left = GAP + column * (CELL_WIDTH + GAP)
        top = GAP + row * (CELL_HEIGHT + GAP)
        if picture is None:
            cell = Image.new("RGB", (CELL_WIDTH, CELL_HEIGHT), MISSING)
        else:
            cell = ImageOps.fit(picture, (CELL_WIDTH, CELL_HEIGHT), Image.Resampling.LANCZOS)
        sheet.paste(cell, (left, top))
        _badge(draw, left, top, index + 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.partial.png")
    try:
        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG", optimize=True)
        partial.write_bytes(buffer.getvalue())
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def contact_sheet_for_takes(takes: Sequence[tuple[str, str]], out: Path) -> Path:
    """The sheet for takes given as (preview_path, media_path), in take order."""
    return make_contact_sheet([take_picture(preview, media) for preview, media in takes], out)
