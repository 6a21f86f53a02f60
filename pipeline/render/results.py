"""What a render actor hands back is fetched and stored: a render job's takes, a speech job's
line, a music job's piece. The job finishes in the same transaction that stores its result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite_utils

from pipeline.errors import WorkerError
from pipeline.render.actors import RenderActorClient
from pipeline.render.payload import CLIP, KEYFRAME, RenderPayload
from pipeline.sound.auditions import reading_recorded
from pipeline.sound.music_jobs import record_music
from pipeline.sound.speech_jobs import SpeechPayload, record_line
from pipeline.worker.requests import RenderRequest
from pipeline.workflow import takes_recorded
from storage import jobs, takes
from storage.models import Job


async def record_takes(
    db: sqlite_utils.Database,
    media_dir: Path,
    job: Job,
    worker: RenderActorClient,
    request: RenderRequest,
    state: dict[str, Any],
    note: str = "",
) -> None:
    assert job.shot_id is not None
    payload = RenderPayload.of(job)
    kind = KEYFRAME if payload.output == KEYFRAME else CLIP
    # a clip rendered from an approved keyframe: the team already approved its look
    source_take_id = payload.source_take_id
    folder = media_dir / "takes" / f"shot{job.shot_id}"
    downloaded = []
    for index, take in enumerate(state.get("takes") or []):
        seed = int(take["seed"])
        media = await worker.download(job.id, take["media"], folder / f"{job.id}_{index}.mp4")
        preview = ""
        if take.get("preview"):
            preview = str(
                await worker.download(job.id, take["preview"], folder / f"{job.id}_{index}.png")
            )
        # what the engine reports per take (e.g. references it could not use) is kept too
        reported = take.get("parameters")
        reported = reported if isinstance(reported, dict) else {}
        downloaded.append((seed, str(media), preview, reported))
    if not downloaded:
        raise WorkerError("the worker finished without any take")
    with db.atomic():
        recorded = []
        for seed, media, preview, reported in downloaded:
            take = takes.add_take(
                db,
                shot_id=job.shot_id,
                job_id=job.id,
                seed=seed,
                engine=request.engine,
                model=request.model,
                media_path=media,
                preview_path=preview,
                parameters={
                    **{k: v for k, v in payload.to_json().items() if k != "seeds"},
                    **reported,
                    **({"continuity": note} if note else {}),
                },
                kind=kind,
                source_take_id=source_take_id,
            )
            recorded.append(take)
        jobs.finish_job(db, job.id)
        takes_recorded(db, job, [take.id for take in recorded])


async def record_spoken_line(
    db: sqlite_utils.Database, media_dir: Path, job: Job, worker: RenderActorClient, state: dict
) -> None:
    auditioned = SpeechPayload.of(job).audition_id
    where = f"audition{auditioned}" if auditioned is not None else f"shot{job.shot_id}"
    line = media_dir / "lines" / where / f"{job.id}.wav"
    wav, reported = await _only_take(worker, state, line, "the spoken line")
    with db.atomic():
        jobs.finish_job(db, job.id)
        if auditioned is not None:
            reading_recorded(db, job, str(wav))
        else:
            record_line(db, job, str(wav), reported)


async def record_music_piece(
    db: sqlite_utils.Database, media_dir: Path, job: Job, worker: RenderActorClient, state: dict
) -> None:
    folder = media_dir / "music" / f"episode{job.episode_id}"
    wav, reported = await _only_take(worker, state, folder / f"{job.id}.wav", "the music")
    with db.atomic():
        jobs.finish_job(db, job.id)
        record_music(db, job, str(wav), reported)


async def _only_take(
    worker: RenderActorClient, state: dict, destination: Path, what: str
) -> tuple[Path, dict[str, Any]]:
    """The one file (`what`) a speech or music job hands back, downloaded to `destination`,
    and what the engine reported with it."""
    take = (state.get("takes") or [None])[0]
    if not take:
        raise WorkerError(f"the worker finished without {what}")
    media = await worker.download(state["id"], take["media"], destination)
    return media, take.get("parameters") or {}
