"""Speech jobs: a shot's line spoken on a worker, as renders are, before its video renders.

Who speaks a line: the first character in the shot who has a voice, else the narrator. A
spoken line is stored with its length, and the shot is made to last at least the line plus
LINE_PAD; a render of that shot waits until its line is spoken (the scheduler holds back
the renders of `shots_being_spoken`). A line the engine cannot speak is stored as failed, and
the shot renders silent, its line subtitled.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from pipeline.sound.clips import clip_for_request
from pipeline.sound.mix import LINE_LEAD, LINE_PAD
from pipeline.sound.readings import voice_for_reading
from pipeline.worker.requests import RenderRequest
from storage import characters, episodes, events, jobs, lines, plan, voices
from storage.errors import NotFound
from storage.models import Job, Line, Shot, Voice
from storage.status import ACTIVE_JOBS, ShotStatus

log = logging.getLogger(__name__)

SPEECH = "speech"
SPEECH_PRIORITY = 3  # before clips, retakes and first renders: a shot's length waits on its line
MAX_SPEECH_SECONDS = 60.0
MIN_SHOT = 2.0  # seconds: a shorter shot is a flash
WORDS_PER_MINUTE, CHARACTERS_PER_WORD = 150, 1.6  # to foresee a line not spoken yet


@dataclass(frozen=True)
class SpeechPayload:
    text: str
    speaker: str  # the character's name; "" for the narrator
    voice: Voice  # already moved by the reading
    reading: str = ""
    audition_id: int | None = None  # a candidate's reading in an audition, not a shot's line
    candidate: int = 0

    @classmethod
    def of(cls, job: Job) -> SpeechPayload:
        values = dict(job.payload)
        values["voice"] = Voice(**values["voice"])
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def speaker_of(db: sqlite_utils.Database, project_id: int, shot: Shot) -> tuple[str, Voice]:
    """Who speaks the shot's line, and in which voice."""
    for name in shot.characters:
        try:
            character = characters.get_character(db, project_id, name)
        except NotFound:
            continue
        if character.voice is not None:
            return character.name, character.voice
    return "", voices.narrator(db, project_id)


def shots_being_spoken(db: sqlite_utils.Database) -> set[int]:
    """The shots whose line a speech job is speaking or will speak (queued or running): their
    renders wait, and their lines are not queued again."""
    return {
        job.shot_id
        for status in ACTIVE_JOBS
        for job in jobs.jobs_with_status(db, status, SPEECH)
        if job.shot_id is not None
    }


def queue_line(
    db: sqlite_utils.Database, shot: Shot, *, reading: str = "", requester: int | None = None
) -> Job:
    """A speech job for the shot's line (read with `reading`'s directions, if any)."""
    project_id = episodes.get_episode(db, shot.episode_id).project_id
    speaker, voice = speaker_of(db, project_id, shot)
    voice = voice_for_reading(voice, reading)
    payload = SpeechPayload(shot.dialogue.strip(), speaker, voice, reading)
    return jobs.enqueue_job(
        db,
        kind=SPEECH,
        episode_id=shot.episode_id,
        shot_id=shot.id,
        payload=payload.to_json(),
        requester=requester,
        priority=SPEECH_PRIORITY,
    )


def queue_lines(
    db: sqlite_utils.Database, shots: list[Shot], requester: int | None = None
) -> list[Job]:
    """Speech jobs for the shots whose present line has not been read (nor is being read)."""
    being_spoken = shots_being_spoken(db)
    return [
        queue_line(db, shot, requester=requester)
        for shot in shots
        if shot.dialogue.strip()
        and shot.id not in being_spoken
        and lines.current_line(db, shot) is None
    ]


def speech_request(db: sqlite_utils.Database, job: Job) -> RenderRequest:
    """What the worker is asked: the line, in its voice (with its reference clip, for a
    worker that clones), as one WAV."""
    payload = SpeechPayload.of(job)
    extra: dict[str, Any] = {"voice": dataclasses.asdict(payload.voice)}
    clip = clip_for_request(payload.voice.clip)
    if clip:
        extra["voice_clip"] = clip
    return RenderRequest(
        job_id=job.id,
        engine=SPEECH,
        prompt=payload.text,
        seeds=(0,),
        duration=MAX_SPEECH_SECONDS,
        extra=extra,
    )


def record_line(
    db: sqlite_utils.Database, job: Job, media_path: str, reported: dict[str, Any]
) -> Line:
    """A spoken line is stored (call inside the transaction that finishes its job); its shot
    is lengthened to hold it. Another reading of a shot already in review is posted."""
    assert job.shot_id is not None
    seconds = float(reported.get("seconds", 0.0))
    engine = str(reported.get("speech_engine", ""))
    if reported.get("speech_model_error"):
        log.warning("shot %s's line was spoken by %s: the speech model failed: %s",
                    job.shot_id, engine, reported["speech_model_error"])  # fmt: skip
    line = _add_reading(db, job, media_path=media_path, seconds=seconds, engine=engine)
    shot = hold_line(db, job.shot_id, seconds)
    if line.reading and shot.status in (ShotStatus.REVIEW, ShotStatus.APPROVED):
        events.emit(db, events.LineSpoken(job.shot_id, line.id))
    return line


def hold_line(db: sqlite_utils.Database, shot_id: int, seconds: float) -> Shot:
    """The shot made long enough for its line; what it gained is taken back from the
    episode's shots not rendered yet that have time to spare, most spare first, so that the
    episode keeps the length it was planned at (while the lines fit in it)."""
    shot = plan.get_shot(db, shot_id)
    if LINE_LEAD + seconds + LINE_PAD <= shot.duration:
        return shot
    grown = plan.fit_duration(db, shot_id, LINE_LEAD + seconds + LINE_PAD)
    owed = grown.duration - shot.duration
    others = [
        (other.duration - least_length(db, other), other)
        for other in plan.list_shots(db, shot.episode_id)
        if other.id != shot_id and other.status in (ShotStatus.PLANNED, ShotStatus.QUEUED)
    ]
    for spare, other in sorted(others, key=lambda pair: -pair[0]):
        give = round(min(spare, owed), 2)
        if give <= 0:
            break
        plan.fit_duration(db, other.id, other.duration - give)
        owed -= give
    return grown


def least_length(db: sqlite_utils.Database, shot: Shot) -> float:
    """How short a shot may be made: its spoken line's length (or, not spoken yet, what it
    should take) and no less than MIN_SHOT."""
    line = lines.current_line(db, shot)
    if line is not None and line.spoken:
        return max(MIN_SHOT, LINE_LEAD + line.seconds + LINE_PAD)
    text = shot.dialogue.strip()
    words = len(text.split()) if " " in text else len(text) / CHARACTERS_PER_WORD
    return max(MIN_SHOT, LINE_LEAD + words * 60 / WORDS_PER_MINUTE + LINE_PAD if text else 0.0)


def line_failed(db: sqlite_utils.Database, job: Job, reason: str) -> Line:
    """A line no attempt could speak: stored as failed, so the shot is marked and renders."""
    return _add_reading(db, job, error=reason)


def _add_reading(db: sqlite_utils.Database, job: Job, **outcome: Any) -> Line:
    """The job's reading of its shot's line on record, with how it came out."""
    assert job.shot_id is not None
    payload = SpeechPayload.of(job)
    return lines.add_line(
        db, shot_id=job.shot_id, job_id=job.id, text=payload.text, speaker=payload.speaker,
        voice=payload.voice, reading=payload.reading, **outcome,
    )  # fmt: skip
