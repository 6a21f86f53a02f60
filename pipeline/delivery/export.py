"""An episode for editors who finish elsewhere: one zip with an OpenTimelineIO timeline (one clip
per shot, on the approved take), an EDL, the SRT, the poster, and the takes and the sound's
stems (dialogue, music, effects: WAVs as long as the cut) when they fit.

Reading the database (`plan_export`) is separate from writing files (`write_export`), so the
file work can run in a thread while the bot's SQLite connection stays on the event loop.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio
import sqlite_utils

from pipeline.cut.segments import frame_bounds
from pipeline.cut.subtitles import srt_timestamp
from pipeline.sound.mix import STEMS
from storage import episodes, plan, projects, takes
from storage.errors import InvalidState

log = logging.getLogger(__name__)
MEDIA_FOLDER, STEMS_FOLDER = "media", "stems"
ZIP_ENTRY_OVERHEAD = 200  # local header + central directory entry, with room to spare
# CMX 3600 needs a SMPTE rate; other rates (12 fps drafts) are written at 24 fps, exactly
EDL_RATES = (23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60)
EDL_FALLBACK_RATE = 24


@dataclass(frozen=True)
class ExportShot:
    number: int
    description: str
    dialogue: str
    duration: float
    take_id: int
    seed: int
    media_path: Path

    @property
    def media_name(self) -> str:
        """The take's name inside the zip: ids only, never user text."""
        return f"shot{self.number:03d}_take{self.take_id}{self.media_path.suffix.lower()}"


@dataclass(frozen=True)
class ExportPlan:
    stem: str  # e.g. "episode01": names every file of the export
    title: str
    fps: int
    width: int
    height: int
    shots: tuple[ExportShot, ...]
    poster: Path | None
    stems: tuple[Path, ...] = ()  # the cut's WAV stems, in STEMS order


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size: int
    media_included: bool
    edl_included: bool
    media_paths: tuple[Path, ...]  # where the takes are on this machine


def plan_export(db: sqlite_utils.Database, episode_id: int) -> ExportPlan:
    """What the export holds; refuses an episode with a shot that has no approved take."""
    episode = episodes.get_episode(db, episode_id)
    project = projects.get_project(db, episode.project_id)
    shots = plan.list_shots(db, episode_id)
    if not shots:
        raise InvalidState(f"Episode {episode.number} has no shots to export.")
    pending = [str(shot.number) for shot in shots if shot.approved_take_id is None]
    if pending:
        raise InvalidState(
            f"Episode {episode.number} can't be exported yet: shot(s) {', '.join(pending)} "
            "have no approved take."
        )
    items = []
    for shot in shots:
        assert shot.approved_take_id is not None
        take = takes.get_take(db, shot.approved_take_id)
        media = Path(take.media_path)
        if not media.is_file():
            raise InvalidState(
                f"Shot {shot.number}'s approved take {take.id} is missing its file "
                f"`{media.name}` on the render machine."
            )
        items.append(
            ExportShot(
                shot.number,
                shot.description,
                shot.dialogue,
                shot.duration,
                take.id,
                take.seed,
                media.resolve(),
            )
        )
    poster = Path(episode.cut_path).with_suffix(".png") if episode.cut_path else None
    if poster is None or not poster.is_file():
        first = takes.get_take(db, items[0].take_id)
        preview = Path(first.preview_path) if first.preview_path else None
        poster = preview if preview and preview.suffix == ".png" and preview.is_file() else None
    cut = Path(episode.cut_path) if episode.cut_path else None
    stems = tuple(cut.with_suffix(f".{name}.wav") for name in STEMS) if cut else ()
    return ExportPlan(
        stems=stems if all(path.is_file() for path in stems) else (),
        stem=f"episode{episode.number:02d}",
        title=f"{project.title} — Episode {episode.number}: {episode.title}",
        fps=project.fps,
        width=project.width,
        height=project.height,
        shots=tuple(items),
        poster=poster,
    )


def frame_counts(durations: list[float], fps: int) -> list[int]:
    """Whole frames per shot, rounded on the running total so the sum never drifts: the cut's
    own shot boundaries (segments.frame_bounds)."""
    bounds = frame_bounds(durations, fps)
    return [end - start for start, end in itertools.pairwise(bounds)]


def build_timeline(export: ExportPlan, *, media_in_zip: bool) -> otio.schema.Timeline:
    """One video track, one clip per shot on its approved take; dialogue lines as markers.

    Media references are relative ("media/shot001_take7.mp4", beside the .otio file) when the
    takes are in the zip, else absolute file:// URLs on the render machine.
    """
    timeline = otio.schema.Timeline(name=export.title)
    timeline.metadata["showrunner"] = {
        "fps": export.fps,
        "width": export.width,
        "height": export.height,
    }
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    counts = frame_counts([shot.duration for shot in export.shots], export.fps)
    for shot, frames in zip(export.shots, counts, strict=True):
        url = f"{MEDIA_FOLDER}/{shot.media_name}" if media_in_zip else shot.media_path.as_uri()
        whole = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, export.fps),
            otio.opentime.RationalTime(frames, export.fps),
        )
        clip = otio.schema.Clip(
            name=f"Shot {shot.number:02d}",
            media_reference=otio.schema.ExternalReference(target_url=url),
            source_range=whole,
        )
        clip.metadata["showrunner"] = {
            "shot": shot.number,
            "take_id": shot.take_id,
            "seed": shot.seed,
            "description": shot.description,
            "dialogue": shot.dialogue,
        }
        clip.metadata["cmx_3600"] = {"reel": f"SHOT{shot.number:03d}"}
        if shot.dialogue.strip():
            clip.markers.append(
                otio.schema.Marker(
                    name=shot.dialogue.strip(),
                    marked_range=whole,
                    color=otio.schema.MarkerColor.YELLOW,
                )
            )
        track.append(clip)
    return timeline


def build_srt(export: ExportPlan) -> str:
    """SubRip text, one cue per shot with dialogue, timed to the timeline's frames (an editor's
    tool wraps the lines itself)."""
    counts = frame_counts([shot.duration for shot in export.shots], export.fps)
    cues = []
    start = 0
    for shot, frames in zip(export.shots, counts, strict=True):
        text = " ".join(shot.dialogue.split())
        if text:
            begin, end = (
                srt_timestamp(start / export.fps),
                srt_timestamp((start + frames) / export.fps),
            )
            cues.append(f"{len(cues) + 1}\n{begin} --> {end}\n{text}\n")
        start += frames
    return "\n".join(cues)


def edl_text(timeline: otio.schema.Timeline, fps: int) -> str | None:
    """The timeline as a CMX 3600 EDL, or None when the adapter (otio-cmx3600-adapter) is not
    installed or cannot write this timeline."""
    if "cmx_3600" not in otio.adapters.available_adapter_names():
        return None
    rate = fps if fps in EDL_RATES else EDL_FALLBACK_RATE
    try:
        return otio.adapters.write_to_string(timeline, "cmx_3600", rate=rate)
    except (ValueError, otio.exceptions.OTIOError) as error:
        log.warning("no EDL for %r: %s", timeline.name, error)
        return None


def readme(export: ExportPlan, *, media_included: bool, edl: bool) -> str:
    """What the zip holds, for the editor."""
    where = (
        f"The takes are in {MEDIA_FOLDER}/; the timeline refers to them by paths relative to "
        "this folder."
        if media_included
        else "The takes were too big to attach; the timeline refers to them by absolute "
        "file:// paths on the render machine."
    )
    lines = [
        export.title,
        "",
        f"{export.stem}.otio  OpenTimelineIO timeline, {len(export.shots)} clips at "
        f"{export.fps} fps, {export.width}x{export.height}; dialogue lines are markers.",
    ]
    if edl:
        lines.append(f"{export.stem}.edl   CMX 3600 EDL of the same cut.")
    lines.append(f"{export.stem}.srt   subtitles timed to the timeline.")
    if export.poster is not None:
        lines.append("poster.png     the episode's poster frame.")
    if media_included and export.stems:
        lines.append(
            f"{STEMS_FOLDER}/         {', '.join(STEMS)}: 48 kHz WAVs from the cut's first frame "
            "(title card included), before the loudness gain; together they are the mix."
        )
    lines += ["", where, ""]
    return "\n".join(lines)


def _write_zip(export: ExportPlan, path: Path, *, media_included: bool) -> bool:
    timeline = build_timeline(export, media_in_zip=media_included)
    edl = edl_text(timeline, export.fps)
    srt = build_srt(export)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{export.stem}.otio", otio.adapters.write_to_string(timeline))
        if edl is not None:
            archive.writestr(f"{export.stem}.edl", edl)
        archive.writestr(f"{export.stem}.srt", srt)
        archive.writestr(
            "README.txt", readme(export, media_included=media_included, edl=edl is not None)
        )
        if export.poster is not None:
            archive.write(export.poster, "poster.png", compress_type=zipfile.ZIP_STORED)
        if media_included:
            for path, name in zip(export.stems, STEMS, strict=False):
                archive.write(path, f"{STEMS_FOLDER}/{export.stem}_{name}.wav")
            for shot in export.shots:
                archive.write(
                    shot.media_path,
                    f"{MEDIA_FOLDER}/{shot.media_name}",
                    compress_type=zipfile.ZIP_STORED,  # video is compressed already
                )
    return edl is not None


def write_export(export: ExportPlan, out_dir: Path, max_bytes: int) -> ExportResult:
    """Write <out_dir>/<stem>_export.zip atomically: with the takes when the zip stays within
    max_bytes, else without them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{export.stem}_export.zip"
    partial = out_dir / f".{export.stem}.partial-{secrets.token_hex(4)}.zip"
    media = [shot.media_path for shot in export.shots] + list(export.stems)
    media_bytes = sum(path.stat().st_size + ZIP_ENTRY_OVERHEAD for path in media)
    try:
        edl = _write_zip(export, partial, media_included=False)
        with_media = partial.stat().st_size + media_bytes <= max_bytes
        if with_media:
            edl = _write_zip(export, partial, media_included=True)
            if partial.stat().st_size > max_bytes:  # the estimate was short: go without
                with_media = False
                edl = _write_zip(export, partial, media_included=False)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(
        path=final,
        size=final.stat().st_size,
        media_included=with_media,
        edl_included=edl,
        media_paths=tuple(shot.media_path for shot in export.shots),
    )
