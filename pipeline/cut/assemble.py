"""Cut approved takes into one episode: segments joined by stream copy, cards, audio, poster.

Runs in the bot process (asyncio, no torch). Each shot becomes a cached segment already in the
episode format (pipeline.cut.segments), the optional title and end cards too
(pipeline.cut.cards); the cut joins them with the concat demuxer and stream copy, and in the
same final pass encodes the audio once: the takes' own sound, with the music bed under it
(pipeline.cut.audio_bed).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

import ffmpeg

from pipeline.cut.audio_bed import MusicBed, music_bed
from pipeline.cut.cards import Card, card_frames, prepare_card
from pipeline.cut.segment_cache import Segment, SegmentCache
from pipeline.cut.segments import (
    AUDIO_RATE,
    X264,
    VideoFormat,
    check_take,
    frame_bounds,
    normalised,
    prepare_segment,
    take_input,
    take_key,
)
from pipeline.cut.subtitles import (
    FontFile,
    find_font,
    needs_cjk,
    srt_timestamp,
    subtitle_lines,
    subtitle_metrics,
    wrap_text,
)
from pipeline.errors import AssembleError, DiskFullError
from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.sound.loudness import SAMPLE_METER, Loudness, parse_ebur128
from pipeline.sound.mix import (
    SCORE_VOLUME,
    STEMS,
    cues_on_timeline,
    dialogue_track,
    line_window,
    mix_under_dialogue,
    to_platform_loudness,
)
from pipeline.sound.model_score import episode_score
from pipeline.sound.score import why_no_score

__all__ = [
    "AssembleError",
    "Card",
    "CutShot",
    "FontFile",
    "MusicBed",
    "SegmentCache",
    "build_srt",
    "cut_episode",
    "find_font",
    "needs_cjk",
    "wrap_text",
]

log = logging.getLogger(__name__)
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
PARTS = (".mp4", ".srt", ".png", ".txt", ".wav", ".video.mp4", ".mix.wav")  # a cut's files
PARTS += tuple(f".{name}.wav" for name in STEMS)
CHECKS_AT_ONCE = 4  # take checks are short and mostly reading: more than the cores is fine
T = TypeVar("T")


@dataclass(frozen=True)
class CutShot:
    media_path: Path
    duration: float
    dialogue: str = ""
    label: str = ""  # how errors name the shot, e.g. "Ep 1 · Scene 2 · Shot 3"
    mood: str = ""  # its scene's mood: the score's cue (pipeline.sound.score.MOODS)
    line: Path | None = None  # the dialogue spoken (a WAV), when it was
    line_seconds: float = 0.0

    def window(self, seconds: float) -> tuple[float, float] | None:
        """When its line is heard (and subtitled) in a shot of `seconds` as cut."""
        return line_window(self.line_seconds, seconds) if self.line is not None else None


def build_srt(
    shots: Sequence[CutShot],
    fps: int = 24,
    *,
    width: int = 720,
    height: int = 1280,
    start: float = 0.0,
) -> str:
    """SubRip text with one cue per shot that has dialogue, timed to the shot in the cut
    (which begins `start` seconds in, after the title card)."""
    bounds = frame_bounds([shot.duration for shot in shots], fps)
    font_size, _, margin_h, _ = subtitle_metrics(width, height)
    cues = []
    for index, shot in enumerate(shots):
        text = subtitle_lines(shot.dialogue.strip(), width, font_size, margin_h)
        if not text:
            continue
        begin, end = start + bounds[index] / fps, start + bounds[index + 1] / fps
        heard = shot.window(end - begin)
        if heard is not None:
            begin, end = begin + heard[0], begin + heard[1]
        cues.append(f"{len(cues) + 1}\n{srt_timestamp(begin)} --> {srt_timestamp(end)}\n{text}\n")
    return "\n".join(cues)


def _shot_name(index: int, shot: CutShot) -> str:
    return shot.label or f"shot {index + 1}"


async def cut_episode(
    shots: Sequence[CutShot],
    out_path: Path,
    *,
    width: int = 720,
    height: int = 1280,
    fps: int = 24,
    cache: SegmentCache | None = None,
    title: Card | None = None,
    end: Card | None = None,
    music: MusicBed | None = None,
    poster_shot: int = 0,
    score: bool = False,
    score_pieces: Mapping[str, Path] | None = None,
    stems: bool = False,
) -> Path:
    """Cut shots into one H.264/AAC MP4 at out_path (its SRT and poster PNG beside it, the
    poster a frame of shots[poster_shot]: a season episode's own first shot, not its recap);
    return out_path. With `score` and no music bed, a score is composed from the shots' moods
    (when fluidsynth can render it), or laid from `score_pieces` (a music model's piece per
    mood) when there is one for every mood. Audio that is not silent ends at the platforms'
    loudness.
    With `stems`, the mix's parts (STEMS) are written beside it too, as WAVs as long as the cut
    (`<name>.dialogue.wav`, ...), before the loudness gain.

    Segments are kept in `cache` for the next cut (without one, in a folder removed after the
    cut). The previous files at out_path stay untouched unless the new cut succeeds.
    """
    if not shots:
        raise AssembleError("no shots to cut: the episode has no approved takes")
    if width % 2 or height % 2 or min(width, height) < 16:
        raise AssembleError(f"cut size must be even and at least 16 px, got {width}x{height}")
    if not 1 <= fps <= 120:
        raise AssembleError(f"fps must be between 1 and 120, got {fps}")
    for index, shot in enumerate(shots):
        if not shot.duration > 0:
            name = _shot_name(index, shot)
            raise AssembleError(f"{name}: duration must be positive, got {shot.duration}")
    if not 0 <= poster_shot < len(shots):
        raise AssembleError(f"poster_shot must name one of the {len(shots)} shots: {poster_shot}")
    if music is not None and not Path(music.path).is_file():
        raise AssembleError(f"the music bed file {Path(music.path).name} is missing")
    fmt = VideoFormat.for_episode(width, height, fps, [shot.dialogue for shot in shots])
    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    partial = {
        suffix: out_path.with_name(f".{out_path.stem}.{token}.partial{suffix}") for suffix in PARTS
    }
    own_cache = cache is None
    if cache is None:
        cache = SegmentCache(out_path.with_name(f".{out_path.stem}.{token}.segments"))
    try:
        pieces = score_pieces or {}
        scoring = score and music is None and (bool(pieces) or not why_no_score())
        # the score is composed while the segments are encoded (fluidsynth beside x264)
        segments, scored = await _all_or_first_error(
            [
                _segments(shots, fmt, cache, title, end),
                _score(shots, fmt, (title, end), pieces, partial[".wav"], out_path.name)
                if scoring
                else _nothing(),
            ]
        )
        music = scored or music
        mixed = await _join(segments, shots, fmt, title, end, music, partial, stems)
        await to_platform_loudness(
            partial[".video.mp4"], partial[".mix.wav"], partial[".mp4"], mixed
        )
        bounds = frame_bounds([shot.duration for shot in shots], fps)
        poster = Path(shots[poster_shot].media_path).resolve()
        frames = bounds[poster_shot + 1] - bounds[poster_shot]
        await _write_poster(poster, frames, partial[".png"], fmt)
        os.replace(partial[".srt"], out_path.with_suffix(".srt"))
        os.replace(partial[".png"], out_path.with_suffix(".png"))
        for name in STEMS if stems else ():
            os.replace(partial[f".{name}.wav"], out_path.with_suffix(f".{name}.wav"))
        os.replace(partial[".mp4"], out_path)
    except (DiskFullError, OSError) as error:
        if not _out_of_space(error):
            raise
        raise AssembleError(
            f"not enough disk space to write the cut {out_path.name}: free some space and cut again"
        ) from error
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)
        if own_cache:
            shutil.rmtree(cache.root, ignore_errors=True)
    return out_path


async def _nothing() -> None:
    return None


async def _score(
    shots: Sequence[CutShot],
    fmt: VideoFormat,
    cards: tuple[Card | None, Card | None],
    pieces: Mapping[str, Path],
    wav: Path,
    name: str,
) -> MusicBed | None:
    """The episode's score from its shots' moods, as the music bed: the model's pieces where
    there is one for a cue's mood, composed elsewhere; None when neither can be made (the
    episode is cut silent rather than not at all)."""
    title, end = cards
    opening = card_frames(title, fmt.fps) / fmt.fps if title is not None else 0.0
    closing = card_frames(end, fmt.fps) / fmt.fps if end is not None else 0.0
    bounds = frame_bounds([shot.duration for shot in shots], fmt.fps)
    seconds = [(after - before) / fmt.fps for before, after in pairwise(bounds)]
    cues, stingers = cues_on_timeline([s.mood for s in shots], seconds, opening, closing)
    scored = await episode_score(cues, stingers, pieces, wav, name)
    return MusicBed(scored, SCORE_VOLUME) if scored is not None else None


async def _segments(
    shots: Sequence[CutShot],
    fmt: VideoFormat,
    cache: SegmentCache,
    title: Card | None,
    end: Card | None,
) -> list[Segment]:
    """Every segment of the cut in order, making the missing ones (two at a time)."""
    bounds = frame_bounds([shot.duration for shot in shots], fmt.fps)
    # check the takes that have no segment yet before encoding anything, so a missing or
    # damaged take stops the cut at once
    checks: list[tuple[str, Path, float]] = []
    for index, shot in enumerate(shots):
        path = Path(shot.media_path).resolve()
        name = _shot_name(index, shot)
        if not path.is_file():
            raise AssembleError(f"{name}: take file {path.name} is missing")
        frames = bounds[index + 1] - bounds[index]
        shown = shot.window(frames / fmt.fps)
        if not cache.has(take_key(path, frames, shot.dialogue, fmt, shown)):
            checks.append((name, path, shot.duration))
    await _all_or_first_error(_bounded([check_take(*c) for c in checks], CHECKS_AT_ONCE))
    jobs = [
        prepare_segment(
            cache,
            Path(shot.media_path),
            bounds[index + 1] - bounds[index],
            shot.dialogue,
            fmt,
            label=_shot_name(index, shot),
            check=False,
            shown=shot.window((bounds[index + 1] - bounds[index]) / fmt.fps),
        )
        for index, shot in enumerate(shots)
    ]
    if title is not None:
        jobs.insert(0, prepare_card(cache, title, fmt))
    if end is not None:
        jobs.append(prepare_card(cache, end, fmt))
    return await _all_or_first_error(jobs)


async def _all_or_first_error(jobs: Sequence[Awaitable[T]]) -> list[T]:
    """Run jobs at once; each runs to its end (no ffmpeg is left running behind a failure),
    then the first failure in order is raised."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if not isinstance(result, BaseException)]


def _bounded(jobs: Sequence[Awaitable[T]], limit: int) -> list[Awaitable[T]]:
    slots = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with slots:
            return await job

    return [run(job) for job in jobs]


def _concat_listing(segments: Sequence[Segment]) -> str:
    # the concat demuxer resolves relative paths against the listing's folder, not ours: absolute
    # paths; its quoting: inside '...', a quote is written '\''
    quoted = (str(segment.path.resolve()).replace("'", "'\\''") for segment in segments)
    return "ffconcat version 1.0\n" + "".join(f"file '{path}'\n" for path in quoted)


async def _join(
    segments: Sequence[Segment],
    shots: Sequence[CutShot],
    fmt: VideoFormat,
    title: Card | None,
    end: Card | None,
    music: MusicBed | None,
    partial: dict[str, Path],
    stems: bool = False,
) -> Loudness:
    """Write the picture (segments joined), its mix as a float WAV (and the stems), and the SRT
    to their partial paths; the mix's loudness, measured as it is written."""
    start = card_frames(title, fmt.fps) / fmt.fps if title is not None else 0.0
    srt = build_srt(shots, fmt.fps, width=fmt.width, height=fmt.height, start=start)
    partial[".srt"].write_text(srt, encoding="utf-8")
    partial[".txt"].write_text(_concat_listing(segments), encoding="utf-8")
    joined = ffmpeg.input(str(partial[".txt"]), f="concat", safe=0)
    bounds = frame_bounds([shot.duration for shot in shots], fmt.fps)
    spoken, unspoken = [], []
    for index, shot in enumerate(shots):
        begin, finish = start + bounds[index] / fmt.fps, start + bounds[index + 1] / fmt.fps
        heard = shot.window(finish - begin)
        if heard is not None and shot.line is not None:
            spoken.append((shot.line, begin + heard[0]))
        elif shot.dialogue.strip():
            unspoken.append((begin, finish))
    tail = card_frames(end, fmt.fps) if end is not None else 0
    total = start + (bounds[-1] + tail) / fmt.fps
    bed = music_bed(music, total, unspoken) if music is not None else None
    mix, apart = mix_under_dialogue(joined.audio, dialogue_track(spoken), bed, total, stems=stems)
    copy = len({segment.signature for segment in segments}) == 1
    if not copy:
        log.info("segments differ in codec parameters: the cut re-encodes the video")
    video_codec = {"c:v": "copy"} if copy else {**X264, "r": fmt.fps}
    outputs = [
        ffmpeg.output(joined.video, str(partial[".video.mp4"]), **video_codec, f="mp4"),
        ffmpeg.output(
            mix.filter("ebur128", **SAMPLE_METER),
            str(partial[".mix.wav"]),
            acodec="pcm_f32le",
            ar=AUDIO_RATE,
        ),
    ]
    for name in STEMS if stems else ():
        part = (
            apart.get(name)
            or ffmpeg.input(  # a stem with nothing in it: silence
                f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi", t=f"{total:.3f}"
            ).audio
        )
        path = str(partial[f".{name}.wav"])
        outputs.append(ffmpeg.output(part, path, acodec="pcm_s16le", ar=AUDIO_RATE, ac=2))
    args = ffmpeg.get_args(ffmpeg.merge_outputs(*outputs))
    return parse_ebur128(await run_ffmpeg_async(["-nostats", *args]))


def _out_of_space(error: Exception) -> bool:
    return isinstance(error, DiskFullError) or getattr(error, "errno", None) in _NO_SPACE_ERRNOS


async def _write_poster(take: Path, frames: int, png: Path, fmt: VideoFormat) -> None:
    """A PNG of a shot of `frames` frames, 0.5 s in (or its middle when shorter), without
    subtitles."""
    frame = min(round(0.5 * fmt.fps), frames // 2)
    source = take_input(take, frames, fmt.fps)
    picture = normalised(source, frames, fmt).filter("trim", start_frame=frame)
    stream = ffmpeg.output(picture, str(png), vframes=1, update=1, f="image2", vcodec="png")
    await run_ffmpeg_async(ffmpeg.get_args(stream))
