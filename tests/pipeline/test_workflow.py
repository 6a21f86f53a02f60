"""What happens next (pipeline.workflow): each decision and each episode status change, on a
real SQLite file; the Discord side of the same decisions is in test_votes and test_agent_discord."""

from __future__ import annotations

import functools

import pytest
import sqlite_utils

from agents.model_errors import ModelUnavailable
from pipeline import workflow
from pipeline.delivery.jobs import DeliveryPayload
from pipeline.render.queue import EngineChoice
from storage import episodes, events, jobs, plan, projects, revisions, takes
from storage.errors import InvalidInput
from storage.models import Shot
from tests.builders import make_episode, make_project, takes_in_review, vote

ANA, BEN, CY = 7, 8, 9


def episode_status(db: sqlite_utils.Database, episode_id: int) -> str:
    return episodes.get_episode(db, episode_id).status


async def no_revision(shot: Shot, note: str) -> Shot | None:
    return None


async def test_an_episode_walks_from_writing_to_delivered_and_back_to_shooting_for_a_retake(
    fresh_db: sqlite_utils.Database,
) -> None:
    project = projects.update_settings(fresh_db, make_project(fresh_db).id, quorum=2)
    episode = make_episode(fresh_db, project, (1.0, 1.0))
    first, second = plan.list_shots(fresh_db, episode.id)
    assert episode_status(fresh_db, episode.id) == "writing"

    render, _ = workflow.render_episode(fresh_db, episode.id, EngineChoice(), channel_id=5)
    assert episode_status(fresh_db, episode.id) == "shooting"
    assert jobs.get_render(fresh_db, render.id).channel_id == 5  # its status message goes there

    (take,) = takes_in_review(fresh_db, first.id)
    vote(fresh_db, take, "👍", ANA)
    assert workflow.after_vote(fresh_db, take.id) is None  # one 👍 of two
    vote(fresh_db, take, "👍", BEN)
    assert workflow.after_vote(fresh_db, take.id) == workflow.ShotApproved(1, 1, None)
    assert episode_status(fresh_db, episode.id) == "shooting"  # shot 2 still waits

    (last,) = takes_in_review(fresh_db, second.id)
    vote(fresh_db, last, "👍", ANA, BEN)
    outcome = workflow.after_vote(fresh_db, last.id)
    assert isinstance(outcome, workflow.ShotApproved) and outcome.cut_job is not None
    assert outcome.cut_job.kind == "assemble"
    assert episode_status(fresh_db, episode.id) == "cutting"
    assert workflow.cut_when_complete(fresh_db, episode.id) is None  # queued once

    copy = DeliveryPayload(limit_bytes=10_000_000, budget_bytes=9_000_000, poster=True)
    job = workflow.queue_delivery(fresh_db, episode.id, copy)
    assert job is not None and (job.kind, job.priority) == ("deliver", 2)
    assert DeliveryPayload.of(job) == copy
    assert workflow.queue_delivery(fresh_db, episode.id, copy) is None  # handed over twice
    workflow.delivered(fresh_db, episode.id)
    assert episode_status(fresh_db, episode.id) == "delivered"
    workflow.delivered(fresh_db, episode.id)  # a re-delivery changes nothing
    assert episode_status(fresh_db, episode.id) == "delivered"

    # a director's note on a delivered episode's shot re-opens it
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=500)
    queued = await workflow.retake_with_note(
        fresh_db, 500, "darker sky", director=True, requester=ANA, channel_id=5,
        choice=EngineChoice(), revise=no_revision,
    )  # fmt: skip
    assert isinstance(queued, workflow.RetakeQueued)
    assert queued.shot.prompt.endswith(", darker sky") and queued.job.requester == ANA
    assert episode_status(fresh_db, episode.id) == "shooting"
    assert plan.get_shot(fresh_db, first.id).status == "queued"


def test_a_retake_vote_marks_the_shot_and_rejects_its_takes(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    one, two = takes_in_review(fresh_db, shot.id, 2)
    vote(fresh_db, one, "👍", ANA)
    vote(fresh_db, one, "🔁", BEN)

    assert workflow.after_vote(fresh_db, one.id) == workflow.MarkedForRetake(1)
    assert plan.get_shot(fresh_db, shot.id).status == "retake"
    assert [t.status for t in takes.takes_for_shot(fresh_db, shot.id)] == ["rejected"] * 2
    assert workflow.after_vote(fresh_db, two.id) is None  # nothing left to decide


def test_an_approved_keyframe_queues_its_clip_in_the_same_transaction(
    fresh_db: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (keyframe,) = takes_in_review(fresh_db, shot.id, kind="keyframe")
    vote(fresh_db, keyframe, "👍", ANA)

    # the disk fills up as the clip job is written: the approval is undone with it
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    real_enqueue = jobs.enqueue_job
    monkeypatch.setattr(jobs, "enqueue_job", disk_full)
    with pytest.raises(OSError):
        workflow.after_vote(fresh_db, keyframe.id, channel_id=5)
    assert takes.get_take(fresh_db, keyframe.id).status == "review"
    assert plan.get_shot(fresh_db, shot.id).status == "review"

    monkeypatch.setattr(jobs, "enqueue_job", real_enqueue)
    outcome = workflow.after_vote(fresh_db, keyframe.id, channel_id=5)
    assert isinstance(outcome, workflow.KeyframeApproved) and outcome.clip_job is not None
    clip = outcome.clip_job
    assert (clip.shot_id, clip.payload["source_take_id"]) == (shot.id, keyframe.id)
    assert clip.render_id is not None and jobs.get_render(fresh_db, clip.render_id).channel_id == 5
    assert plan.get_shot(fresh_db, shot.id).status == "queued"
    assert plan.get_shot(fresh_db, shot.id).approved_take_id is None  # the clip will be


def test_the_clip_of_an_approved_keyframe_is_approved_and_the_last_one_cuts(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    (keyframe,) = takes_in_review(fresh_db, shot.id, kind="keyframe")
    vote(fresh_db, keyframe, "👍", ANA)
    outcome = workflow.after_vote(fresh_db, keyframe.id)
    assert isinstance(outcome, workflow.KeyframeApproved) and outcome.clip_job is not None
    clip_job = jobs.start_job(fresh_db, outcome.clip_job.id, "worker")
    clip = takes.add_take(
        fresh_db, shot_id=shot.id, job_id=clip_job.id, seed=keyframe.seed, engine="video",
        model="", media_path="clip.mp4", source_take_id=keyframe.id,
    )  # fmt: skip
    plan.set_shot_status(fresh_db, shot.id, "rendering")

    workflow.takes_recorded(fresh_db, clip_job, [clip.id])

    assert plan.get_shot(fresh_db, shot.id).approved_take_id == clip.id
    assert takes.get_take(fresh_db, clip.id).status == "approved"
    posted = [events.decode(e) for e in events.pending_events(fresh_db)]
    assert posted == [events.ClipApproved(shot.id, clip.id)]  # no draft: no vote on a clip
    assert len(jobs.active_jobs_for_episode(fresh_db, episode.id, "assemble")) == 1
    assert episode_status(fresh_db, episode.id) == "cutting"


def test_takes_of_a_first_render_go_to_review_with_a_draft(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (take,) = takes_in_review(fresh_db, shot.id)
    plan.set_shot_status(fresh_db, shot.id, "queued")
    plan.set_shot_status(fresh_db, shot.id, "rendering")
    job = jobs.get_job(fresh_db, take.job_id)

    workflow.takes_recorded(fresh_db, job, [take.id])

    assert plan.get_shot(fresh_db, shot.id).status == "review"
    assert [events.decode(e) for e in events.pending_events(fresh_db)] == [
        events.ShotReady(shot.id, job.id)
    ]


def test_a_failed_cut_lets_the_team_shoot_again(fresh_db: sqlite_utils.Database) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    (take,) = takes_in_review(fresh_db, shot.id)
    vote(fresh_db, take, "👍", ANA)
    workflow.after_vote(fresh_db, take.id)
    assert episode_status(fresh_db, episode.id) == "cutting"

    workflow.cut_failed(fresh_db, episode.id)

    assert episode_status(fresh_db, episode.id) == "shooting"
    assert workflow.why_no_retake(plan.get_shot(fresh_db, shot.id), "shooting", True) == ""


def test_headless_production_approves_each_shots_first_take_in_review(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0, 1.0))
    first, second = plan.list_shots(fresh_db, episode.id)
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    a, b = takes_in_review(fresh_db, first.id, 2)
    (c,) = takes_in_review(fresh_db, second.id)

    cut = workflow.approve_first_takes(fresh_db, episode.id)

    assert [s.approved_take_id for s in plan.list_shots(fresh_db, episode.id)] == [a.id, c.id]
    assert takes.get_take(fresh_db, b.id).status == "rejected"
    assert cut is not None and cut.kind == "assemble"
    assert workflow.approve_first_takes(fresh_db, episode.id) is None  # a resumed run


def test_headless_production_leaves_a_shot_without_takes_waiting_and_cuts_nothing(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0, 1.0))
    first, _ = plan.list_shots(fresh_db, episode.id)
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    (a,) = takes_in_review(fresh_db, first.id)

    assert workflow.approve_first_takes(fresh_db, episode.id) is None  # shot 2 has no take

    assert [s.approved_take_id for s in plan.list_shots(fresh_db, episode.id)] == [a.id, None]
    assert jobs.jobs_for_episode(fresh_db, episode.id, "assemble") == []
    assert episode_status(fresh_db, episode.id) == "shooting"


def test_a_keyframe_approved_without_its_clip_gets_it_queued_once_at_start_up(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (keyframe,) = takes_in_review(fresh_db, shot.id, kind="keyframe")
    takes.approve_take(fresh_db, keyframe.id)  # an older version stopped here

    (clip,) = workflow.queue_waiting_clips(fresh_db)

    assert (clip.shot_id, clip.payload["source_take_id"]) == (shot.id, keyframe.id)
    assert workflow.queue_waiting_clips(fresh_db) == []


@pytest.mark.parametrize(
    ("status", "episode", "director", "reason"),
    [
        ("queued", "shooting", True, "Shot 1 is already queued or rendering."),
        ("rendering", "shooting", True, "Shot 1 is already queued or rendering."),
        ("planned", "shooting", True, "Shot 1 has no draft in review yet: render it first."),
        ("approved", "cutting", True, "Shot 1 is approved and the episode is being cut."),
        ("approved", "delivered", False, "Shot 1 is already approved; a director's note "
                                         "re-opens it."),
        ("approved", "delivered", True, ""),
        ("review", "shooting", False, ""),
        ("retake", "shooting", False, ""),
    ],
)  # fmt: skip
def test_a_note_sends_a_shot_back_only_when_it_can(
    fresh_db: sqlite_utils.Database, status: str, episode: str, director: bool, reason: str
) -> None:
    planned = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    shot = plan.list_shots(fresh_db, planned.id)[0]
    shot = Shot(**{**shot.__dict__, "status": status})
    assert workflow.why_no_retake(shot, episode, director) == reason


async def test_a_note_that_cannot_be_queued_says_why_and_keeps_the_note(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (take,) = takes_in_review(fresh_db, shot.id)
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=500)
    with pytest.raises(InvalidInput, match="the limit is 0"):
        await workflow.retake_with_note(
            fresh_db, 500, "warmer light", director=False, requester=ANA, channel_id=5,
            choice=EngineChoice(), revise=no_revision, max_queued_per_user=0,
        )  # fmt: skip
    assert takes.get_take(fresh_db, take.id).note == "warmer light"
    assert plan.get_shot(fresh_db, shot.id).status == "retake"  # /render re-shoots it
    assert jobs.jobs_for_episode(fresh_db, episode.id, "render")[-1].status == "done"


async def test_an_unrevised_note_is_added_to_the_prompt_in_code_and_kept_on_record(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (take,) = takes_in_review(fresh_db, shot.id)
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=500)
    assert (shot.prompt, shot.description) == ("", "shot 1")  # a prompt starts as its description

    async def model_down(shot: Shot, note: str) -> Shot | None:
        raise ModelUnavailable("the model server is not answering")

    outcome = await workflow.retake_with_note(
        fresh_db, 500, "warmer light", director=False, requester=ANA, channel_id=5,
        choice=EngineChoice(), revise=model_down,
    )  # fmt: skip

    assert isinstance(outcome, workflow.RetakeQueued)
    assert outcome.fallback == "The model is not answering, so I added your note to the prompt."
    assert outcome.shot.prompt == "shot 1, warmer light"
    *_, revision = revisions.history(fresh_db, "shot", shot.id)
    assert (revision.author_id, revision.reason) == (ANA, "retake note (appended in code)")
    assert revision.data["prompt"] == ""

    (again,) = takes_in_review(fresh_db, shot.id)
    takes.set_take_post(fresh_db, again.id, channel_id=5, message_id=501)
    outcome = await workflow.retake_with_note(
        fresh_db, 501, "slower", director=False, requester=BEN, channel_id=5,
        choice=EngineChoice(), revise=no_revision,
    )  # fmt: skip
    assert isinstance(outcome, workflow.RetakeQueued)
    assert outcome.fallback == "The model did not revise the prompt, so I added your note to it."
    assert outcome.shot.prompt == "shot 1, warmer light, slower"


async def test_a_note_the_model_revises_is_queued_with_the_model_s_prompt(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    (take,) = takes_in_review(fresh_db, shot.id)
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=500)

    async def rewrite(shot: Shot, note: str) -> Shot | None:
        return plan.edit_shot(fresh_db, shot.id, author_id=None, reason="model", prompt="dusk")

    outcome = await workflow.retake_with_note(
        fresh_db, 500, "make it dusk", director=False, requester=ANA, channel_id=5,
        choice=EngineChoice(), revise=rewrite,
    )  # fmt: skip

    assert isinstance(outcome, workflow.RetakeQueued)
    assert (outcome.shot.prompt, outcome.fallback) == ("dusk", "")
    assert outcome.job.shot_id == shot.id and outcome.job.status == "queued"


async def test_a_note_on_a_post_without_takes_or_on_an_episode_being_cut_retakes_nothing(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    note = functools.partial(
        workflow.retake_with_note, fresh_db, director=True, requester=ANA, channel_id=5,
        choice=EngineChoice(), revise=no_revision,
    )  # fmt: skip
    assert await note(499, "hm") == workflow.NoteKept("That post has no takes.")

    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    (take,) = takes_in_review(fresh_db, shot.id)
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=500)
    vote(fresh_db, take, "👍", ANA)
    workflow.after_vote(fresh_db, take.id)  # the only shot: the cut is queued
    assert episode_status(fresh_db, episode.id) == "cutting"

    kept = await note(500, "one more pass")

    assert kept == workflow.NoteKept("Shot 1 is approved and the episode is being cut.")
    assert takes.get_take(fresh_db, take.id).note == "one more pass"
    assert plan.get_shot(fresh_db, shot.id).status == "approved"


def test_a_prompt_written_in_code_starts_from_the_prompt_and_stays_bounded(
    fresh_db: sqlite_utils.Database,
) -> None:
    episode = make_episode(fresh_db, make_project(fresh_db), (1.0,))
    (shot,) = plan.list_shots(fresh_db, episode.id)
    described = Shot(**{**shot.__dict__, "prompt": "", "description": "a shore"})
    prompted = Shot(**{**shot.__dict__, "prompt": "a shore at dusk", "description": "a shore"})
    long = Shot(**{**shot.__dict__, "prompt": "p" * 995})

    assert workflow.fallback_prompt(described, "rain") == "a shore, rain"
    assert workflow.fallback_prompt(prompted, "rain") == "a shore at dusk, rain"
    assert workflow.fallback_prompt(long, "rain") == "p" * 995 + ", rai"  # 1000 characters


def test_rewritten_shots_that_were_approved_are_retaken_and_the_delivered_episode_reopens(
    fresh_db,
):
    episode = make_episode(fresh_db, make_project(fresh_db))
    first, second, third = plan.list_shots(fresh_db, episode.id)
    (take,) = takes_in_review(fresh_db, first.id)
    takes.approve_take(fresh_db, take.id)
    takes_in_review(fresh_db, second.id)
    for status in ("shooting", "cutting", "delivered"):
        episodes.set_episode_status(fresh_db, episode.id, status)

    reopened = workflow.shots_rewritten(fresh_db, episode.id, [first.id, second.id, third.id])

    assert reopened == [1, 2]  # shot 3 was never shot: nothing to re-open
    assert [s.status for s in plan.list_shots(fresh_db, episode.id)] == [
        "retake",
        "retake",
        "planned",
    ]
    assert episode_status(fresh_db, episode.id) == "shooting"
