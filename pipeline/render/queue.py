"""Turning a plan into queued jobs, and a queued job into a worker request."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from pipeline.errors import FfmpegError
from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.pictures.references import encode_reference
from pipeline.render.payload import CLIP, KEYFRAME, RenderPayload
from pipeline.worker.requests import MAX_REFERENCES, RenderRequest
from storage import canon, characters, episodes, jobs, plan, projects, seasons, takes
from storage.errors import InvalidInput, InvalidState
from storage.models import Character, Job, Project, Render, Shot
from storage.status import RENDERABLE, ShotStatus, TakeStatus

log = logging.getLogger(__name__)
MAX_TAKES = 4
MAX_QUEUED_PER_USER = 20  # render jobs a member may have queued or running at once


@dataclass(frozen=True)
class EngineChoice:
    engine: str = "animatic"
    model: str = ""
    takes: int = 1
    steps: int = 20
    max_draft_bytes: int = 8 * 1024 * 1024  # every draft MP4 a worker returns fits this
    video_model: str = ""  # image-to-video / text-to-video model of the "video" engine
    music_model: str = ""  # the score's text-to-music model; empty: composed in code


# engines whose clip is a separate, costly stage after the keyframe: only these review stills
# first (the animatic and diffusers engines' keyframe already is their clip, a camera move)
KEYFRAME_FIRST_ENGINES = {"video"}


def keyframes_first(project: Project, choice: EngineChoice) -> bool:
    """Whether this project's renders are stills for review (the engine must have a keyframe
    model and make the clip in a second stage)."""
    return (
        project.review_mode == "keyframes"
        and choice.engine in KEYFRAME_FIRST_ENGINES
        and bool(choice.model)
    )


def render_payload(project: Project, shot: Shot, choice: EngineChoice, count: int) -> RenderPayload:
    """A render job's payload: engine, models, format and fresh seeds for count takes.

    In a project with keyframe-first review (and an engine with a keyframe model) the job
    renders stills only; the clip follows the approved still (queue_clip_from_keyframe).
    """
    return RenderPayload(
        engine=choice.engine,
        model=choice.model,
        video_model=choice.video_model,
        output=KEYFRAME if keyframes_first(project, choice) else CLIP,
        seeds=tuple(random.randrange(2**31) for _ in range(count)),
        width=project.width,
        height=project.height,
        fps=project.fps,
        steps=choice.steps,
        max_draft_bytes=choice.max_draft_bytes,
        revision=shot.revision,
    )


def queue_episode_render(
    db: sqlite_utils.Database,
    episode_id: int,
    choice: EngineChoice,
    *,
    requester: int | None = None,
    channel_id: int | None = None,
    max_queued_per_user: int = MAX_QUEUED_PER_USER,
) -> tuple[Render, list[Job]]:
    """Queue one job per shot that needs rendering (planned or marked for retake).

    A member may have at most `max_queued_per_user` render jobs queued or running.
    """
    episode = episodes.get_episode(db, episode_id)
    project = projects.get_project(db, episode.project_id)
    shots = [shot for shot in plan.list_shots(db, episode_id) if shot.status in RENDERABLE]
    if not plan.list_shots(db, episode_id):
        raise InvalidInput("This episode has no shots yet: plan it with the agent first.")
    if not shots:
        raise InvalidInput("Every shot of this episode is already rendered or in the queue.")
    if requester is not None:
        check_queue_limit(db, requester, len(shots), max_queued_per_user)
    with db.atomic():
        render = jobs.create_render(db, episode_id, channel_id=channel_id, requester=requester)
        queued = [enqueue_shot(db, render, project, shot, choice, requester) for shot in shots]
    return render, queued


RETAKE_PRIORITY = 1  # a retake runs before first renders: the team is waiting on that one shot


def enqueue_shot(
    db: sqlite_utils.Database,
    render: Render,
    project: Project,
    shot: Shot,
    choice: EngineChoice,
    requester: int | None,
) -> Job:
    """One shot's render job in `render` (retakes first); the shot becomes 'queued'."""
    takes = max(1, min(MAX_TAKES, choice.takes))
    job = jobs.enqueue_job(
        db,
        kind="render",
        episode_id=render.episode_id,
        shot_id=shot.id,
        render_id=render.id,
        payload=render_payload(project, shot, choice, takes).to_json(),
        requester=requester,
        priority=RETAKE_PRIORITY if shot.status == ShotStatus.RETAKE else 0,
    )
    plan.set_shot_status(db, shot.id, ShotStatus.QUEUED)
    return job


def queue_shot_retake(
    db: sqlite_utils.Database,
    shot_id: int,
    choice: EngineChoice,
    *,
    requester: int | None = None,
    channel_id: int | None = None,
    max_queued_per_user: int = MAX_QUEUED_PER_USER,
) -> tuple[Render, Job]:
    """One render job for one shot marked for retake (e.g. from a reviewer's note), within
    the member's queue limit as in queue_episode_render."""
    shot = plan.get_shot(db, shot_id)
    if shot.status != ShotStatus.RETAKE:
        raise InvalidInput(f"Shot {shot.number} is {shot.status}, not marked for a retake.")
    if requester is not None:
        check_queue_limit(db, requester, 1, max_queued_per_user)
    episode = episodes.get_episode(db, shot.episode_id)
    project = projects.get_project(db, episode.project_id)
    with db.atomic():
        render = jobs.create_render(db, episode.id, channel_id=channel_id, requester=requester)
        job = enqueue_shot(db, render, project, shot, choice, requester)
    return render, job


def check_queue_limit(db: sqlite_utils.Database, requester: int, wanted: int, limit: int) -> None:
    """Refuse a render that would give the member more than `limit` jobs queued or running."""
    active = jobs.count_active_renders(db, requester)
    if active + wanted <= limit:
        return
    shots = "shot" if active == 1 else "shots"
    raise InvalidInput(
        f"You already have {active} {shots} queued; the limit is {limit} per member and this "
        f"render needs {wanted} more. Wait for some to finish, or cancel some."
    )


def queue_episode_cut(
    db: sqlite_utils.Database, episode_id: int, *, requester: int | None = None
) -> Job | None:
    """Queue the cut once every shot has an approved take; None if one is already queued."""
    shots = plan.list_shots(db, episode_id)
    missing = [shot.number for shot in shots if shot.approved_take_id is None]
    if not shots or missing:
        raise InvalidInput(f"Shots still without an approved take: {missing}.")
    if jobs.active_jobs_for_episode(db, episode_id, "assemble"):
        return None
    try:
        return jobs.enqueue_job(
            db, kind="assemble", episode_id=episode_id, payload={}, requester=requester, priority=2
        )
    except sqlite3.IntegrityError:
        # Another process queued the same cut between our check and insert (unique index).
        return None


def build_prompt(db: sqlite_utils.Database, project_id: int, shot_id: int) -> str:
    """The shot itself + the looks of the characters in it + the season's canon about them and
    the scene's place + the style, in code."""
    project = projects.get_project(db, project_id)
    shot = plan.get_shot(db, shot_id)
    parts = [shot.prompt or shot.description]
    for character in shot_cast(db, project_id, shot.characters):
        if character.look:
            parts.append(f"{character.name}: {character.look}")
    entry = seasons.entry_for_episode(db, shot.episode_id)
    season = seasons.get_season(db, entry.season_id) if entry else None
    if season is not None:
        place = plan.get_scene(db, shot.scene_id).heading.split(",")[0]
        for fact in canon.facts_about(db, season.id, (*shot.characters, place)):
            parts.append(f"{fact.subject}: {fact.fact}")
    if shot.camera:
        parts.append(f"{shot.camera} shot")
    style = project.style or (season.visual_style if season else "")
    parts.append(style or "cinematic vertical frame, dramatic lighting")
    return ", ".join(part.strip() for part in parts if part.strip())[:1000]


def shot_cast(
    db: sqlite_utils.Database, project_id: int, names: tuple[str, ...]
) -> list[Character]:
    """The project's characters a shot names (names match whatever their case)."""
    known = {c.name.lower(): c for c in characters.list_characters(db, project_id)}
    return [known[name.lower()] for name in names if name.lower() in known]


def encode_references(cast: list[Character]) -> tuple[str, ...]:
    """The cast's reference images as base64 PNGs (at most MAX_REFERENCES). Reads and resizes
    image files: async callers run it in a thread."""
    references: list[str] = []
    for character in cast:
        if character.reference_path and len(references) < MAX_REFERENCES:
            encoded = encode_reference(character.reference_path)
            if encoded is not None:  # a missing file must not block the render
                references.append(encoded)
    return tuple(references)


def build_render_request(
    db: sqlite_utils.Database,
    job: Job,
    *,
    init_image: str = "",
    continuity: bool = False,
    references: tuple[str, ...] | None = None,
) -> RenderRequest:
    """The worker request for a job. Character seeds go on record with it; they do not replace
    the take seeds, so a retake still differs and each take re-renders from its own seed.
    continuity marks init_image as the previous shot's last frame, which a model that cannot
    start from an image may leave out (an approved keyframe it may not)."""
    assert job.shot_id is not None
    shot = plan.get_shot(db, job.shot_id)
    episode = episodes.get_episode(db, job.episode_id)
    payload = RenderPayload.of(job)
    scene_number = next(
        (s.number for s in plan.list_scenes(db, episode.id) if s.id == shot.scene_id), 0
    )
    cast = shot_cast(db, episode.project_id, shot.characters)
    if references is None:
        references = encode_references(cast)
    character_seeds = {character.name: character.seed for character in cast}
    return RenderRequest(
        job_id=job.id,
        engine=payload.engine,
        model=payload.model,
        prompt=build_prompt(db, episode.project_id, shot.id),
        negative_prompt=shot.negative_prompt,
        seeds=payload.seeds,
        duration=shot.duration,
        width=payload.width,
        height=payload.height,
        fps=payload.fps,
        steps=payload.steps,
        heading=f"Ep {episode.number} · Scene {scene_number} · Shot {shot.number}",
        description=shot.description,
        camera=shot.camera,
        dialogue=shot.dialogue,
        reference_images=references,
        max_draft_bytes=payload.max_draft_bytes,
        extra={"character_seeds": character_seeds}
        | ({"start": "continuity"} if continuity else {}),
        output=payload.output,
        video_model=payload.video_model,
        init_image=init_image,
    )


# --- keyframe-first review and continuity -----------------------------------------------------

CLIP_PRIORITY = 2  # the team is waiting on an approved look: before first takes and retakes


def queue_clip_from_keyframe(
    db: sqlite_utils.Database, take_id: int, *, channel_id: int | None = None
) -> Job | None:
    """Queue the clip of an approved keyframe take: its still as init_image, its seed, high
    priority. None when that clip is already queued, rendering or rendered (idempotent).
    With channel_id the job gets a render of its own, for a status message in that channel."""
    take = takes.get_take(db, take_id)
    if take.kind != "keyframe" or take.status != TakeStatus.APPROVED:
        raise InvalidInput(f"Take {take_id} is not an approved keyframe.")
    if jobs.clip_job_exists(db, take.shot_id, take.id):
        return None
    keyframe_job = jobs.get_job(db, take.job_id)
    payload = RenderPayload.of(keyframe_job).clip_from(take.id, take.seed)
    with db.atomic():
        render = (
            jobs.create_render(
                db, keyframe_job.episode_id, channel_id=channel_id, requester=keyframe_job.requester
            )
            if channel_id is not None
            else None
        )
        return jobs.enqueue_job(
            db,
            kind="render",
            episode_id=keyframe_job.episode_id,
            shot_id=take.shot_id,
            render_id=render.id if render else None,
            payload=payload.to_json(),
            requester=keyframe_job.requester,
            priority=CLIP_PRIORITY,
        )


def previous_shot(db: sqlite_utils.Database, shot: Shot) -> Shot | None:
    """The shot before this one in its episode (by number), if any."""
    earlier = [s for s in plan.list_shots(db, shot.episode_id) if s.number < shot.number]
    return earlier[-1] if earlier else None


def png_file_base64(path: str | Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


async def last_frame_png(media_path: str | Path) -> bytes:
    """The last frame of a clip as PNG bytes (ffmpeg seeks near the end, keeps the last)."""
    with tempfile.TemporaryDirectory(prefix="showrunner-frame-") as folder:
        out = Path(folder) / "last.png"
        seek_near_end = ["-sseof", "-1", "-i", str(media_path), "-map", "0:v:0"]
        await run_ffmpeg_async([*seek_near_end, "-update", "1", "-pix_fmt", "rgb24", str(out)])
        return out.read_bytes()


async def prepare_render_request(db: sqlite_utils.Database, job: Job) -> tuple[RenderRequest, str]:
    """The worker request for a job, with its start image, and a note for the job's stage.

    The start image is the approved keyframe's still (a clip job of keyframe-first review),
    or for a continuous shot the last frame of the previous shot's approved take; without
    one the shot renders fresh and the note says why.
    """
    assert job.shot_id is not None
    shot = plan.get_shot(db, job.shot_id)
    episode = episodes.get_episode(db, job.episode_id)
    cast = shot_cast(db, episode.project_id, shot.characters)
    references = await asyncio.to_thread(encode_references, cast)

    def request(init_image: str = "", continuity: bool = False) -> RenderRequest:
        return build_render_request(
            db, job, init_image=init_image, continuity=continuity, references=references
        )

    source_take_id = RenderPayload.of(job).source_take_id
    if source_take_id is not None:
        keyframe = takes.get_take(db, source_take_id)
        if not keyframe.preview_path or not Path(keyframe.preview_path).is_file():
            raise InvalidState(
                f"The approved keyframe of shot {shot.number} has lost its still: "
                "render the shot again."
            )
        init_image = await asyncio.to_thread(png_file_base64, keyframe.preview_path)
        return request(init_image), ""
    if not shot.continuous:
        return request(), ""
    before = previous_shot(db, shot)
    if before is None:
        note = "continuous, but the first shot: starting fresh"
        return request(), note
    if before.approved_take_id is None:
        note = f"continuous, but shot {before.number} has no approved take yet: starting fresh"
        return request(), note
    media = takes.get_take(db, before.approved_take_id).media_path
    try:
        frame = await last_frame_png(media)
    except (FfmpegError, OSError) as error:
        log.warning("no last frame from %s: %s", media, error)
        note = f"continuous, but shot {before.number}'s take is unreadable: starting fresh"
        return request(), note
    init_image = base64.b64encode(frame).decode("ascii")
    return request(init_image, continuity=True), ""
