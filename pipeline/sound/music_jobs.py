"""Music jobs: with a music model (SHOWRUNNER_MUSIC_MODEL), an episode's score is made on the
workers, a piece per mood of its scenes, while its shots render; its cut waits for them
(`episodes_being_scored`) and lays each piece under the scenes in its mood. A piece the
model cannot make is stored as failed, and that cut's score is composed in code instead
(pipeline.sound.score), as it is without a model.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from pipeline.sound.score import MOODS, mood_of
from pipeline.worker.requests import RenderRequest
from storage import episodes, jobs, music, plan, projects
from storage.models import Job, Music
from storage.status import ACTIVE_JOBS

MUSIC = "music"
MUSIC_STEPS = 8  # ACE-Step's turbo checkpoints are made for 8 steps
MIN_PIECE, MAX_PIECE = 10.0, 60.0  # seconds; a cue longer than its piece loops it
PIECE_MARGIN = 1.25  # shots grow to hold their lines: a piece runs a quarter over the plan
_NOTES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# what each mood sounds like, in the words a text-to-music model is trained on; the tempo and
# key are the composed score's (MOODS), so a scene keeps its character with either
CAPTIONS: dict[str, str] = {
    "tense": "tense cinematic strings, pizzicato ostinato, low contrabass pulse",
    "ominous": "ominous dark ambient, sweeping pads, distant timpani",
    "mysterious": "mysterious ambient pads, soft vibraphone, sparse bass",
    "melancholy": "melancholic solo piano over warm strings, slow",
    "tender": "tender warm pads and harp arpeggios, gentle",
    "hopeful": "hopeful uplifting strings and piano, rising",
    "triumphant": "triumphant orchestral brass and strings, heroic",
    "playful": "playful light marimba and pizzicato, bouncy",
}


@dataclass(frozen=True)
class MusicPayload:
    mood: str
    seconds: float
    model: str

    @classmethod
    def of(cls, job: Job) -> MusicPayload:
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in job.payload.items() if key in known})


def mood_music(mood: str) -> tuple[str, int, str]:
    """The model's prompt, tempo (bpm) and key ("D minor") for a mood."""
    style = MOODS[mood_of(mood)]
    key = f"{_NOTES[style.tonic % 12]} {'minor' if style.minor else 'major'}"
    prompt = f"{CAPTIONS[mood_of(mood)]}, instrumental film score, no vocals"
    return prompt, style.tempo, key


def moods_of_episode(db: sqlite_utils.Database, episode_id: int) -> dict[str, float]:
    """Each mood of the episode's scenes, with the planned seconds of its shots."""
    scenes = {scene.id: mood_of(scene.mood) for scene in plan.list_scenes(db, episode_id)}
    seconds: dict[str, float] = defaultdict(float)
    for shot in plan.list_shots(db, episode_id):
        seconds[scenes.get(shot.scene_id, mood_of(""))] += shot.duration
    return dict(seconds)


def episodes_being_scored(db: sqlite_utils.Database) -> set[int]:
    """The episodes a music job is making a piece for (queued or running): their cuts wait."""
    return {
        job.episode_id
        for status in ACTIVE_JOBS
        for job in jobs.jobs_with_status(db, status, MUSIC)
        if job.episode_id is not None
    }


def queue_score(
    db: sqlite_utils.Database, episode_id: int, model: str, requester: int | None = None
) -> list[Job]:
    """A music job for each mood of the episode that `model` has not made a piece for (nor is
    making); none without a model, or for a project whose uploaded music bed is its music."""
    project_id = episodes.get_episode(db, episode_id).project_id
    if not model or projects.get_project(db, project_id).music_path:
        return []
    made = music.episode_music(db, episode_id, model)
    making = {
        MusicPayload.of(job).mood
        for job in jobs.jobs_for_episode(db, episode_id, MUSIC)
        if job.status in ACTIVE_JOBS
    }
    queued = []
    for mood, planned in moods_of_episode(db, episode_id).items():
        if mood in made or mood in making:
            continue
        seconds = round(min(MAX_PIECE, max(MIN_PIECE, planned * PIECE_MARGIN)), 1)
        payload = dataclasses.asdict(MusicPayload(mood, seconds, model))
        job = jobs.enqueue_job(
            db, kind=MUSIC, episode_id=episode_id, payload=payload, requester=requester
        )
        queued.append(job)
    return queued


def music_request(job: Job) -> RenderRequest:
    """What the worker is asked: a piece in the mood, as one WAV."""
    payload = MusicPayload.of(job)
    prompt, bpm, key = mood_music(payload.mood)
    return RenderRequest(
        job_id=job.id,
        engine=MUSIC,
        prompt=prompt,
        seeds=(zlib.crc32(f"{job.episode_id}:{payload.mood}".encode()),),
        duration=payload.seconds,
        model=payload.model,
        steps=MUSIC_STEPS,
        extra={"bpm": bpm, "key": key},
    )


def record_music(
    db: sqlite_utils.Database, job: Job, media_path: str, reported: dict[str, Any]
) -> Music:
    """A piece made (call inside the transaction that finishes its job)."""
    seconds = float(reported.get("seconds", 0.0))
    return _add_piece(db, job, media_path=media_path, seconds=seconds)


def music_failed(db: sqlite_utils.Database, job: Job, reason: str) -> Music:
    """A piece no attempt could make: on record; the cut composes its score instead."""
    return _add_piece(db, job, error=reason)


def _add_piece(db: sqlite_utils.Database, job: Job, **outcome: Any) -> Music:
    assert job.episode_id is not None
    payload = MusicPayload.of(job)
    return music.add_music(
        db, episode_id=job.episode_id, mood=payload.mood, model=payload.model, job_id=job.id,
        **outcome,
    )  # fmt: skip
