"""Cut jobs: one episode cut (or delivery copy, pipeline.delivery.jobs) at a time, both being
ffmpeg encodes on this machine; and the approved takes normalised into cut segments while no
cut runs, so that a cut mostly joins ready segments by stream copy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import sqlite_utils

from pipeline.cut.assemble import CutShot, cut_episode
from pipeline.cut.audio_bed import MusicBed
from pipeline.cut.cards import end_card, title_card
from pipeline.cut.season_parts import recap, teaser_card
from pipeline.cut.segment_cache import SegmentCache
from pipeline.cut.segments import VideoFormat, frame_bounds, prepare_segment
from pipeline.delivery.jobs import DELIVER, make_delivery_copy
from pipeline.errors import AssembleError
from pipeline.workflow import cut_failed
from storage import episodes, events, jobs, lines, plan, projects, takes
from storage.errors import ShowrunnerError
from storage.models import Job, Line, Shot, Take
from storage.music import episode_music
from storage.status import JobStatus

log = logging.getLogger(__name__)


class CutJobs:
    def __init__(
        self,
        db: sqlite_utils.Database,
        media_dir: Path,
        notify: Callable[[str], None],
        stopped: Callable[[], bool],
        segment_cache_bytes: int | None = None,
    ) -> None:
        self.db = db
        self.media_dir = media_dir
        self._notify = notify
        self._stopped = stopped  # the scheduler is stopping: warm nothing more
        self.cutting = False  # from start() until that cut or delivery copy ends
        self.segments = SegmentCache(media_dir / "cache", max_bytes=segment_cache_bytes)
        self._warming: asyncio.Task[None] | None = None
        self._warmed: set[tuple[object, ...]] = set()

    async def wait_for_warming(self) -> None:
        if self._warming is not None:
            await asyncio.gather(self._warming, return_exceptions=True)

    def start(self, job: Job) -> Coroutine[Any, Any, None] | None:
        """The cut of this assemble job, or the copy of this delivery job, to run now; None
        while another runs (one at a time)."""
        if self.cutting:
            return None
        self.cutting = True
        if job.kind == DELIVER:
            return self._guarded(job, "delivery", lambda: make_delivery_copy(self.db, job))
        return self._run(job)

    async def _guarded(
        self, job: Job, what: str, work: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run a cut's or delivery copy's work; whatever goes wrong fails the job with the
        reason, never leaving it 'running'. The next one may start after it."""
        try:
            await work()
        except (ShowrunnerError, OSError) as error:
            log.warning("%s job %s failed: %s", what, job.id, error)
            self._failed(job, str(error))
        except Exception as error:  # never leave a job 'running' behind
            log.exception("%s job %s crashed", what, job.id)
            self._failed(job, f"internal error ({type(error).__name__})")
        finally:
            self.cutting = False
            self._notify(job.id)

    async def _run(self, job: Job) -> None:
        await self._guarded(job, "cut", lambda: self._cut(job))
        try:
            # after the cut, so its own segments are the most recently used
            await asyncio.to_thread(self.segments.prune)
        except OSError as error:
            log.warning("could not prune the segment cache: %s", error)

    async def _cut(self, job: Job) -> None:
        job = jobs.start_job(self.db, job.id, "local")
        self._notify(job.id)
        episode = episodes.get_episode(self.db, job.episode_id)
        project = projects.get_project(self.db, episode.project_id)
        cut_shots = []
        moods = {scene.id: scene.mood for scene in plan.list_scenes(self.db, episode.id)}
        for shot in plan.list_shots(self.db, episode.id):
            if shot.approved_take_id is None:
                raise AssembleError(f"Shot {shot.number} has no approved take.")
            take = takes.get_take(self.db, shot.approved_take_id)
            line = lines.current_line(self.db, shot)
            cut_shots.append(cut_shot(shot, take, line, moods.get(shot.scene_id, "")))
        out = self.media_dir / "episodes" / f"project{project.id}_episode{episode.number}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        music = None
        if project.music_path:
            music_path = Path(project.music_path)
            if not music_path.is_absolute():
                music_path = self.media_dir / music_path
            music = MusicBed(music_path, project.music_volume)
        # a season episode opens on its recap (its card stands for the title card) and ends
        # on the card that teases the next one
        recap_card, recap_shots = recap(self.db, episode)
        title = recap_card or title_card(
            project.title, episode.number, episode.title, project.title_card_seconds
        )
        end = teaser_card(self.db, episode, project.credits) or end_card(
            project.credits, episode.teaser, project.end_card_seconds
        )
        await cut_episode(
            [*recap_shots, *cut_shots],
            out,
            width=project.width,
            height=project.height,
            fps=project.fps,
            cache=self.segments,
            title=title,
            end=end,
            music=music,
            poster_shot=len(recap_shots) if cut_shots else 0,
            score=True,  # when the team uploaded no music bed
            score_pieces={
                mood: Path(piece.media_path)
                for mood, piece in episode_music(self.db, episode.id).items()
            },
            stems=True,  # for the editors' export
        )
        with self.db.atomic():
            episodes.set_cut_path(self.db, episode.id, str(out))
            jobs.finish_job(self.db, job.id)
            events.emit(self.db, events.EpisodeCut(episode.id, str(out)))

    def prewarm(self) -> None:
        """Start normalising approved takes into cut segments, unless a cut runs or one is
        warming already: the cut then only joins segments by stream copy."""
        if self.cutting or self._stopped():
            return
        if self._warming is None or self._warming.done():
            self._warming = asyncio.ensure_future(self._warm_segments())

    async def _warm_segments(self) -> None:
        for episode_id in episodes.undelivered_episodes_with_approved_shots(self.db):
            episode = episodes.get_episode(self.db, episode_id)
            project = projects.get_project(self.db, episode.project_id)
            shots = plan.list_shots(self.db, episode.id)
            fmt = VideoFormat.for_episode(
                project.width, project.height, project.fps, [shot.dialogue for shot in shots]
            )
            bounds = frame_bounds([shot.duration for shot in shots], fmt.fps)
            for index, shot in enumerate(shots):
                if shot.approved_take_id is None or shot.duration <= 0:
                    continue
                frames = bounds[index + 1] - bounds[index]
                line = lines.current_line(self.db, shot)
                marker = (shot.approved_take_id, frames, shot.dialogue, fmt, line)
                if marker in self._warmed:
                    continue
                if self.cutting or self._stopped():
                    return  # the cut makes what is missing itself
                self._warmed.add(marker)  # once, even when it fails: the cut reports failures
                take = takes.get_take(self.db, shot.approved_take_id)
                if take.kind == "keyframe":
                    continue  # its clip is coming: that is what the cut will show
                cut = cut_shot(shot, take, line)
                try:
                    await prepare_segment(
                        self.segments,
                        cut.media_path,
                        frames,
                        shot.dialogue,
                        fmt,
                        label=cut.label,
                        shown=cut.window(frames / fmt.fps),
                    )
                except (ShowrunnerError, OSError) as error:
                    log.info("could not prepare shot %s for the cut: %s", shot.id, error)

    def _failed(self, job: Job, reason: str) -> None:
        with self.db.atomic():
            after = jobs.fail_job(self.db, job.id, reason)
            if after.status == JobStatus.FAILED:
                cut_failed(self.db, job.episode_id)
                events.emit(self.db, events.JobFailed(job.id))


def cut_shot(shot: Shot, take: Take, line: Line | None, mood: str = "") -> CutShot:
    """What the cut needs of a shot: its approved take, its length, its current line (heard
    when it was spoken and its WAV is there) and its scene's mood."""
    heard = line is not None and line.spoken and Path(line.media_path).is_file()
    return CutShot(
        Path(take.media_path),
        shot.duration,
        shot.dialogue,
        f"Shot {shot.number}",
        mood,
        Path(line.media_path) if heard and line else None,
        line.seconds if heard and line else 0.0,
    )
