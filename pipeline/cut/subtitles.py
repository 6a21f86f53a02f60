"""Subtitle text: font lookup, line wrapping, SubRip timestamps and the burned-in style.

Shared by the cut (pipeline.cut.assemble, pipeline.cut.segments, pipeline.cut.cards) and the
storyboard cards of the animatic engine.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# fonts and line wrapping


@dataclass(frozen=True)
class FontFile:
    path: Path
    family: str
    index: int = 0  # face index inside a .ttc collection
    cjk: bool = False
    bold: bool = False


# Most wanted first. Families are matched case-insensitively as prefixes.
_CJK_FAMILIES = (
    "noto sans cjk sc",
    "noto sans sc",
    "source han sans sc",
    "source han sans cn",
    "noto sans cjk",
    "source han sans",
    "wenquanyi micro hei",
    "wenquanyi zen hei",
    "droid sans fallback",
)
_LATIN_FAMILIES = ("dejavu sans", "noto sans", "liberation sans", "arial", "helvetica")
_KNOWN_FILES = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "Noto Sans CJK SC", 2, True),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), "WenQuanYi Micro Hei", 0, True),
    (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), "WenQuanYi Zen Hei", 0, True),
    (Path("/System/Library/Fonts/PingFang.ttc"), "PingFang SC", 0, True),
    (Path("C:/Windows/Fonts/msyh.ttc"), "Microsoft YaHei", 0, True),
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), "DejaVu Sans", 0, False),
    (Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"), "DejaVu Sans", 0, False),
    (Path("/Library/Fonts/Arial.ttf"), "Arial", 0, False),
    (Path("C:/Windows/Fonts/arial.ttf"), "Arial", 0, False),
)


def _fc_list(pattern: str) -> list[FontFile]:
    if shutil.which("fc-list") is None:
        return []
    try:
        completed = subprocess.run(
            ["fc-list", "-f", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n", pattern],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    fonts = []
    for line in completed.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        path, index, family, style = parts
        if path.lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            cjk = ":lang=zh" in pattern
            bold = "bold" in style.lower()
            fonts.append((style, FontFile(Path(path), family, int(index), cjk, bold)))
    # fc-list order is arbitrary: sort so the plain upright weights come first
    return [font for _, font in sorted(fonts, key=lambda item: _style_rank(item[0], item[1]))]


def _style_rank(style: str, font: FontFile) -> tuple[int, int, str]:
    style = style.lower()
    family = font.family.lower()
    if "bold" in style and not any(s in style for s in ("oblique", "italic")):
        weight = 0
    elif style in ("regular", "book", "medium", "normal"):
        weight = 1
    else:
        weight = 2
    odd = int(any(w in family or w in style for w in ("mono", "serif", "condensed", "narrow")))
    return (odd, weight, str(font.path))


def _pick(fonts: list[FontFile], families: tuple[str, ...]) -> FontFile | None:
    for wanted in families:
        for font in fonts:
            if font.family.lower().startswith(wanted):
                return font
    return fonts[0] if fonts else None


@functools.cache
def find_font(cjk: bool = True) -> FontFile | None:
    """A readable sans font file: a CJK-capable one first when cjk, else a Latin one.

    Uses fontconfig (fc-list) when present, then well-known paths. None when the system has
    no usable font at all (callers fall back to PIL's built-in font).
    """
    cjk_fonts = [f for f in _fc_list(":lang=zh") if f.path.is_file()]
    latin_fonts = [f for f in _fc_list(":lang=en") if f.path.is_file()]
    cjk_fonts += [FontFile(p, fam, i, True) for p, fam, i, c in _KNOWN_FILES if c and p.is_file()]
    latin_fonts += [FontFile(p, fam, i) for p, fam, i, c in _KNOWN_FILES if not c and p.is_file()]
    order = [(cjk_fonts, _CJK_FAMILIES), (latin_fonts, _LATIN_FAMILIES)]
    if not cjk:
        order.reverse()
    for fonts, families in order:
        picked = _pick(fonts, families)
        if picked is not None:
            return picked
    return None


def needs_cjk(text: str) -> bool:
    """True when text has characters that a Latin font lacks (CJK, kana, hangul, fullwidth)."""
    return any(unicodedata.east_asian_width(ch) in ("W", "F") for ch in text)


def _tokens(text: str) -> list[str]:
    """Split into wrap units: Latin words (with their trailing space) and single wide chars."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        elif ch == " ":
            tokens.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens


def wrap_text(text: str, max_width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy word wrap (per character for CJK) so each line measures at most max_width.

    Line breaks in text are kept, blank lines dropped; a word wider than a line is split.
    """
    lines: list[str] = []
    for paragraph in text.replace("\r", "").split("\n"):
        line = ""
        for token in _tokens(paragraph.strip()):
            if token in _NO_LINE_START or measure((line + token).rstrip()) <= max_width:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = token
            while len(line.rstrip()) > 1 and measure(line.rstrip()) > max_width:
                head, line = _split_first(line, max_width, measure)
                lines.append(head)
        if line.strip():
            lines.append(line.rstrip())
    return lines


# closing punctuation never starts a line (it may overhang the margin a little instead)
_NO_LINE_START = frozenset("，。、！？；：,.!?;:)）」』》〉】”’…")


def _split_first(word: str, max_width: float, measure: Callable[[str], float]) -> tuple[str, str]:
    cut = 1
    while cut < len(word) and measure(word[: cut + 1]) <= max_width:
        cut += 1
    return word[:cut], word[cut:]


# ---------------------------------------------------------------------------------------------
# subtitles


def srt_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def subtitle_lines(dialogue: str, width: int, font_size: int, margin: int) -> str:
    # libass (as ffmpeg drives it) only breaks lines at spaces, so CJK lines are wrapped here
    def measure(text: str) -> float:
        return sum(font_size * (1.0 if needs_cjk(ch) else 0.58) for ch in text)

    return "\n".join(wrap_text(dialogue, width - 2 * margin, measure))


def subtitle_metrics(width: int, height: int) -> tuple[int, int, int, int]:
    """Font size, outline, side margin and bottom margin in pixels, for a phone screen."""
    font_size = max(10, round(min(height * 0.04, width * 0.075)))
    outline = max(1, round(font_size / 18))
    margin_h = round(width * 0.08)
    # bottom third, but above the strip that vertical players cover with their own UI
    margin_v = round(height * 0.18)
    return font_size, outline, margin_h, margin_v


def force_style(font: FontFile | None, width: int, height: int) -> str:
    font_size, outline, margin_h, margin_v = subtitle_metrics(width, height)
    style = {
        # script resolution = video resolution, so every number below is in pixels
        "PlayResX": width,
        "PlayResY": height,
        "FontName": font.family if font else "Sans",
        "FontSize": font_size,
        # ask for bold only where a real bold face exists: fontconfig may otherwise answer
        # with a sibling face (WenQuanYi Micro Hei gives its Mono variant)
        "Bold": int(font is not None and font.bold),
        "PrimaryColour": "&H00FFFFFF",
        "OutlineColour": "&H00000000",
        "BackColour": "&H80000000",
        "BorderStyle": 1,
        "Outline": outline,
        "Shadow": max(1, outline // 2),
        "Alignment": 2,
        "MarginL": margin_h,
        "MarginR": margin_h,
        "MarginV": margin_v,
    }
    return ",".join(f"{key}={value}" for key, value in style.items())


def fonts_dir(font: FontFile | None, folder: Path) -> str:
    """A folder holding only the chosen font, so libass finds it even without fontconfig.

    Pointing fontsdir at the font's real folder would make libass read every file there
    (the Noto CJK folder is over 100 MB).
    """
    if font is not None:
        link = folder / font.path.name
        try:
            link.symlink_to(font.path)
        except OSError:
            shutil.copyfile(font.path, link)
    return str(folder)
