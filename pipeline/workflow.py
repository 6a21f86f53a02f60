"""What happens next. Every decision that follows a render request, a vote, a retake note, a
finished render, a cut or a delivery, and every change of an episode's status, is made here.
The Discord cogs and `showrunner produce` call these functions and only format what they
return; the scheduler calls them when a job's result is stored.

The episode walks writing -> shooting (its first render is queued) -> cutting (every shot has
an approved take: the cut is queued) -> delivered (the cut was posted). A retake sends it back
to shooting, and so does a cut that failed for good (the team fixes a shot, the cut follows).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlite_utils

from pipeline.delivery.jobs import DELIVER, DeliveryPayload
from pipeline.render.payload import KEYFRAME
from pipeline.render.queue import (
    MAX_QUEUED_PER_USER,
    EngineChoice,
    queue_clip_from_keyframe,
    queue_episode_cut,
    queue_episode_render,
    queue_shot_retake,
)
from pipeline.sound.music_jobs import queue_score
from pipeline.sound.readings import reading_of
from pipeline.sound.speech_jobs import queue_line, queue_lines, shots_being_spoken
from storage import auditions, characters, episodes, events, jobs, plan, projects, takes, voices
from storage.errors import InvalidInput, ShowrunnerError
from storage.models import Audition, Episode, Job, Render, Shot, Voice
from storage.status import IN_FLIGHT, EpisodeStatus, ShotStatus, TakeStatus

log = logging.getLogger(__name__)
MAX_NOTE_CHARS = 500
# one note at a time per shot: two quick replies must not both queue a retake
_shot_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)


# --- rendering ----------------------------------------------------------------------------


def accept_plan(
    db: sqlite_utils.Database, episode_id: int, revision: int, member_id: int
) -> Episode:
    """A go-ahead for that revision of the plan: recorded, and its lines are spoken at once,
    before anything renders (the team hears them on the drafts; the shots' lengths are set
    by the time they render)."""
    with db.atomic():
        episode = episodes.accept_plan(db, episode_id, revision, member_id)
        queue_lines(db, plan.list_shots(db, episode_id), member_id)
    return episode


def render_episode(
    db: sqlite_utils.Database,
    episode_id: int,
    choice: EngineChoice,
    *,
    requester: int | None = None,
    channel_id: int | None = None,
    max_queued_per_user: int = MAX_QUEUED_PER_USER,
) -> tuple[Render, list[Job]]:
    """Queue every shot that needs rendering (render_queue.queue_episode_render's limits),
    and before them every line not spoken yet (a shot's length waits on its line); after them,
    with a music model, the score's pieces (its cut waits for them); an episode still being
    written is now shooting."""
    with db.atomic():
        queue_lines(db, plan.list_shots(db, episode_id), requester)
        render, queued = queue_episode_render(
            db,
            episode_id,
            choice,
            requester=requester,
            channel_id=channel_id,
            max_queued_per_user=max_queued_per_user,
        )
        queue_score(db, episode_id, choice.music_model, requester)
        if episodes.get_episode(db, episode_id).status == EpisodeStatus.WRITING:
            episodes.set_episode_status(db, episode_id, EpisodeStatus.SHOOTING)
    return render, queued


def takes_recorded(db: sqlite_utils.Database, job: Job, take_ids: list[int]) -> None:
    """A render job's takes are stored (call inside the transaction that stores them).

    Takes go to review and a draft is posted; the clip of an approved keyframe needs no vote
    (the team approved its look): it is the shot's approved take at once, and the episode's
    cut is queued when it was the last shot waiting.
    """
    assert job.shot_id is not None and take_ids
    plan.set_shot_status(db, job.shot_id, ShotStatus.REVIEW)
    if takes.get_take(db, take_ids[0]).source_take_id is None:
        events.emit(db, events.ShotReady(job.shot_id, job.id))
        return
    takes.approve_take(db, take_ids[0])
    events.emit(db, events.ClipApproved(job.shot_id, take_ids[0]))
    cut_when_complete(db, job.episode_id)


# --- votes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkedForRetake:
    shot_number: int


@dataclass(frozen=True)
class KeyframeApproved:
    shot_number: int
    clip_job: Job | None  # None: its clip was queued already


@dataclass(frozen=True)
class ShotApproved:
    shot_number: int
    episode_number: int
    cut_job: Job | None  # queued now that every shot is approved; None while one waits


VoteOutcome = MarkedForRetake | KeyframeApproved | ShotApproved


def after_vote(
    db: sqlite_utils.Database, take_id: int, *, channel_id: int | None = None
) -> VoteOutcome | None:
    """Apply the project's quorum to a take's votes. A 🔁 marks the shot for a retake; an
    approved keyframe queues its clip (a render of its own in channel_id, for a status
    message); an approved clip completes the shot, and the last one queues the cut. None
    while the votes decide nothing. All of it in one transaction."""
    take = takes.get_take(db, take_id)
    shot = plan.get_shot(db, take.shot_id)
    episode = episodes.get_episode(db, shot.episode_id)
    quorum = projects.get_project(db, episode.project_id).quorum
    with db.atomic():
        decision = takes.decide(db, take_id, quorum)
        if decision is None:
            return None
        if decision == "retake":
            return MarkedForRetake(shot.number)
        clip_job = _after_approval(db, take.id, channel_id)
        if take.kind == KEYFRAME:
            return KeyframeApproved(shot.number, clip_job)
        return ShotApproved(shot.number, episode.number, cut_when_complete(db, episode.id))


def _after_approval(db: sqlite_utils.Database, take_id: int, channel_id: int | None) -> Job | None:
    """An approved keyframe approves the shot's look, not the shot: its clip is queued (None
    for a clip, or when the keyframe's clip is queued already)."""
    if takes.get_take(db, take_id).kind != KEYFRAME:
        return None
    return queue_clip_from_keyframe(db, take_id, channel_id=channel_id)


def queue_waiting_clips(db: sqlite_utils.Database) -> list[Job]:
    """Queue the clip of every approved keyframe still waiting for one (at start-up: an
    older version approved and queued in two steps, and could stop between them)."""
    queued = []
    for take_id in takes.keyframes_waiting_for_clips(db):
        job = _after_approval(db, take_id, None)
        if job is not None:
            queued.append(job)
    return queued


def approve_first_takes(db: sqlite_utils.Database, episode_id: int) -> Job | None:
    """Headless production: each shot without an approved take gets its first one (no team
    votes), then the cut is queued (None when a stopped run had queued it already)."""
    with db.atomic():
        for shot in plan.list_shots(db, episode_id):
            shot_takes = takes.takes_for_shot(db, shot.id)
            in_review = [take for take in shot_takes if take.status == TakeStatus.REVIEW]
            if shot.approved_take_id is None and in_review:
                takes.approve_take(db, in_review[0].id)
                _after_approval(db, in_review[0].id, None)
        return cut_when_complete(db, episode_id)


# --- retake notes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteKept:
    """The note is stored on the draft, and no retake follows: why."""

    reason: str


@dataclass(frozen=True)
class ReadingQueued:
    """Only the line is spoken again, read as the note asked; the picture stays."""

    shot_number: int
    reading: str  # the directions, e.g. "angrier, slower"
    job: Job


@dataclass(frozen=True)
class RetakeQueued:
    shot: Shot  # with its revised prompt
    render: Render
    job: Job
    position: int | None  # in the queue, when known
    fallback: str  # why the note was appended to the prompt in code ('' if the model revised)


Revise = Callable[[Shot, str], Awaitable[Shot | None]]


def clean_note(text: str) -> str:
    """A note as stored: one line, at most MAX_NOTE_CHARS."""
    return " ".join(text.split())[:MAX_NOTE_CHARS]


def why_no_retake(shot: Shot, episode_status: str, director: bool) -> str:
    """Why a note cannot send the shot back for a retake now ('' if it can)."""
    if shot.status in IN_FLIGHT:
        return f"Shot {shot.number} is already queued or rendering."
    if shot.status == ShotStatus.PLANNED:
        return f"Shot {shot.number} has no draft in review yet: render it first."
    if shot.status == ShotStatus.APPROVED and episode_status == EpisodeStatus.CUTTING:
        return f"Shot {shot.number} is approved and the episode is being cut."
    if shot.status == ShotStatus.APPROVED and not director:
        return f"Shot {shot.number} is already approved; a director's note re-opens it."
    return ""


def fallback_prompt(shot: Shot, note: str) -> str:
    """The note appended in code, when the model cannot revise the prompt."""
    base = shot.prompt or shot.description
    return f"{base}, {note}"[:1000]


async def retake_with_note(
    db: sqlite_utils.Database,
    post_id: int,
    note: str,
    *,
    director: bool,
    requester: int,
    channel_id: int,
    choice: EngineChoice,
    revise: Revise,
    max_queued_per_user: int = MAX_QUEUED_PER_USER,
) -> NoteKept | RetakeQueued | ReadingQueued:
    """A note on a draft post: stored on the post's takes. A note about the line's reading
    ("angrier", "read it slower") has only the line spoken again. Otherwise, unless the shot
    cannot be retaken now, the shot is marked for a retake, its prompt revised with the note
    (by `revise`, the model; in code when it cannot) and the retake queued within the
    member's queue limit (a ShowrunnerError says why it was not). One note at a time per
    shot."""
    post_takes = takes.takes_for_message(db, post_id)
    if not post_takes:
        return NoteKept("That post has no takes.")
    async with _shot_locks[post_takes[0].shot_id]:
        shot = plan.get_shot(db, post_takes[0].shot_id)
        episode = episodes.get_episode(db, shot.episode_id)
        takes.set_note(db, post_id, note)
        reading = reading_of(note) if shot.dialogue.strip() else ""
        if reading:
            return _read_again(db, shot, episode.status, reading, requester)
        reason = why_no_retake(shot, episode.status, director)
        if reason:
            return NoteKept(reason)
        if shot.status != ShotStatus.RETAKE:
            takes.request_retake(db, shot.id)
            shot = plan.get_shot(db, shot.id)
        revised, fallback = await _revised(db, shot, note, requester, revise)
        with db.atomic():
            queue_lines(db, [shot], requester)  # a line edited since it was spoken
            render, job = queue_shot_retake(
                db,
                shot.id,
                choice,
                requester=requester,
                channel_id=channel_id,
                max_queued_per_user=max_queued_per_user,
            )
            # staying put is allowed
            episodes.set_episode_status(db, episode.id, EpisodeStatus.SHOOTING)
        position = jobs.queue_positions(db).get(job.id)
        return RetakeQueued(revised, render, job, position, fallback)


def _read_again(
    db: sqlite_utils.Database, shot: Shot, episode_status: str, reading: str, requester: int
) -> NoteKept | ReadingQueued:
    if episode_status == EpisodeStatus.CUTTING:
        return NoteKept(f"The episode is being cut; shot {shot.number}'s line stays as it is.")
    if shot.id in shots_being_spoken(db):
        return NoteKept(f"Shot {shot.number}'s line is being spoken already.")
    job = queue_line(db, shot, reading=reading, requester=requester)
    return ReadingQueued(shot.number, reading, job)


async def _revised(
    db: sqlite_utils.Database, shot: Shot, note: str, author: int, revise: Revise
) -> tuple[Shot, str]:
    """The shot with its prompt revised for the note, and why it was done in code, if it was."""
    try:
        revised = await revise(shot, note)
    except ShowrunnerError as error:
        log.info("retake note for shot %s: model failed: %s", shot.id, error)
        revised, fallback = None, "The model is not answering, so I added your note to the prompt."
    else:
        fallback = "The model did not revise the prompt, so I added your note to it."
    if revised is not None:
        return revised, ""
    prompt = fallback_prompt(shot, note)
    edited = plan.edit_shot(
        db, shot.id, author_id=author, reason="retake note (appended in code)", prompt=prompt
    )
    return edited, fallback


def shots_rewritten(db: sqlite_utils.Database, episode_id: int, shot_ids: list[int]) -> list[int]:
    """Shots whose text was written again (from changed beats): one that was approved or in
    review no longer matches its takes, so it is marked for a retake, and a delivered episode
    is shooting again. The numbers of the shots re-opened (call in the rewrite's transaction)."""
    reopened = []
    for shot_id in shot_ids:
        shot = plan.get_shot(db, shot_id)
        if shot.status in (ShotStatus.APPROVED, ShotStatus.REVIEW):
            takes.request_retake(db, shot.id)
            reopened.append(shot.number)
    if reopened and episodes.get_episode(db, episode_id).status == EpisodeStatus.DELIVERED:
        episodes.set_episode_status(db, episode_id, EpisodeStatus.SHOOTING)
    return reopened


def audition_vote(db: sqlite_utils.Database, audition: Audition, author_id: int) -> Voice | None:
    """After a vote on an audition: the pick, once a candidate has the project's quorum, is
    the character's voice from now on (the old one on record). None while no candidate has
    it, or when the audition was decided before."""
    character = characters.get_character_by_id(db, audition.character_id)
    quorum = projects.get_project(db, character.project_id).quorum
    with db.atomic():
        choice = auditions.decide(db, audition.id, quorum)
        if choice is None:
            return None
        voice = audition.voices[choice]
        voices.set_voice(db, character, voice, author_id=author_id, reason="audition")
    return voice


# --- the cut and the delivery ---------------------------------------------------------------


def cut_when_complete(db: sqlite_utils.Database, episode_id: int) -> Job | None:
    """Queue the episode's cut once every shot has an approved take; the episode is then being
    cut. None while a shot still waits, or when its cut is queued already."""
    with db.atomic():
        try:
            job = queue_episode_cut(db, episode_id)
        except InvalidInput:
            return None  # a shot still waits for its approved take
        if episodes.get_episode(db, episode_id).status == EpisodeStatus.SHOOTING:
            episodes.set_episode_status(db, episode_id, EpisodeStatus.CUTTING)
        return job


def cut_failed(db: sqlite_utils.Database, episode_id: int) -> None:
    """A cut, or its delivery copy, that failed for good: the episode is shooting again, so
    that a note on a shot (the one the cut could not read, say) re-shoots it; its next
    approval cuts and delivers again."""
    if episodes.get_episode(db, episode_id).status == EpisodeStatus.CUTTING:
        episodes.set_episode_status(db, episode_id, EpisodeStatus.SHOOTING)


def queue_delivery(
    db: sqlite_utils.Database, episode_id: int, payload: DeliveryPayload
) -> Job | None:
    """The cut is ready: its delivery copy is made by a job (None when one is queued or
    running already: the cut was handed over twice)."""
    if jobs.active_jobs_for_episode(db, episode_id, DELIVER):
        return None
    return jobs.enqueue_job(
        db, kind=DELIVER, episode_id=episode_id, payload=payload.to_json(), priority=2
    )


def delivered(db: sqlite_utils.Database, episode_id: int) -> None:
    """The cut is posted: the episode is delivered (a re-delivery leaves it as it is)."""
    if episodes.get_episode(db, episode_id).status == EpisodeStatus.CUTTING:
        episodes.set_episode_status(db, episode_id, EpisodeStatus.DELIVERED)
