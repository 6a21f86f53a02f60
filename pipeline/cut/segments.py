"""Normalised segments: each take encoded once to the episode format, cached, joined by copy.

A segment is one shot (or card) as the cut shows it: cover-scaled and cropped to the episode
size, at its fps, yuv420p, SAR 1, trimmed or held to the shot's frames, its dialogue burned in,
encoded with the one x264 setting of every cut, with its audio as 48 kHz stereo PCM (the take's
own sound, or silence). Every segment therefore has the same codec parameters, and the cut joins
them with the concat demuxer and stream copy. PCM, not AAC, so that sample counts are exact and
the joined audio never drifts (AAC pads every segment to 1024-sample frames); the cut encodes the
audio once, to AAC, in its final pass.

Segments live in a cache (segment_cache.py) under names that hash everything they are made from
(the take file's path, size and mtime, the frames, the dialogue, the format, the font, the
encoder settings), so a changed take or line makes a new segment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.cut.segment_cache import Segment, SegmentCache, read_header
from pipeline.cut.subtitles import (
    FontFile,
    find_font,
    fonts_dir,
    force_style,
    needs_cjk,
    srt_timestamp,
    subtitle_lines,
    subtitle_metrics,
)
from pipeline.errors import AssembleError, FfmpegError
from pipeline.ffmpeg import run_ffmpeg_async

log = logging.getLogger(__name__)

# bump when a change to this module changes what a segment looks like: old segments then miss
SEGMENT_VERSION = 2
X264 = {
    "c:v": "libx264",
    "preset": "veryfast",
    "crf": 23,
    "profile:v": "high",
    "pix_fmt": "yuv420p",
}
AUDIO_RATE = 48_000
Window = tuple[float, float] | None  # when a line is on screen, seconds into its shot
PCM = {"c:a": "pcm_s16le", "ar": AUDIO_RATE, "ac": 2}
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Takes disagree on colour tags (one says bt470bg, the next nothing) and x264 writes the tags
# into the stream header, so segments would not join by copy: every segment is made BT.601
# limited range and tagged so. BT.601 because untagged takes are BT.601 (what swscale writes
# when it turns RGB frames into YUV) and need no conversion then; a BT.709 conversion would
# cost a quarter of the encode.
BT601_CONVERSION = {"out_color_matrix": "bt601", "out_range": "tv"}
BT601_TAGS = {
    "color_primaries": "smpte170m",
    "color_trc": "smpte170m",
    "colorspace": "smpte170m",
    "range": "tv",
}


@dataclass(frozen=True)
class VideoFormat:
    width: int
    height: int
    fps: int
    # every line of the episode in one CJK-capable font when any line needs one, so an episode
    # that mixes languages does not switch fonts between shots
    cjk_subtitles: bool = False

    @classmethod
    def for_episode(
        cls, width: int, height: int, fps: int, dialogues: Sequence[str]
    ) -> VideoFormat:
        """The format of an episode whose shots speak these lines (the cut and the
        scheduler's pre-encoding must agree, or prepared segments go unused)."""
        return cls(width, height, fps, any(needs_cjk(line) for line in dialogues))

    def subtitle_font(self, text: str) -> FontFile | None:
        return find_font(cjk=self.cjk_subtitles or needs_cjk(text))


def frame_bounds(durations: Sequence[float], fps: int) -> list[int]:
    """Cumulative frame numbers where each shot starts (plus the end), so rounding never adds up."""
    bounds = [0]
    elapsed = 0.0
    for duration in durations:
        elapsed += duration
        bounds.append(max(bounds[-1] + 1, round(elapsed * fps)))
    return bounds


def audio_samples(frames: int, fps: int) -> int:
    return round(frames * AUDIO_RATE / fps)


def cache_key(kind: str, **parts: object) -> str:
    text = json.dumps(
        {"version": SEGMENT_VERSION, "x264": X264, "audio": PCM, **parts},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return f"{kind}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:40]}"


def has_audio(header: str) -> bool:
    return re.search(r"Stream #\d+:\d+\S*: Audio:", header) is not None


# ---------------------------------------------------------------------------------------------
# one take -> one segment


async def check_take(name: str, path: Path, duration: float) -> None:
    """Raise AssembleError naming the shot when its take is missing, unreadable or damaged."""
    if not duration > 0:
        raise AssembleError(f"{name}: duration must be positive, got {duration}")
    if not path.is_file():
        raise AssembleError(f"{name}: take file {path.name} is missing")
    # read every packet (a truncated download still opens: its index is at the front) and
    # decode the first frame; a full decode would cost half as much again as the cut itself
    args = ["-v", "error", "-xerror", "-i", str(path), "-map", "0:v:0", "-c", "copy"]
    args += ["-f", "null", "-", "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]
    try:
        log_text = await run_ffmpeg_async(args)
    except FfmpegError as error:
        raise AssembleError(f"{name}: take file {path.name} is unreadable") from error
    if log_text.strip():
        # garbled data inside a file is only logged, and would be cut as a smeared picture
        raise AssembleError(f"{name}: take file {path.name} is unreadable (damaged data)")


def take_input(path: Path, frames: int, fps: int) -> ffmpeg.Stream:
    if path.suffix.lower() in STILL_SUFFIXES:
        return ffmpeg.input(str(path), loop=1, framerate=fps, t=frames / fps + 1)
    return ffmpeg.input(str(path))


def normalised(source: ffmpeg.Stream, frames: int, fmt: VideoFormat) -> ffmpeg.Stream:
    return (
        source.video.filter("setpts", expr="PTS-STARTPTS")
        .filter(
            "scale",
            w=fmt.width,
            h=fmt.height,
            force_original_aspect_ratio="increase",
            **BT601_CONVERSION,
        )
        .filter("crop", w=fmt.width, h=fmt.height)
        .filter("setsar", r=1)
        .filter("fps", fps=fmt.fps)
        .filter("format", pix_fmts="yuv420p")
        .filter("setparams", **BT601_TAGS)
        # a take shorter than its shot holds its last frame; a longer one is cut
        .filter("tpad", stop_mode="clone", stop=frames)
        .filter("trim", end_frame=frames)
        .filter("setpts", expr="PTS-STARTPTS")
    )


def fitted_audio(audio: ffmpeg.Stream, frames: int, fps: int) -> ffmpeg.Stream:
    """Audio resampled to 48 kHz stereo, padded with silence or cut to the segment's length."""
    return (
        audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_rates=AUDIO_RATE, channel_layouts="stereo")
        .filter("apad")
        .filter("atrim", end_sample=audio_samples(frames, fps))
        .filter("asetpts", "PTS-STARTPTS")
    )


def silence(frames: int, fps: int) -> ffmpeg.Stream:
    source = ffmpeg.input(f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE}", f="lavfi")
    return fitted_audio(source, frames, fps)


def segment_args(
    video: ffmpeg.Stream, audio: ffmpeg.Stream, out: Path, fmt: VideoFormat
) -> list[str]:
    """The one output setting every segment is written with (so all join by stream copy)."""
    stream = ffmpeg.output(video, audio, str(out), r=fmt.fps, **X264, **PCM, f="mov")
    return ffmpeg.get_args(stream)


def take_key(take: Path, frames: int, dialogue: str, fmt: VideoFormat, shown: Window = None) -> str:
    """The cache key of a take's segment; stats the take file (OSError when it is gone)."""
    stat = take.stat()
    text = dialogue.strip()
    font = fmt.subtitle_font(text) if text else None
    return cache_key(
        "take",
        take=[str(take), stat.st_size, stat.st_mtime_ns],
        frames=frames,
        dialogue=text,
        shown=[round(t, 3) for t in shown] if shown and text else None,
        format=[fmt.width, fmt.height, fmt.fps],
        font=[str(font.path), font.index, font.family, font.bold] if font else None,
    )


async def prepare_segment(
    cache: SegmentCache,
    take: Path,
    frames: int,
    dialogue: str,
    fmt: VideoFormat,
    *,
    label: str = "",
    check: bool = True,
    shown: Window = None,
) -> Segment:
    """The take normalised to the episode format with its dialogue burned in (cached), shown
    while it is spoken (`shown`, seconds into the shot) or, unspoken, the whole shot.

    The scheduler calls this as soon as a take is approved, so the cut finds it ready.
    Raises AssembleError (naming `label`) when the take is missing or damaged.
    """
    take = Path(take).resolve()
    name = label or take.name
    try:
        key = take_key(take, frames, dialogue, fmt, shown)
    except FileNotFoundError:
        raise AssembleError(f"{name}: take file {take.name} is missing") from None

    async def make(out: Path) -> None:
        if check:
            await check_take(name, take, frames / fmt.fps)
        await encode_take(take, frames, dialogue, fmt, out, shown)

    return await cache.get(key, make)


async def encode_take(
    take: Path, frames: int, dialogue: str, fmt: VideoFormat, out: Path, shown: Window = None
) -> None:
    source = take_input(take, frames, fmt.fps)
    video = normalised(source, frames, fmt)
    is_still = take.suffix.lower() in STILL_SUFFIXES
    audio = silence(frames, fmt.fps)
    if not is_still and has_audio(await read_header(take)):
        audio = fitted_audio(source.audio, frames, fmt.fps)
    text = dialogue.strip()
    with tempfile.TemporaryDirectory(prefix="showrunner-segment-") as folder:
        if text:
            font = fmt.subtitle_font(text)
            font_size, _, margin_h, _ = subtitle_metrics(fmt.width, fmt.height)
            srt = Path(folder) / "line.srt"
            end = srt_timestamp(frames / fmt.fps)
            lines = subtitle_lines(text, fmt.width, font_size, margin_h)
            srt.write_text(f"1\n00:00:00,000 --> {end}\n{lines}\n", encoding="utf-8")
            fonts = Path(folder) / "fonts"
            fonts.mkdir()
            # the line is drawn once, on a transparent frame laid over every frame of the
            # shot: libass drawing on each frame itself costs a third of the x264 encode
            size = f"{fmt.width}x{fmt.height}"
            line = (
                # rgba inside the source's own graph: a conversion after it would drop alpha
                ffmpeg.input(
                    f"color=c=black@0.0:s={size}:r={fmt.fps},format=rgba", f="lavfi", t=1 / fmt.fps
                )
                .video.filter(
                    "subtitles",
                    filename=str(srt),
                    charenc="UTF-8",
                    fontsdir=fonts_dir(font, fonts),
                    force_style=force_style(font, fmt.width, fmt.height),
                    alpha=1,
                )
                .filter("trim", end_frame=1)
            )
            timing = {"enable": f"between(t,{shown[0]:.3f},{shown[1]:.3f})"} if shown else {}
            video = ffmpeg.filter(
                [video, line], "overlay", eof_action="repeat", format="yuv420", **timing
            ).filter("setparams", **BT601_TAGS)
        await run_ffmpeg_async(segment_args(video, audio, out, fmt))
