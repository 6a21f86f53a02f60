"""An audition: three candidate voices read one of a character's lines on the workers (as
speech jobs); when all three are in, the team is shown them (`AuditionReady`), and the pick
that reaches the project's quorum becomes the character's voice (`workflow.audition_vote`)."""

from __future__ import annotations

import sqlite_utils

from pipeline.sound.speech_jobs import SPEECH, SPEECH_PRIORITY, SpeechPayload
from storage import auditions, characters, episodes, events, jobs, plan, voices
from storage.errors import InvalidInput
from storage.models import Audition, Character, Job, Voice


def candidate_voices(db: sqlite_utils.Database, character: Character) -> list[Voice]:
    """The character's own voice, then palette voices nobody else in the cast speaks in."""
    own = character.voice or voices.cast_voice(db, character.id)
    taken = {c.voice for c in characters.list_characters(db, character.project_id)}
    others = [v for v in voices.PALETTE if v != own and v not in taken]
    others += [v for v in voices.PALETTE if v != own and v not in others]  # a full cast
    return [own, *others[: auditions.CANDIDATES - 1]]


def audition_line(db: sqlite_utils.Database, character: Character, episode_id: int) -> str:
    """One of the character's own lines in the episode, or a line that says who they are."""
    for shot in plan.list_shots(db, episode_id):
        named = {name.casefold() for name in shot.characters}
        if shot.dialogue.strip() and character.name.casefold() in named:
            return shot.dialogue.strip()
    return f"My name is {character.name}, and this is how I sound."


def queue_audition(
    db: sqlite_utils.Database, character: Character, channel_id: int, requester: int
) -> Audition:
    """The audition and a speech job per candidate, in one transaction."""
    episode = episodes.current_episode(db, character.project_id)
    if episode is None:
        raise InvalidInput("This project has no episode yet: plan one, then audition.")
    line = audition_line(db, character, episode.id)
    with db.atomic():
        audition = auditions.create_audition(
            db, character.id, channel_id, line, candidate_voices(db, character)
        )
        for candidate, voice in enumerate(audition.voices):
            payload = SpeechPayload(line, character.name, voice, "", audition.id, candidate)
            jobs.enqueue_job(
                db, kind=SPEECH, episode_id=episode.id, payload=payload.to_json(),
                requester=requester, priority=SPEECH_PRIORITY,
            )  # fmt: skip
    return audition


def reading_recorded(db: sqlite_utils.Database, job: Job, media_path: str) -> None:
    """A candidate's reading is stored (in the job's transaction); the audition is posted
    once every candidate has read."""
    payload = SpeechPayload.of(job)
    assert payload.audition_id is not None
    audition = auditions.reading_spoken(db, payload.audition_id, payload.candidate, media_path)
    if all(audition.readings):
        events.emit(db, events.AuditionReady(audition.id))
