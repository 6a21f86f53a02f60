from __future__ import annotations

import pytest

from pipeline.render.queue import queue_episode_cut
from storage import characters, episodes, jobs, plan, projects, takes
from storage.db import open_db
from storage.errors import InvalidInput, InvalidState
from storage.status import SHOT_TRANSITIONS, check_transition
from tests.builders import shot_in_review

PLAN = plan.EpisodePlan(
    title="The Flood",
    synopsis="A mortal defies Gong Gong.",
    characters=(plan.CharacterPlan("Li", "a fisherman", "weathered face, grey beard"),),
    scenes=(
        plan.ScenePlan(
            "Shore",
            "storm rising",
            (
                plan.ShotPlan("Waves crash", "wide", 3, "The sea is angry."),
                plan.ShotPlan("Li looks up", "close-up", 2.5, "", ("Li",)),
            ),
        ),
        plan.ScenePlan(
            "Cliff",
            "the god appears",
            (plan.ShotPlan("Gong Gong rises", "low angle", 4, "Kneel, mortal!"),),
        ),
    ),
)


def make_project(db):
    return projects.create_project(db, "Flood", writers_channel_id=10, guild_id=1)


def test_migrations_create_every_table_once(tmp_path):
    path = tmp_path / "s.db"
    db = open_db(path)
    db.close()
    db = open_db(path)  # a second open applies nothing twice
    assert {
        "projects",
        "episodes",
        "scenes",
        "shots",
        "takes",
        "votes",
        "jobs",
        "events",
        "messages",
        "characters",
        "renders",
        "revisions",
        "seasons",
        "season_episodes",
        "canon_facts",
        "lines",
        "auditions",
        "music",
    } <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [row[0] for row in db.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == [
        "m001_initial",
        "m002_depth",
        "m003_season",
        "m004_scene_mood",
        "m005_voices",
        "m006_lines",
        "m007_auditions",
        "m008_music",
    ]


def test_plan_is_stored_whole_and_a_second_plan_is_a_second_episode(fresh_db):
    project = make_project(fresh_db)
    first = plan.save_episode_plan(fresh_db, project.id, PLAN)
    second = plan.save_episode_plan(fresh_db, project.id, PLAN)
    assert (first.number, second.number) == (1, 2)
    shots = plan.list_shots(fresh_db, first.id)
    assert [s.number for s in shots] == [1, 2, 3]
    assert shots[1].characters == ("Li",)
    assert [c.name for c in characters.list_characters(fresh_db, project.id)] == ["Li"]
    assert "Kneel, mortal!" in plan.plan_summary(fresh_db, first.id)


def test_a_broken_plan_leaves_nothing_behind(fresh_db):
    project = make_project(fresh_db)
    broken = plan.EpisodePlan("x", "y", scenes=(plan.ScenePlan("a", "b", ()),))
    with pytest.raises(InvalidInput):
        plan.save_episode_plan(fresh_db, project.id, broken)
    assert fresh_db.table("episodes").count == 0


def test_shot_cannot_be_approved_without_a_take_in_review(fresh_db):
    project = make_project(fresh_db)
    episode = plan.save_episode_plan(fresh_db, project.id, PLAN)
    shot = plan.list_shots(fresh_db, episode.id)[0]
    take = takes.add_take(
        fresh_db,
        shot_id=shot.id,
        job_id="j1",
        seed=1,
        engine="animatic",
        model="",
        media_path="/m.mp4",
    )
    with pytest.raises(InvalidState, match="no take in review"):
        takes.approve_take(fresh_db, take.id)  # shot is still 'planned'
    shot_in_review(fresh_db, shot.id)
    takes.approve_take(fresh_db, take.id)
    assert plan.get_shot(fresh_db, shot.id).approved_take_id == take.id
    with pytest.raises(InvalidState):
        plan.set_shot_status(fresh_db, shot.id, "rendering")


def test_one_vote_per_take_user_and_emoji_and_quorum(fresh_db):
    project = make_project(fresh_db)
    projects.update_settings(fresh_db, project.id, quorum=2)
    episode = plan.save_episode_plan(fresh_db, project.id, PLAN)
    shot = plan.list_shots(fresh_db, episode.id)[0]
    shot_in_review(fresh_db, shot.id)
    take = takes.add_take(
        fresh_db,
        shot_id=shot.id,
        job_id="j1",
        seed=1,
        engine="animatic",
        model="",
        media_path="/m.mp4",
    )
    assert takes.add_vote(fresh_db, take.id, 100, "👍") is True
    assert takes.add_vote(fresh_db, take.id, 100, "👍") is False
    assert takes.tally(fresh_db, take.id).up == 1
    assert takes.decide(fresh_db, take.id, quorum=2) is None
    takes.add_vote(fresh_db, take.id, 101, "👍")
    assert takes.decide(fresh_db, take.id, quorum=2) == "approved"
    assert takes.get_take(fresh_db, take.id).status == "approved"


def test_retake_vote_marks_the_shot(fresh_db):
    project = make_project(fresh_db)
    episode = plan.save_episode_plan(fresh_db, project.id, PLAN)
    shot = plan.list_shots(fresh_db, episode.id)[0]
    shot_in_review(fresh_db, shot.id)
    take = takes.add_take(
        fresh_db,
        shot_id=shot.id,
        job_id="j1",
        seed=1,
        engine="animatic",
        model="",
        media_path="/m.mp4",
    )
    takes.add_vote(fresh_db, take.id, 100, "🔁")
    assert takes.decide(fresh_db, take.id, quorum=1) == "retake"
    assert plan.get_shot(fresh_db, shot.id).status == "retake"


def a_take_in_review(db) -> takes.Take:
    """Shot 1 of a stored plan, rendered: one take in review."""
    episode = plan.save_episode_plan(db, make_project(db).id, PLAN)
    shot = plan.list_shots(db, episode.id)[0]
    shot_in_review(db, shot.id)
    return takes.add_take(
        db, shot_id=shot.id, job_id="j1", seed=1, engine="animatic", model="",
        media_path="/m.mp4",
    )  # fmt: skip


def test_a_take_is_recorded_once_per_job_and_seed(fresh_db):
    take = a_take_in_review(fresh_db)
    assert (take.kind, take.preview_path, take.status) == ("clip", "", "review")
    again = takes.add_take(  # a retried job reports the same take again
        fresh_db, shot_id=take.shot_id, job_id="j1", seed=1, engine="animatic", model="",
        media_path="/other.mp4",
    )  # fmt: skip
    assert again == take and len(takes.takes_for_shot(fresh_db, take.shot_id)) == 1
    another = takes.add_take(
        fresh_db, shot_id=take.shot_id, job_id="j1", seed=2, engine="animatic", model="",
        media_path="/m2.mp4",
    )  # fmt: skip
    assert [t.id for t in takes.takes_for_shot(fresh_db, take.shot_id)] == [take.id, another.id]


def test_removing_a_vote_says_whether_there_was_one(fresh_db):
    take = a_take_in_review(fresh_db)
    assert takes.remove_vote(fresh_db, take.id, 100, "👎") is False  # never cast
    takes.add_vote(fresh_db, take.id, 100, "👎")
    assert takes.remove_vote(fresh_db, take.id, 100, "👍") is False  # another emoji
    assert takes.remove_vote(fresh_db, take.id, 101, "👎") is False  # another member
    assert takes.remove_vote(fresh_db, take.id, 100, "👎") is True
    assert takes.tally(fresh_db, take.id).down == 0


def test_only_vote_emojis_are_votes_and_a_tally_counts_each_kind(fresh_db):
    take = a_take_in_review(fresh_db)
    assert takes.add_vote(fresh_db, take.id, 100, "🎉") is False
    assert takes.tally(fresh_db, take.id) == takes.Tally(up=0, down=0, retake=0)
    takes.add_vote(fresh_db, take.id, 100, "👎")
    takes.add_vote(fresh_db, take.id, 101, "👎")
    tally = takes.tally(fresh_db, take.id)
    assert (tally.up, tally.down, tally.retake, tally.net) == (0, 2, 0, -2)
    takes.add_vote(fresh_db, take.id, 102, "👍")
    takes.add_vote(fresh_db, take.id, 102, "🔁")
    assert takes.tally(fresh_db, take.id) == takes.Tally(up=1, down=2, retake=1)


def test_votes_on_an_old_post_do_not_decide_a_shot_being_rendered_again(fresh_db):
    take = a_take_in_review(fresh_db)
    plan.set_shot_status(fresh_db, take.shot_id, "queued")  # /render re-shoots it
    takes.add_vote(fresh_db, take.id, 100, "👍")
    takes.add_vote(fresh_db, take.id, 101, "👍")
    assert takes.decide(fresh_db, take.id, quorum=1) is None
    assert takes.get_take(fresh_db, take.id).status == "review"
    assert plan.get_shot(fresh_db, take.shot_id).status == "queued"


def test_a_retake_reopens_an_approved_shot_and_the_cut_waits_for_it(fresh_db):
    take = a_take_in_review(fresh_db)
    takes.approve_take(fresh_db, take.id)
    takes.request_retake(fresh_db, take.shot_id)  # a director's note on an approved shot
    shot = plan.get_shot(fresh_db, take.shot_id)
    assert (shot.status, shot.approved_take_id) == ("retake", None)
    assert takes.get_take(fresh_db, take.id).status == "approved"  # its record stays
    with pytest.raises(InvalidInput, match=r"without an approved take: \[1"):
        queue_episode_cut(fresh_db, shot.episode_id)


def test_a_retake_rejects_only_that_shots_takes_in_review(fresh_db):
    take = a_take_in_review(fresh_db)
    other_shot = plan.list_shots(fresh_db, plan.get_shot(fresh_db, take.shot_id).episode_id)[1]
    shot_in_review(fresh_db, other_shot.id)
    other = takes.add_take(
        fresh_db, shot_id=other_shot.id, job_id="j2", seed=1, engine="animatic", model="",
        media_path="/n.mp4",
    )  # fmt: skip
    takes.request_retake(fresh_db, take.shot_id)
    assert takes.get_take(fresh_db, take.id).status == "rejected"
    assert takes.get_take(fresh_db, other.id).status == "review"


def test_an_approved_keyframe_sends_its_shot_back_for_the_clip(fresh_db):
    episode = plan.save_episode_plan(fresh_db, make_project(fresh_db).id, PLAN)
    shot, other_shot = plan.list_shots(fresh_db, episode.id)[:2]
    shot_in_review(fresh_db, shot.id)
    still = takes.add_take(
        fresh_db, shot_id=shot.id, job_id="k1", seed=1, engine="video", model="",
        media_path="/k.png", kind="keyframe",
    )  # fmt: skip
    takes.approve_take(fresh_db, still.id)
    after = plan.get_shot(fresh_db, shot.id)
    # the look is approved, not the shot: it is queued for its clip and has no approved take
    assert (after.status, after.approved_take_id) == ("queued", None)
    assert takes.get_take(fresh_db, still.id).status == "approved"
    assert plan.get_shot(fresh_db, other_shot.id).status == "planned"
    # it waits for its clip until the shot moves on
    assert takes.keyframes_waiting_for_clips(fresh_db) == [still.id]
    plan.set_shot_status(fresh_db, shot.id, "rendering")
    assert takes.keyframes_waiting_for_clips(fresh_db) == []


def test_a_keyframe_in_review_or_a_clip_waits_for_no_clip(fresh_db):
    take = a_take_in_review(fresh_db)  # a clip, approved: its shot is approved
    takes.approve_take(fresh_db, take.id)
    episode = episodes.get_episode(fresh_db, plan.get_shot(fresh_db, take.shot_id).episode_id)
    shot = plan.list_shots(fresh_db, episode.id)[1]
    shot_in_review(fresh_db, shot.id)
    takes.add_take(
        fresh_db, shot_id=shot.id, job_id="k2", seed=2, engine="video", model="",
        media_path="/k2.png", kind="keyframe",
    )  # fmt: skip
    assert takes.keyframes_waiting_for_clips(fresh_db) == []


def test_the_approvers_of_a_take_are_its_thumbs_up_first_voter_first(fresh_db):
    take = a_take_in_review(fresh_db)
    for user, emoji in ((7, "👍"), (5, "👎"), (9, "👍"), (3, "🔁"), (1, "👍")):
        takes.add_vote(fresh_db, take.id, user, emoji)
    assert takes.thumbs_up_voters(fresh_db, take.id) == [7, 9, 1]
    takes.remove_vote(fresh_db, take.id, 9, "👍")
    assert takes.thumbs_up_voters(fresh_db, take.id) == [7, 1]


def test_the_votes_reread_at_start_up_are_those_of_posted_takes_still_in_review(fresh_db):
    first = a_take_in_review(fresh_db)
    second, unposted, decided = (
        takes.add_take(
            fresh_db,
            shot_id=first.shot_id,
            job_id="j1",
            seed=seed,
            engine="animatic",
            model="",
            media_path=f"/m{seed}.mp4",
        )
        for seed in (2, 3, 4)
    )
    for take in (second, first, decided):
        takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=50 + take.id)
    fresh_db.table("takes").update(decided.id, {"status": "rejected"})
    found = takes.takes_in_review_with_posts(fresh_db)
    assert [(t.id, t.message_id) for t in found] == [
        (first.id, 50 + first.id),
        (second.id, 50 + second.id),
    ]
    assert unposted.id not in {t.id for t in found}


def test_a_retake_note_is_kept_to_1000_characters(fresh_db):
    take = a_take_in_review(fresh_db)
    takes.set_take_post(fresh_db, take.id, channel_id=5, message_id=77)
    takes.set_note(fresh_db, 77, "n" * 999 + "X")
    assert takes.get_take(fresh_db, take.id).note == "n" * 999 + "X"  # at the limit: whole
    takes.set_note(fresh_db, 77, "m" * 1000 + "Y")
    assert takes.get_take(fresh_db, take.id).note == "m" * 1000  # over it: cut
    takes.set_note(fresh_db, 78, "on another post")
    assert takes.get_take(fresh_db, take.id).note == "m" * 1000


def test_failed_jobs_are_retried_then_fail_for_good(fresh_db):
    project = make_project(fresh_db)
    episode = plan.save_episode_plan(fresh_db, project.id, PLAN)
    job = jobs.enqueue_job(fresh_db, kind="render", episode_id=episode.id, payload={})
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        jobs.start_job(fresh_db, job.id, "w1")
        job = jobs.fail_job(fresh_db, job.id, f"boom {attempt}")
    assert job.status == "failed" and job.attempts == jobs.MAX_ATTEMPTS
    assert job.error == "boom 3"


def test_a_channel_is_one_projects_room(fresh_db):
    make_project(fresh_db)
    with pytest.raises(InvalidInput, match="already"):
        make_project(fresh_db)


def test_a_status_change_the_rules_forbid_is_refused_by_name() -> None:
    with pytest.raises(InvalidState) as refused:
        check_transition("shot", SHOT_TRANSITIONS, "planned", "approved")
    assert str(refused.value) == "A shot that is 'planned' cannot become 'approved'."
    check_transition("shot", SHOT_TRANSITIONS, "approved", "approved")  # staying put
    with pytest.raises(InvalidState, match="A shot that is 'lost' cannot become 'queued'"):
        check_transition("shot", SHOT_TRANSITIONS, "lost", "queued")  # a status no rule knows
