"""Cut approved takes into one episode: normalise, trim, concatenate, burn subtitles, add audio.

Runs in the bot process (asyncio, no torch). Also home of the small text helpers (font lookup,
line wrapping) shared with the storyboard cards.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.ffmpeg import DiskFullError, FfmpegError, run_ffmpeg_async


class AssembleError(ValueError):
    """A cut cannot be made from these shots; the message says which shot and why."""


@dataclass(frozen=True)
class CutShot:
    media_path: Path
    duration: float
    dialogue: str = ""
    label: str = ""  # how errors name the shot, e.g. "Ep 1 · Scene 2 · Shot 3"


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


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def _frame_bounds(shots: Sequence[CutShot], fps: int) -> list[int]:
    """Cumulative frame numbers where each shot starts (plus the end), so rounding never adds up."""
    bounds = [0]
    elapsed = 0.0
    for shot in shots:
        elapsed += shot.duration
        bounds.append(max(bounds[-1] + 1, round(elapsed * fps)))
    return bounds


def _subtitle_lines(dialogue: str, width: int, font_size: int, margin: int) -> str:
    # libass (as ffmpeg drives it) only breaks lines at spaces, so CJK lines are wrapped here
    def measure(text: str) -> float:
        return sum(font_size * (1.0 if needs_cjk(ch) else 0.58) for ch in text)

    return "\n".join(wrap_text(dialogue, width - 2 * margin, measure))


def build_srt(
    shots: Sequence[CutShot],
    fps: int = 24,
    *,
    width: int = 720,
    height: int = 1280,
) -> str:
    """SubRip text with one cue per shot that has dialogue, timed to the shot in the cut."""
    bounds = _frame_bounds(shots, fps)
    font_size, _, margin_h, _ = _subtitle_metrics(width, height)
    cues = []
    for index, shot in enumerate(shots):
        text = _subtitle_lines(shot.dialogue.strip(), width, font_size, margin_h)
        if not text:
            continue
        start, end = bounds[index] / fps, bounds[index + 1] / fps
        cues.append(f"{len(cues) + 1}\n{_timestamp(start)} --> {_timestamp(end)}\n{text}\n")
    return "\n".join(cues)


def _subtitle_metrics(width: int, height: int) -> tuple[int, int, int, int]:
    """Font size, outline, side margin and bottom margin in pixels, for a phone screen."""
    font_size = max(10, round(min(height * 0.04, width * 0.075)))
    outline = max(1, round(font_size / 18))
    margin_h = round(width * 0.08)
    # bottom third, but above the strip that vertical players cover with their own UI
    margin_v = round(height * 0.18)
    return font_size, outline, margin_h, margin_v


def _force_style(font: FontFile | None, width: int, height: int) -> str:
    font_size, outline, margin_h, margin_v = _subtitle_metrics(width, height)
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


# ---------------------------------------------------------------------------------------------
# the cut

_STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _shot_name(index: int, shot: CutShot) -> str:
    return shot.label or f"shot {index + 1}"


async def _check_take(index: int, shot: CutShot) -> Path:
    name = _shot_name(index, shot)
    if not shot.duration > 0:
        raise AssembleError(f"{name}: duration must be positive, got {shot.duration}")
    path = Path(shot.media_path).resolve()
    if not path.is_file():
        raise AssembleError(f"{name}: take file {path.name} is missing")
    # read every packet (a truncated download still opens: its index is at the front) and
    # decode the first frame; a full decode would cost half as much again as the cut itself
    args = ["-v", "error", "-xerror", "-i", str(path), "-map", "0:v:0", "-c", "copy"]
    args += ["-f", "null", "-", "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]
    try:
        log = await run_ffmpeg_async(args)
    except FfmpegError as error:
        raise AssembleError(f"{name}: take file {path.name} is unreadable") from error
    if log.strip():
        # garbled data inside a file is only logged, and would be cut as a smeared picture
        raise AssembleError(f"{name}: take file {path.name} is unreadable (damaged data)")
    return path


def _normalised(path: Path, frames: int, width: int, height: int, fps: int) -> ffmpeg.Stream:
    if path.suffix.lower() in _STILL_SUFFIXES:
        source = ffmpeg.input(str(path), loop=1, framerate=fps, t=frames / fps + 1)
    else:
        source = ffmpeg.input(str(path))
    return (
        source.video.filter("setpts", expr="PTS-STARTPTS")
        .filter("scale", w=width, h=height, force_original_aspect_ratio="increase")
        .filter("crop", w=width, h=height)
        .filter("setsar", r=1)
        .filter("fps", fps=fps)
        .filter("format", pix_fmts="yuv420p")
        # a take shorter than its shot holds its last frame; a longer one is cut
        .filter("tpad", stop_mode="clone", stop=frames)
        .filter("trim", end_frame=frames)
        .filter("setpts", expr="PTS-STARTPTS")
    )


async def cut_episode(
    shots: Sequence[CutShot],
    out_path: Path,
    *,
    width: int = 720,
    height: int = 1280,
    fps: int = 24,
) -> Path:
    """Cut shots into one H.264/AAC MP4 at out_path (its SRT and poster PNG beside it);
    return out_path.

    The previous files at out_path stay untouched unless the new cut succeeds.
    """
    if not shots:
        raise AssembleError("no shots to cut: the episode has no approved takes")
    if width % 2 or height % 2 or min(width, height) < 16:
        raise AssembleError(f"cut size must be even and at least 16 px, got {width}x{height}")
    if not 1 <= fps <= 120:
        raise AssembleError(f"fps must be between 1 and 120, got {fps}")
    paths = [await _check_take(index, shot) for index, shot in enumerate(shots)]

    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bounds = _frame_bounds(shots, fps)
    total = bounds[-1] / fps
    srt = build_srt(shots, fps, width=width, height=height)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp_video = out_path.with_name(f".{out_path.stem}.{token}.partial.mp4")
    tmp_srt = out_path.with_name(f".{out_path.stem}.{token}.partial.srt")
    tmp_poster = out_path.with_name(f".{out_path.stem}.{token}.partial.png")

    clips = [
        _normalised(path, bounds[i + 1] - bounds[i], width, height, fps)
        for i, path in enumerate(paths)
    ]
    video = ffmpeg.concat(*clips, v=1, a=0) if len(clips) > 1 else clips[0]
    font = find_font(cjk=needs_cjk(srt))
    try:
        tmp_srt.write_text(srt, encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="showrunner-fonts-") as fonts_dir:
            if srt.strip():
                video = video.filter(
                    "subtitles",
                    filename=str(tmp_srt),
                    charenc="UTF-8",
                    fontsdir=_fonts_dir(font, Path(fonts_dir)),
                    force_style=_force_style(font, width, height),
                )
            audio = ffmpeg.input(
                "anullsrc=channel_layout=stereo:sample_rate=48000", f="lavfi", t=f"{total:.3f}"
            )
            stream = ffmpeg.output(
                video,
                audio,
                str(tmp_video),
                r=fps,
                **{
                    "c:v": "libx264",
                    "preset": "veryfast",
                    "crf": 23,
                    "profile:v": "high",
                    "pix_fmt": "yuv420p",
                    "c:a": "aac",
                    "b:a": "128k",
                    "movflags": "+faststart",
                    "f": "mp4",
                },
            )
            await run_ffmpeg_async(ffmpeg.get_args(stream))
        await _write_poster(paths[0], bounds[1], tmp_poster, width, height, fps)
        os.replace(tmp_srt, out_path.with_suffix(".srt"))
        os.replace(tmp_poster, out_path.with_suffix(".png"))
        os.replace(tmp_video, out_path)
    except (DiskFullError, OSError) as error:
        if not _out_of_space(error):
            raise
        raise AssembleError(
            f"not enough disk space to write the cut {out_path.name}: free some space and cut again"
        ) from error
    finally:
        tmp_video.unlink(missing_ok=True)
        tmp_srt.unlink(missing_ok=True)
        tmp_poster.unlink(missing_ok=True)
    return out_path


def _out_of_space(error: Exception) -> bool:
    return isinstance(error, DiskFullError) or getattr(error, "errno", None) in _NO_SPACE_ERRNOS


async def _write_poster(
    first_take: Path, frames: int, png: Path, width: int, height: int, fps: int
) -> None:
    """A PNG of the first shot, 0.5 s in (or its middle when shorter), without subtitles."""
    frame = min(round(0.5 * fps), frames // 2)
    picture = _normalised(first_take, frames, width, height, fps).filter("trim", start_frame=frame)
    stream = ffmpeg.output(picture, str(png), vframes=1, update=1, f="image2", vcodec="png")
    await run_ffmpeg_async(ffmpeg.get_args(stream))


def _fonts_dir(font: FontFile | None, folder: Path) -> str:
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
