"""Every vote emoji through Discord: 👍 👎 1️⃣-4️⃣ 🔁, added and removed, with the tally and
the approval checked. The real bot against the emulator and a real SQLite file; the takes in
review are real (tiny) clips stored as the scheduler stores them, then posted by the bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.review.drafts import NUMBERS, vote_for
from pipeline.render.payload import RenderPayload
from storage import jobs, plan, takes
from storage.db import open_db
from tests.fakes import say, scripted
from tests.studio import (
    Draft,
    Studio,
    bot_messages,
    open_studio,
    post_takes,
    running_bot,
    start_two_shot_project,
)

# no job is rendered here: a worker URL that is never called keeps a worker from starting


def votes_of(world: Studio, take_id: int) -> list[tuple[int, str]]:
    db = open_db(world.settings.database_path)
    rows = db.execute("SELECT user_id, emoji FROM votes WHERE take_id = ?", [take_id]).fetchall()
    return sorted(rows)


def stored_as(emoji: str) -> str:
    """The vote a reaction is stored as: a number is a 👍 for its take."""
    return "👍" if emoji in NUMBERS else emoji


async def vote(world: Studio, draft: Draft, user: int, emoji: str, take_id: int) -> None:
    """A reaction, and the wait until the bot stored it as a vote on `take_id` (the handler
    ran: what it decides is decided by then)."""
    await world.emulator.user_react(world.review, draft.message["id"], user, emoji)
    cast = (user, stored_as(emoji))
    await world.emulator.wait_until(lambda: cast in votes_of(world, take_id))


async def unvote(world: Studio, draft: Draft, user: int, emoji: str, take_id: int) -> None:
    await world.emulator.user_unreact(world.review, draft.message["id"], user, emoji)
    cast = (user, stored_as(emoji))
    await world.emulator.wait_until(lambda: cast not in votes_of(world, take_id))


def status_of(world: Studio, take_id: int) -> str:
    return takes.get_take(open_db(world.settings.database_path), take_id).status


async def test_thumbs_up_to_the_quorum_approves_and_a_thumbs_down_holds_it_back(review_room):
    world = review_room
    draft = await post_takes(world, 1)
    (take_id,) = draft.take_ids
    await vote(world, draft, world.ana, "👍", take_id)
    await vote(world, draft, world.ben, "👎", take_id)
    await vote(world, draft, world.director, "👍", take_id)
    tally = takes.tally(open_db(world.settings.database_path), take_id)
    assert (tally.up, tally.down, tally.net) == (2, 1, 1)
    assert status_of(world, take_id) == "review"  # two up, one down: net 1 < quorum 2

    # the down vote taken back: net 2 reaches the quorum at once
    await world.emulator.user_unreact(world.review, draft.message["id"], world.ben, "👎")
    await world.emulator.wait_until(lambda: status_of(world, take_id) == "approved")
    assert votes_of(world, take_id) == sorted([(world.ana, "👍"), (world.director, "👍")])
    approved = await world.emulator.wait_for_message(
        world.review,
        lambda m: m["author_id"] == world.emulator.bot_user_id and "approved" in m["content"],
        after_id=draft.message["id"],
    )
    assert approved["content"] == "✅ Shot 1 approved."
    shot = plan.get_shot(open_db(world.settings.database_path), draft.shot_id)
    assert shot.status == "approved" and shot.approved_take_id == take_id


async def test_a_removed_thumbs_up_no_longer_counts(review_room):
    world = review_room
    draft = await post_takes(world, 1)
    (take_id,) = draft.take_ids
    await vote(world, draft, world.ana, "👍", take_id)
    await unvote(world, draft, world.ana, "👍", take_id)
    assert votes_of(world, take_id) == []
    await vote(world, draft, world.ben, "👍", take_id)
    assert status_of(world, take_id) == "review"  # one vote left: below the quorum of 2


@pytest.mark.parametrize("picked", [1, 2, 3, 4])
async def test_a_number_votes_for_that_take_only(review_room, picked: int):
    world = review_room
    draft = await post_takes(world, 4)
    emoji = NUMBERS[picked - 1]
    chosen = draft.take_ids[picked - 1]
    await vote(world, draft, world.ana, emoji, chosen)
    await vote(world, draft, world.ben, emoji, chosen)
    await world.emulator.wait_until(lambda: status_of(world, chosen) == "approved")
    for take_id in draft.take_ids:
        if take_id != chosen:
            assert votes_of(world, take_id) == []
            assert status_of(world, take_id) == "rejected"
    shot = plan.get_shot(open_db(world.settings.database_path), draft.shot_id)
    assert shot.approved_take_id == chosen


async def test_a_number_past_the_takes_of_a_post_is_no_vote(review_room):
    world = review_room
    draft = await post_takes(world, 2)
    await world.emulator.user_react(world.review, draft.message["id"], world.ana, "3️⃣")
    # a counted vote after it proves the handler ran for the 3️⃣ first
    await vote(world, draft, world.ana, "2️⃣", draft.take_ids[1])
    assert votes_of(world, draft.take_ids[0]) == []
    assert votes_of(world, draft.take_ids[1]) == [(world.ana, "👍")]


async def test_a_removed_number_takes_its_vote_back(review_room):
    world = review_room
    draft = await post_takes(world, 3)
    second = draft.take_ids[1]
    await vote(world, draft, world.ana, "2️⃣", second)
    await unvote(world, draft, world.ana, "2️⃣", second)
    await vote(world, draft, world.ben, "2️⃣", second)
    assert status_of(world, second) == "review"  # ana's vote was taken back: one of two


async def test_retake_marks_the_shot_and_says_how_to_reshoot(review_room):
    world = review_room
    draft = await post_takes(world, 2)
    await vote(world, draft, world.ana, "🔁", draft.take_ids[0])
    await world.emulator.wait_until(
        lambda: (
            plan.get_shot(open_db(world.settings.database_path), draft.shot_id).status == "retake"
        )
    )
    told = await world.emulator.wait_for_message(
        world.review, lambda m: m["content"].startswith("🔁 Shot 1 is marked for a retake")
    )
    assert told["content"] == (
        "🔁 Shot 1 is marked for a retake. Reply to its draft with a note (e.g. “darker sky”) "
        "to re-shoot it with the note, or /render re-shoots it as is."
    )
    assert [status_of(world, take_id) for take_id in draft.take_ids] == ["rejected", "rejected"]
    # a later 👍 changes nothing: the takes are no longer in review
    await vote(world, draft, world.ben, "1️⃣", draft.take_ids[0])
    await vote(world, draft, world.director, "1️⃣", draft.take_ids[0])
    assert status_of(world, draft.take_ids[0]) == "rejected"
    assert not any("approved" in m["content"] for m in bot_messages(world, world.review))


async def test_a_removed_retake_is_no_longer_counted(review_room):
    world = review_room
    draft = await post_takes(world, 1)
    (take_id,) = draft.take_ids
    await world.emulator.user_react(world.review, draft.message["id"], world.ana, "🔁")
    await world.emulator.wait_until(lambda: (world.ana, "🔁") in votes_of(world, take_id))
    await unvote(world, draft, world.ana, "🔁", take_id)
    assert votes_of(world, take_id) == []


async def test_the_bots_own_reactions_are_not_votes(review_room):
    world = review_room
    draft = await post_takes(world, 1)
    (take_id,) = draft.take_ids
    await vote(world, draft, world.ana, "👍", take_id)  # after the bot's own 👍 👎 🔁
    assert votes_of(world, take_id) == [(world.ana, "👍")]


def test_an_emoji_votes_for_the_take_it_names_and_nothing_else_votes() -> None:
    one, two = object(), object()  # the takes of a two-take post, in order
    post = [one, two]
    assert vote_for("1️⃣", post) == (one, "👍")  # type: ignore[arg-type]
    assert vote_for("2️⃣", post) == (two, "👍")  # type: ignore[arg-type]
    assert vote_for("3️⃣", post) is None  # type: ignore[arg-type]  # no third take
    assert vote_for("👎", post) == (one, "👎")  # type: ignore[arg-type]
    assert vote_for("🎉", post) is None  # type: ignore[arg-type]  # not a vote
    assert vote_for("👍", []) is None  # a post with no takes left


async def test_an_approved_keyframe_queues_its_clip_with_a_status_message(review_room):
    world = review_room
    draft = await post_takes(world, 1, kind="keyframe")
    assert "Keyframes: vote on the look" in draft.message["content"]
    (take_id,) = draft.take_ids
    await vote(world, draft, world.ana, "👍", take_id)
    await vote(world, draft, world.director, "👍", take_id)  # the quorum of 2

    approved = await world.emulator.wait_for_message(
        world.review, lambda m: "keyframe approved" in m["content"], after_id=draft.message["id"]
    )
    assert approved["content"] == (
        "✅ Shot 1: keyframe approved. Rendering the clip from it; the clip becomes the shot's "
        "approved take."
    )
    status = await world.emulator.wait_for_message(
        world.review, lambda m: m["content"].startswith("⏳"), after_id=approved["id"]
    )
    assert status["content"].startswith("⏳ Clip of shot 1")
    db = open_db(world.settings.database_path)
    episode_id = plan.get_shot(db, draft.shot_id).episode_id
    (clip_job,) = [j for j in jobs.jobs_for_episode(db, episode_id, "render") if j.priority > 0]
    payload = RenderPayload.of(clip_job)
    assert (payload.output, payload.source_take_id, payload.seeds) == ("clip", take_id, (0,))
    # the status board edits that message as the clip renders
    render = await world.emulator.wait_until(
        lambda: (r := jobs.get_render(db, clip_job.render_id)).status_message_id and r
    )
    assert (render.channel_id, render.status_message_id) == (world.review, status["id"])
    # the look is approved, not the shot: the clip will be its approved take
    assert plan.get_shot(db, draft.shot_id).approved_take_id is None


async def test_votes_cast_while_the_bot_was_down_count_when_it_is_back(tmp_path: Path):
    """Reactions added while no bot is connected are read back from the post at start-up,
    past a post of two takes someone deleted meanwhile; the bot's own legend reactions (👎 and
    🔁 among them) never count."""
    async with open_studio(tmp_path / "data", showrunner_render_actors=0) as world:
        async with running_bot(world, scripted(say("unused"))):
            await start_two_shot_project(world)
            deleted = await post_takes(world, 2)  # two takes: one post, two rows
            draft = await post_takes(world, 2, shot_number=2)
        await world.emulator.user_delete_message(world.review, deleted.message["id"])
        for member in (world.ana, world.ben):  # the bot is down
            await world.emulator.user_react(world.review, draft.message["id"], member, "2️⃣")
        assert votes_of(world, draft.take_ids[1]) == []

        async with running_bot(world, scripted(say("unused"))):
            await world.emulator.wait_until(
                lambda: status_of(world, draft.take_ids[1]) == "approved"
            )
        assert votes_of(world, draft.take_ids[1]) == sorted([(world.ana, "👍"), (world.ben, "👍")])
        assert votes_of(world, draft.take_ids[0]) == []  # the bot's reactions are no votes
        assert status_of(world, draft.take_ids[0]) == "rejected"
