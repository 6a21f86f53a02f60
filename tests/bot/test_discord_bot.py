"""End to end: the real discord.py bot against the emulator, a real worker subprocess rendering
with a tiny diffusers model, real SQLite and ffmpeg. Only the LLM's answers are scripted."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from bot.status_board import EDIT_INTERVAL
from pipeline.ffmpeg import probe
from storage import episodes, plan, projects, takes
from storage.db import open_db
from tests.fakes import say, scripted
from tests.studio import (
    Studio,
    bot_messages,
    chat_a_plan,
    drafts,
    open_studio,
    plan_model,
    running_bot,
    start_project,
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written by the CLI itself, in its own process (the bot process never imports torch)."""
    folder = tmp_path_factory.mktemp("tiny-sd")
    subprocess.run(
        [sys.executable, "-m", "bot", "make-tiny-model", str(folder)], check=True, timeout=300
    )
    return folder


@pytest.fixture
async def studio(tmp_path: Path, tiny_model: Path) -> AsyncIterator[Studio]:
    async with open_studio(
        tmp_path / "data",
        showrunner_engine="diffusers",
        showrunner_model=str(tiny_model),
        showrunner_steps=2,
        showrunner_width=180,
        showrunner_height=320,
        showrunner_fps=12,
    ) as world:
        yield world


async def test_chat_render_vote_and_delivery(studio: Studio, tmp_path: Path) -> None:
    world = studio
    async with running_bot(world, plan_model((2, 2))):
        await start_project(world, quorum=2)
        await chat_a_plan(world, (2, 2))

        render = await world.emulator.slash_command(world.writers, world.ana, "render")
        await render.wait_response()
        assert "Queued 4 shot(s)" in render.response_data["content"]
        await world.emulator.wait_until(lambda: len(drafts(world)) == 4, timeout=180)
        for draft in drafts(world):
            assert draft["attachments"][0]["filename"].endswith(".mp4")
            assert "Line" in draft["content"]  # the dialogue line is shown
            await world.emulator.wait_until(
                lambda d=draft: (
                    set(world.emulator.message(d["id"])["reactions"]) >= {"👍", "👎", "🔁"}
                )
            )

        # the bot's own 👍 plus one user's is not a quorum of 2
        first = drafts(world)[0]
        await world.emulator.user_react(world.review, first["id"], world.ana, "👍")
        db = open_db(world.settings.database_path)
        take = takes.takes_for_message(db, first["id"])[0]
        # the vote is stored: the handler ran, and decided what it decides
        await world.emulator.wait_until(lambda: takes.tally(db, take.id).up == 1)
        assert takes.get_take(db, take.id).status == "review"

        for draft in drafts(world):
            for user in (world.ana, world.ben):
                await world.emulator.user_react(world.review, draft["id"], user, "👍")
        delivered = await world.emulator.wait_for_message(
            world.delivery, lambda m: bool(m["attachments"]), timeout=120
        )
        await world.emulator.wait_until(
            lambda: db.execute("SELECT status FROM episodes").fetchone()[0] == "delivered"
        )

    assert "Episode 1" in delivered["content"]
    cut = tmp_path / "delivered.mp4"
    cut.write_bytes(world.emulator.attachment_bytes(delivered["attachments"][0]))
    info = probe(cut)
    episode = episodes.current_episode(db, projects.project_for_channel(db, world.writers).id)
    expected = sum(shot.duration for shot in plan.list_shots(db, episode.id))
    assert abs(info.duration - expected) <= 0.5
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (
        180,
        320,
        "h264",
        "aac",
    )
    assert episode.status == "delivered"

    status = next(m for m in bot_messages(world, world.writers) if "**Render" in m["content"])
    assert "4/4 shots" in status["content"] or "4/4 shots" in status["edits"][-1]["content"]
    assert status["edits"], "the status message is edited in place"
    # at most one edit every 2 s, as Discord's rate limits want
    edited = [datetime.fromisoformat(edit["timestamp"]) for edit in status["edits"]]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(edited)]
    assert all(gap >= EDIT_INTERVAL - 0.1 for gap in gaps), gaps
    assert len(bot_messages(world, world.writers)) <= 6  # no flood of progress messages
    for channel in (world.writers, world.review, world.delivery):
        for message in bot_messages(world, channel):
            # sent with every message: nobody is pinged, whatever the text holds
            assert message["allowed_mentions"] is not None, message
            assert message["allowed_mentions"]["parse"] == [], message["allowed_mentions"]


async def test_votes_cast_while_the_bot_is_down_are_counted_once_on_restart(studio: Studio) -> None:
    world = studio
    async with running_bot(world, plan_model((1, 1))):
        await start_project(world, quorum=2)
        await chat_a_plan(world, (1, 1))
        render = await world.emulator.slash_command(world.writers, world.ana, "render")
        await render.wait_response()
        assert "Queued 2 shot(s)" in render.response_data["content"]
        await world.emulator.wait_until(lambda: len(drafts(world)) == 2, timeout=180)
        first, second = drafts(world)
        await world.emulator.user_react(world.review, first["id"], world.ana, "👍")
        db = open_db(world.settings.database_path)
        first_take = takes.takes_for_message(db, first["id"])[0]
        await world.emulator.wait_until(lambda: takes.tally(db, first_take.id).up == 1)

    # the bot is down: votes land on the messages only
    await world.emulator.wait_bot_disconnected(timeout=10)
    await world.emulator.user_react(world.review, first["id"], world.ben, "👍")
    await world.emulator.user_react(world.review, second["id"], world.ana, "👍")
    await world.emulator.user_react(world.review, second["id"], world.ben, "👍")

    async with running_bot(world, scripted(say("unused"))):
        delivered = await world.emulator.wait_for_message(
            world.delivery, lambda m: bool(m["attachments"]), timeout=120
        )
    assert "Episode 1" in delivered["content"]
    db = open_db(world.settings.database_path)
    for draft in (first, second):
        take = takes.takes_for_message(db, draft["id"])[0]
        # the post names its take, for /character reference take:
        assert f"Take id: {take.id}" in draft["content"]
        assert takes.get_take(db, take.id).status == "approved"
        votes = db.execute(
            "SELECT user_id, emoji FROM votes WHERE take_id = ?", [take.id]
        ).fetchall()
        assert sorted(votes) == sorted([(world.ana, "👍"), (world.ben, "👍")])


async def test_bad_input_gets_a_clear_message_and_stores_nothing(studio: Studio) -> None:
    world = studio
    async with running_bot(world, scripted(say("unused"))):
        await start_project(world)
        render = await world.emulator.slash_command(world.writers, world.ana, "render")
        await render.wait_response()
        assert render.ephemeral and "no plan" in render.response_data["content"]

        refused = await world.emulator.slash_command(
            world.writers, world.ana, "project", {"quorum": 5}, subcommand="settings"
        )
        await refused.wait_response()
        assert refused.ephemeral and "Only members with" in refused.response_data["content"]

        elsewhere = await world.emulator.slash_command(world.review, world.ana, "render")
        await elsewhere.wait_response()
        assert "no project" in elsewhere.response_data["content"]

        # a message in a channel that is no writers' room does not reach the model; a command
        # after it is answered, so its handler has run by then
        await world.emulator.user_message(world.review, world.ana, "hello?")
        later = await world.emulator.slash_command(world.review, world.ana, "queue")
        await later.wait_response()
        answers = [m["id"] for m in bot_messages(world, world.review)]
        assert answers in ([], [later.original_message_id])  # only /queue's own answer

    db = open_db(world.settings.database_path)
    project = projects.project_for_channel(db, world.writers)
    assert project.quorum == 1
    assert db.table("jobs").count == 0 and db.table("episodes").count == 0
