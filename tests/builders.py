"""State builders shared by the tests: a project, a planned episode, takes in review as a
finished render job leaves them. Real rows in a real SQLite file, made through storage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from pipeline.render.payload import RenderPayload
from storage import jobs, plan, projects, seasons, takes
from storage.models import Episode, Project, Season, Take


def make_project(db: sqlite_utils.Database, channel: int = 1, **size: int) -> Project:
    size = {"width": 180, "height": 320, "fps": 12} | size
    return projects.create_project(db, "Flood", writers_channel_id=channel, **size)


def make_episode(
    db: sqlite_utils.Database, project: Project, durations: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> Episode:
    shots = tuple(
        plan.ShotPlan(f"shot {i}", "wide", seconds) for i, seconds in enumerate(durations, start=1)
    )
    draft = plan.EpisodePlan("The Flood", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    return plan.save_episode_plan(db, project.id, draft)


def shot_in_review(db: sqlite_utils.Database, shot_id: int) -> None:
    """The shot walks queued -> rendering -> review, as a render does (its takes are the
    caller's to add)."""
    for status in ("queued", "rendering", "review"):
        plan.set_shot_status(db, shot_id, status)


def takes_in_review(
    db: sqlite_utils.Database,
    shot_id: int,
    count: int = 1,
    *,
    kind: str = "clip",
    files: Sequence[tuple[str, str]] = (),
) -> list[Take]:
    """`count` takes of a shot in review, from a render job that is done (the shot walks
    queued -> rendering -> review, as a render does); `files` are their (media, preview)
    paths, none by default."""
    files = files or [("", "")] * count
    shot_in_review(db, shot_id)
    shot = plan.get_shot(db, shot_id)
    payload = RenderPayload("animatic", tuple(range(count)), 90, 160, 8, output=kind)
    job = jobs.enqueue_job(
        db, kind="render", episode_id=shot.episode_id, shot_id=shot_id, payload=payload.to_json()
    )
    jobs.start_job(db, job.id, "worker")
    jobs.finish_job(db, job.id)
    return [
        takes.add_take(
            db,
            shot_id=shot_id,
            job_id=job.id,
            seed=seed,
            engine="animatic",
            model="",
            media_path=media,
            preview_path=preview,
            kind=kind,
        )
        for seed, (media, preview) in enumerate(files)
    ]


def approved_episode(db: sqlite_utils.Database, media: Sequence[Path], **size: int) -> Episode:
    """An episode of len(media) one-second shots (dialogue "Line 0", "Line 1", ...), each with
    an approved take on its file in `media`, the last approval queueing nothing (the caller
    decides what follows)."""
    project = make_project(db, **({"fps": 24} | size))
    shots = tuple(plan.ShotPlan(f"shot {i}", "wide", 1.0, f"Line {i}") for i in range(len(media)))
    draft = plan.EpisodePlan("The Flood", "", scenes=(plan.ScenePlan("Shore", "", shots),))
    episode = plan.save_episode_plan(db, project.id, draft)
    for shot, path in zip(plan.list_shots(db, episode.id), media, strict=True):
        (take,) = takes_in_review(db, shot.id, files=[(str(path), "")])
        takes.approve_take(db, take.id)
    return episode


def approved_season(
    db: sqlite_utils.Database, media: Sequence[Sequence[Path]], **size: int
) -> tuple[Season, list[Episode]]:
    """A season of len(media) one-minute episodes in one project, the nth of len(media[n])
    one-second shots ("Line <episode>.<shot>") each with an approved take on its file."""
    project = make_project(db, **({"fps": 24} | size))
    entries = tuple(
        seasons.MapEntry(f"Tide {n}", f"The sea rises, part {n}", hook, f"Wave {n} breaks")
        for n, hook in zip(range(1, len(media) + 1), seasons.HOOK_TYPES * 3, strict=False)
    )
    season = seasons.create_season(
        db, project.id, seasons.SeasonPlan("A fisherman defies a god", 60.0, entries)
    )
    made = []
    for number, (entry, files) in enumerate(
        zip(seasons.season_map(db, season.id), media, strict=True), 1
    ):
        shots = tuple(
            plan.ShotPlan(f"shot {i}", "wide", 1.0, f"Line {number}.{i}") for i in range(len(files))
        )
        draft = plan.EpisodePlan(
            entry.title, "", (plan.ScenePlan("Shore", "", shots),), teaser=entry.cliffhanger
        )
        episode = plan.save_episode_plan(db, project.id, draft)
        seasons.link_episode(db, entry.id, episode.id)
        for shot, path in zip(plan.list_shots(db, episode.id), files, strict=True):
            (take,) = takes_in_review(db, shot.id, files=[(str(path), "")])
            takes.approve_take(db, take.id)
        made.append(episode)
    return season, made


def vote(db: sqlite_utils.Database, take: Take, emoji: str, *voters: int) -> None:
    for voter in voters:
        takes.add_vote(db, take.id, voter, emoji)
