"""The job queue: render and assemble jobs, with attempts and progress."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlite_utils

from storage.db import utc_now
from storage.errors import InvalidInput, InvalidState, NotFound
from storage.models import Job, Render
from storage.plan import get_shot, set_shot_status
from storage.status import (
    ACTIVE_JOBS,
    IN_FLIGHT,
    JOB_TRANSITIONS,
    JobStatus,
    ShotStatus,
    check_transition,
)

MAX_ATTEMPTS = 3


def create_render(
    db: sqlite_utils.Database, episode_id: int, *, channel_id: int | None, requester: int | None
) -> Render:
    render_id = (
        db.table("renders")
        .insert(
            {
                "episode_id": episode_id,
                "channel_id": channel_id,
                "requester": requester,
                "created_at": utc_now(),
            }
        )
        .last_pk
    )
    return get_render(db, int(render_id))


def get_render(db: sqlite_utils.Database, render_id: int) -> Render:
    rows = list(db.table("renders").rows_where("id = ?", [render_id]))
    if not rows:
        raise NotFound(f"Render {render_id} does not exist.")
    return Render.from_row(rows[0])


def set_render_message(db: sqlite_utils.Database, render_id: int, message_id: int) -> None:
    db.table("renders").update(render_id, {"status_message_id": message_id})


def enqueue_job(
    db: sqlite_utils.Database,
    *,
    kind: str,
    episode_id: int,
    payload: dict[str, Any],
    shot_id: int | None = None,
    render_id: int | None = None,
    requester: int | None = None,
    priority: int = 0,
) -> Job:
    job_id = uuid.uuid4().hex
    db.table("jobs").insert(
        {
            "id": job_id,
            "kind": kind,
            "episode_id": episode_id,
            "shot_id": shot_id,
            "render_id": render_id,
            "payload": json.dumps(payload),
            "status": JobStatus.QUEUED,
            "priority": priority,
            "requester": requester,
            "created_at": utc_now(),
        }
    )
    return get_job(db, job_id)


def get_job(db: sqlite_utils.Database, job_id: str) -> Job:
    rows = list(db.table("jobs").rows_where("id = ?", [job_id]))
    if not rows:
        raise NotFound(f"Job {job_id} does not exist.")
    return Job.from_row(rows[0])


def jobs_with_status(db: sqlite_utils.Database, status: str, kind: str | None = None) -> list[Job]:
    where, params = "status = ?", [status]
    if kind:
        where += " AND kind = ?"
        params.append(kind)
    return [
        Job.from_row(row)
        for row in db.table("jobs").rows_where(
            where, params, order_by="priority DESC, created_at, rowid"
        )
    ]


def renders_with_status_messages(db: sqlite_utils.Database, *, active_since: str) -> list[int]:
    """Renders with a status message and a job queued, running or finished since then."""
    rows = db.execute(
        """
        SELECT DISTINCT r.id FROM renders r JOIN jobs j ON j.render_id = r.id
        WHERE r.status_message_id IS NOT NULL
          AND (j.status IN ('queued', 'running') OR j.finished_at >= ?)
        ORDER BY r.id
        """,
        [active_since],
    ).fetchall()
    return [row[0] for row in rows]


def clip_job_exists(db: sqlite_utils.Database, shot_id: int, source_take_id: int) -> bool:
    """Whether a render job for the shot already makes a clip from that keyframe take."""
    return bool(
        db.execute(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'render' AND shot_id = ? "
            "AND json_extract(payload, '$.source_take_id') = ?",
            [shot_id, source_take_id],
        ).fetchone()[0]
    )


def jobs_for_render(db: sqlite_utils.Database, render_id: int) -> list[Job]:
    return [
        Job.from_row(row)
        for row in db.table("jobs").rows_where("render_id = ?", [render_id], order_by="rowid")
    ]


def jobs_for_episode(db: sqlite_utils.Database, episode_id: int, kind: str) -> list[Job]:
    """Every job of one kind for the episode, oldest first."""
    return [
        Job.from_row(row)
        for row in db.table("jobs").rows_where(
            "episode_id = ? AND kind = ?", [episode_id, kind], order_by="rowid"
        )
    ]


def active_jobs_for_episode(db: sqlite_utils.Database, episode_id: int, kind: str) -> list[Job]:
    """The episode's jobs of one kind that are queued or running, oldest first."""
    return [job for job in jobs_for_episode(db, episode_id, kind) if job.status in ACTIVE_JOBS]


def _set_status(db: sqlite_utils.Database, job_id: str, status: str, **values: Any) -> Job:
    job = get_job(db, job_id)
    check_transition("job", JOB_TRANSITIONS, job.status, status)
    db.table("jobs").update(job_id, {"status": status, **values})
    return get_job(db, job_id)


def start_job(db: sqlite_utils.Database, job_id: str, worker: str) -> Job:
    job = get_job(db, job_id)
    return _set_status(
        db,
        job_id,
        JobStatus.RUNNING,
        worker=worker,
        attempts=job.attempts + 1,
        started_at=utc_now(),
        error=None,
    )


def reattached(db: sqlite_utils.Database, job_id: str) -> Job:
    """A restarted bot found the job still alive on its worker: the start that found it is
    not a new attempt."""
    job = get_job(db, job_id)
    db.table("jobs").update(job_id, {"attempts": max(1, job.attempts - 1)})
    return get_job(db, job_id)


def report_progress(db: sqlite_utils.Database, job_id: str, progress: float, stage: str) -> None:
    db.table("jobs").update(job_id, {"progress": max(0.0, min(1.0, progress)), "stage": stage})


def finish_job(db: sqlite_utils.Database, job_id: str) -> Job:
    return _set_status(
        db, job_id, JobStatus.DONE, progress=1.0, stage="done", finished_at=utc_now()
    )


def fail_job(db: sqlite_utils.Database, job_id: str, error: str, *, retry: bool = True) -> Job:
    """Fail for good, or requeue while attempts remain and retry is allowed (the error is kept
    either way)."""
    job = get_job(db, job_id)
    if retry and job.status == JobStatus.RUNNING and job.attempts < MAX_ATTEMPTS:
        return _set_status(db, job_id, JobStatus.QUEUED, error=error[:500], progress=0.0, stage="")
    return _set_status(db, job_id, JobStatus.FAILED, error=error[:500], finished_at=utc_now())


def requeue_job(db: sqlite_utils.Database, job_id: str) -> Job:
    return _set_status(db, job_id, JobStatus.QUEUED, progress=0.0, stage="")


def cancel_job(db: sqlite_utils.Database, job_id: str) -> Job:
    return _set_status(db, job_id, JobStatus.CANCELLED, finished_at=utc_now())


MIN_ID_PREFIX = 6
_HEX = frozenset("0123456789abcdef")


def queue_positions(db: sqlite_utils.Database) -> dict[str, int]:
    """1-based positions of all queued jobs, in the order the scheduler picks them."""
    queued = jobs_with_status(db, JobStatus.QUEUED)
    return {job.id: position for position, job in enumerate(queued, start=1)}


def active_jobs_for_project(db: sqlite_utils.Database, project_id: int) -> list[Job]:
    """The project's queued and running jobs: running first, then in the order they will run."""
    rows = db.query(
        """
        SELECT jobs.* FROM jobs JOIN episodes ON episodes.id = jobs.episode_id
        WHERE episodes.project_id = ? AND jobs.status IN ('queued', 'running')
        ORDER BY jobs.status = 'queued', jobs.priority DESC, jobs.created_at, jobs.rowid
        """,
        [project_id],
    )
    return [Job.from_row(row) for row in rows]


def count_active_renders(db: sqlite_utils.Database, requester: int) -> int:
    """How many render jobs this member has queued or running (the per-member limit)."""
    row = db.execute(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'render' AND requester = ? "
        "AND status IN ('queued', 'running')",
        [requester],
    ).fetchone()
    return int(row[0])


def find_project_job(db: sqlite_utils.Database, project_id: int, prefix: str) -> Job:
    """The project's one job whose id starts with prefix (at least 6 hex digits)."""
    prefix = prefix.strip().lower()
    if len(prefix) < MIN_ID_PREFIX or not set(prefix) <= _HEX:
        raise InvalidInput(
            f"Give at least {MIN_ID_PREFIX} characters of a job id, as the queue lists them."
        )
    rows = list(
        db.query(
            """
            SELECT jobs.* FROM jobs JOIN episodes ON episodes.id = jobs.episode_id
            WHERE episodes.project_id = ? AND substr(jobs.id, 1, ?) = ? LIMIT 2
            """,
            [project_id, len(prefix), prefix],
        )
    )
    if not rows:
        raise NotFound(f"No job of this project has an id starting with `{prefix}`.")
    if len(rows) > 1:
        raise InvalidInput(f"Several jobs have ids starting with `{prefix}`: give more of it.")
    return Job.from_row(rows[0])


def cancel_render_job(db: sqlite_utils.Database, job_id: str) -> Job:
    """Cancel a queued or running render job (its shot back to 'planned'), the speaking of a
    shot's line, or the making of the score's music (the cut composes it instead)."""
    job = get_job(db, job_id)
    if job.kind in ("speech", "music") and job.status in ACTIVE_JOBS:
        return cancel_job(db, job_id)
    if job.kind != "render":
        raise InvalidInput(f"Job `{job_id[:8]}` is an episode cut; only renders can be cancelled.")
    if job.status not in ACTIVE_JOBS:
        raise InvalidState(f"Job `{job_id[:8]}` is already {job.status}.")
    with db.atomic():
        cancelled = cancel_job(db, job_id)
        if job.shot_id is not None and get_shot(db, job.shot_id).status in IN_FLIGHT:
            set_shot_status(db, job.shot_id, ShotStatus.PLANNED)
    return cancelled
