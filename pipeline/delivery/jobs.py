"""Delivery copies as jobs: the episode's cut fitted to the server's upload limit (up to six
two-pass encodes) is made by the scheduler beside the renders, not in the bot's outbox loop;
the bot posts it when the job emits DeliveryReady."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from pipeline.delivery.copy_for_upload import fit_to_size
from pipeline.errors import AssembleError
from storage import episodes, events, jobs
from storage.models import Job

log = logging.getLogger(__name__)
DELIVER = "deliver"


@dataclass(frozen=True)
class DeliveryPayload:
    """What a delivery job stores about itself."""

    limit_bytes: int  # the server's upload limit
    budget_bytes: int  # what the video may take of it (less the poster and a margin)
    poster: bool  # the poster frame goes along

    @classmethod
    def of(cls, job: Job) -> DeliveryPayload:
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in job.payload.items() if key in known})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def make_delivery_copy(db: sqlite_utils.Database, job: Job) -> None:
    """Run one delivery job: the copy that fits (or the master, when it does), then
    DeliveryReady. A copy that cannot be made is no failure: the post says why and where the
    master is."""
    job = jobs.start_job(db, job.id, "local")
    payload = DeliveryPayload.of(job)
    episode = episodes.get_episode(db, job.episode_id)
    if not episode.cut_path:
        raise AssembleError(f"Episode {episode.number} has no cut to deliver.")
    copy, problem = "", ""
    try:
        copy = str(await fit_to_size(Path(episode.cut_path), payload.budget_bytes))
    except AssembleError as error:
        log.warning("episode %s: no delivery copy: %s", episode.id, error)
        problem = str(error)
    with db.atomic():
        jobs.finish_job(db, job.id)
        events.emit(db, events.DeliveryReady(episode.id, job.id, copy, problem))
