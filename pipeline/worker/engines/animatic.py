"""Storyboard animatic engine: one text card per take, turned into a clip. Needs no model."""

from __future__ import annotations

import colorsys
import functools
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.cut.subtitles import FontFile, find_font, needs_cjk, wrap_text
from pipeline.worker.engines import ProgressCallback, check_request_basics, save_take
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# camera words -> clip move; the first match wins, push-in when nothing matches
_MOVES = (
    (("static", "locked", "tripod", "still"), "static"),
    (("pull out", "pull-out", "pull back", "dolly out", "zoom out", "widen"), "pull-out"),
    (("pan left", "pan-left"), "pan-left"),
    (("pan right", "pan-right", "pan", "track"), "pan-right"),
    (("tilt up", "crane up", "pedestal up"), "pan-up"),
    (("tilt down", "crane down", "pedestal down", "tilt"), "pan-down"),
)


def camera_move(camera: str) -> str:
    """The clip move that best suggests the shot's camera note."""
    text = camera.lower()
    for words, move in _MOVES:
        if any(word in text for word in words):
            return move
    return "push-in"


@functools.cache
def _font(font: FontFile | None, size: int) -> Font:
    if font is not None:
        try:
            return ImageFont.truetype(str(font.path), size, index=font.index)
        except (OSError, ValueError):
            pass
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError, TypeError):
        return ImageFont.load_default()


@dataclass(frozen=True)
class _Block:
    lines: tuple[str, ...]
    font: Font
    fill: tuple[int, int, int]
    line_height: int


def _palette(seed: int) -> tuple[random.Random, list[tuple[int, int, int]]]:
    rng = random.Random(seed)
    hue = rng.random()
    colours = []
    for shift, saturation, value in ((0.0, 0.55, 0.42), (rng.uniform(0.08, 0.3), 0.6, 0.16)):
        r, g, b = colorsys.hsv_to_rgb((hue + shift) % 1.0, saturation, value)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    r, g, b = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.45, 1.0)
    colours.append((round(r * 255), round(g * 255), round(b * 255)))  # accent
    return rng, colours


def _background(width: int, height: int, seed: int) -> tuple[Image.Image, tuple[int, int, int]]:
    """A seed-driven gradient with a few soft shapes and storyboard thirds lines."""
    rng, (top, bottom, accent) = _palette(seed)
    mask = Image.linear_gradient("L").resize((width, height))
    if rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    image = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask
    )
    shapes = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    for _ in range(rng.randint(3, 6)):
        radius = rng.uniform(0.15, 0.55) * width
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        colour = (*accent, rng.randint(18, 45))
        if rng.random() < 0.6:
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        else:
            draw.rectangle(
                (cx - radius, cy - radius * 0.6, cx + radius, cy + radius * 0.6), fill=colour
            )
    line = max(1, width // 360)
    for third in (1, 2):
        x, y = width * third // 3, height * third // 3
        draw.line((x, 0, x, height), fill=(255, 255, 255, 28), width=line)
        draw.line((0, y, width, y), fill=(255, 255, 255, 28), width=line)
    image = Image.alpha_composite(image.convert("RGBA"), shapes).convert("RGB")
    return image, accent


def _line_height(font: Font, size: int) -> int:
    top, bottom = font.getbbox("Ag国")[1::2]
    return max(round(size * 1.3), int(bottom - top) + size // 4)


def _block(
    text: str,
    font_file: FontFile | None,
    size: int,
    width: float,
    fill: tuple[int, int, int],
    max_lines: int,
) -> _Block:
    font = _font(font_file, size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        # PIL's bitmap font (Pillow built without FreeType) only knows Latin-1
        text = text.encode("latin-1", "replace").decode("latin-1")
    lines = wrap_text(text, width, font.getlength) if text else []
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last + "…"]
    return _Block(tuple(lines), font, fill, _line_height(font, size))


def draw_card(request: RenderRequest, seed: int, take_number: int) -> Image.Image:
    """The storyboard card for one take: heading, description, camera, dialogue."""
    width, height = request.width, request.height
    image, accent = _background(width, height, seed)
    heading = request.heading.strip() or "Shot"
    description = (request.description or request.prompt).strip()
    camera = request.camera.strip()
    dialogue = request.dialogue.strip()
    font_file = find_font(cjk=needs_cjk(heading + description + camera + dialogue))

    margin_x = round(width * 0.08)
    top, bottom = round(height * 0.08), round(height * (1 - 0.14))  # players cover the bottom
    # the cut burns subtitles into the bottom third: card text stays above it
    text_bottom = round(height * 0.62)
    text_width = width - 2 * margin_x
    unit = min(width, height * 0.5625)  # sizes follow the 9:16 width, also on wide frames

    # shrink everything together until the card fits between the margins
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        blocks_top = [
            _block(heading, font_file, round(unit * 0.05 * scale), text_width, accent, 2),
            _block(
                description, font_file, round(unit * 0.068 * scale), text_width, (255, 255, 255), 7
            ),
            _block(
                f"CAMERA · {camera}" if camera else "",
                font_file,
                round(unit * 0.045 * scale),
                text_width,
                (220, 220, 220),
                2,
            ),
        ]
        quote = _block(
            f"“{dialogue}”" if dialogue else "",
            font_file,
            round(unit * 0.072 * scale),
            text_width - 2 * margin_x // 3,
            (255, 244, 214),
            4,
        )
        footer = _block(
            f"TAKE {take_number} · SEED {seed}",
            font_file,
            round(unit * 0.035 * scale),
            text_width,
            (200, 200, 200),
            1,
        )
        gap = round(unit * 0.04 * scale)
        top_height = sum(len(b.lines) * b.line_height + gap for b in blocks_top)
        quote_height = len(quote.lines) * quote.line_height + (2 * gap if quote.lines else 0)
        footer_height = footer.line_height
        if top + top_height + quote_height <= text_bottom:
            break

    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    y = top
    for index, block in enumerate(blocks_top):
        for line in block.lines:
            draw.text((margin_x, y), line, font=block.font, fill=(*block.fill, 255))
            y += block.line_height
        if index == 0 and block.lines:  # a rule under the heading
            rule = max(1, round(unit * 0.006))
            draw.rectangle(
                (margin_x, y + gap // 4, margin_x + text_width // 4, y + gap // 4 + rule),
                fill=(*accent, 255),
            )
        y += gap if block.lines else 0

    footer_y = bottom - footer_height
    if quote.lines:
        box_top = y
        draw.rounded_rectangle(
            (margin_x - gap // 2, box_top, width - margin_x + gap // 2, box_top + quote_height),
            radius=gap,
            fill=(0, 0, 0, 130),
        )
        y = box_top + gap
        for line in quote.lines:
            line_width = quote.font.getlength(line)
            draw.text(((width - line_width) / 2, y), line, font=quote.font, fill=(*quote.fill, 255))
            y += quote.line_height
    for line in footer.lines:
        draw.text((margin_x, footer_y), line, font=footer.font, fill=(*footer.fill, 200))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


class AnimaticEngine:
    """Text cards with a slow camera move: a storyboard to review before any GPU time."""

    name = "animatic"

    def __init__(self, settings: WorkerSettings) -> None:
        self.device = settings.device  # unused: cards are drawn on the CPU

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        self.check_inputs(request)
        out_dir.mkdir(parents=True, exist_ok=True)
        move = camera_move(request.camera)
        count = len(request.seeds)
        takes = []
        for index, seed in enumerate(request.seeds):
            card = draw_card(request, seed, index + 1)
            progress((index + 0.2) / count, "keyframe")
            takes.append(save_take(request, out_dir, index + 1, seed, card, move))
            progress((index + 1) / count, "clip")
        return takes
