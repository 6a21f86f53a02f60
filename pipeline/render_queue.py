"""Turning a plan into queued jobs, and a queued job into a worker request."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from pipeline.requests import RenderRequest
from storage import jobs, plan, projects
from storage.errors import InvalidInput
from storage.models import Job, Render

RENDERABLE = {"planned", "retake"}
MAX_TAKES = 4


@dataclass(frozen=True)
class EngineChoice:
    engine: str = "animatic"
    model: str = ""
    takes: int = 1
    steps: int = 20


def queue_episode_render(
    db: sqlite_utils.Database,
    episode_id: int,
    choice: EngineChoice,
    *,
    requester: int | None = None,
    channel_id: int | None = None,
    max_queued_per_user: int = 20,
) -> tuple[Render, list[Job]]:
    """Queue one job per shot that needs rendering (planned or marked for retake).

    A member may have at most `max_queued_per_user` render jobs queued or running.
    """
    episode = plan.get_episode(db, episode_id)
    project = projects.get_project(db, episode.project_id)
    shots = [shot for shot in plan.list_shots(db, episode_id) if shot.status in RENDERABLE]
    if not plan.list_shots(db, episode_id):
        raise InvalidInput("This episode has no shots yet: plan it with the agent first.")
    if not shots:
        raise InvalidInput("Every shot of this episode is already rendered or in the queue.")
    if requester is not None:
        check_queue_limit(db, requester, len(shots), max_queued_per_user)
    takes = max(1, min(MAX_TAKES, choice.takes))
    with db.atomic():
        render = jobs.create_render(db, episode_id, channel_id=channel_id, requester=requester)
        queued = []
        for shot in shots:
            payload = {
                "engine": choice.engine,
                "model": choice.model,
                "seeds": [random.randrange(2**31) for _ in range(takes)],
                "width": project.width,
                "height": project.height,
                "fps": project.fps,
                "steps": choice.steps,
                "revision": shot.revision,
            }
            priority = 1 if shot.status == "retake" else 0
            queued.append(
                jobs.enqueue_job(
                    db,
                    kind="render",
                    episode_id=episode_id,
                    shot_id=shot.id,
                    render_id=render.id,
                    payload=payload,
                    requester=requester,
                    priority=priority,
                )
            )
            plan.set_shot_status(db, shot.id, "queued")
        if episode.status == "writing":
            plan.set_episode_status(db, episode_id, "shooting")
    return render, queued


def check_queue_limit(db: sqlite_utils.Database, requester: int, wanted: int, limit: int) -> None:
    """Refuse a render that would give the member more than `limit` jobs queued or running."""
    active = jobs.count_active_renders(db, requester)
    if active + wanted <= limit:
        return
    shots = "shot" if active == 1 else "shots"
    raise InvalidInput(
        f"You already have {active} {shots} queued; the limit is {limit} per member and this "
        f"render needs {wanted} more. Wait for some to finish, or /cancel some."
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
    """Project style + the looks of the characters in the shot + the shot itself, in code."""
    project = projects.get_project(db, project_id)
    shot = plan.get_shot(db, shot_id)
    looks = {c.name: c for c in plan.list_characters(db, project_id)}
    parts = [shot.prompt or shot.description]
    for name in shot.characters:
        character = looks.get(name)
        if character and character.look:
            parts.append(f"{character.name}: {character.look}")
    if shot.camera:
        parts.append(f"{shot.camera} shot")
    parts.append(project.style or "cinematic vertical frame, dramatic lighting")
    return ", ".join(part.strip() for part in parts if part.strip())[:1000]


def build_render_request(db: sqlite_utils.Database, job: Job) -> RenderRequest:
    assert job.shot_id is not None
    shot = plan.get_shot(db, job.shot_id)
    episode = plan.get_episode(db, job.episode_id)
    payload = job.payload
    scene_number = next(
        (s.number for s in plan.list_scenes(db, episode.id) if s.id == shot.scene_id), 0
    )
    return RenderRequest(
        job_id=job.id,
        engine=payload["engine"],
        model=payload.get("model", ""),
        prompt=build_prompt(db, episode.project_id, shot.id),
        negative_prompt=shot.negative_prompt,
        seeds=tuple(payload["seeds"]),
        duration=shot.duration,
        width=payload["width"],
        height=payload["height"],
        fps=payload["fps"],
        steps=payload.get("steps", 20),
        heading=f"Ep {episode.number} · Scene {scene_number} · Shot {shot.number}",
        description=shot.description,
        camera=shot.camera,
        dialogue=shot.dialogue,
    )
