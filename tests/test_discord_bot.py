"""End to end: the real discord.py bot against the emulator, a real worker subprocess rendering
with a tiny diffusers model, real SQLite and ffmpeg. Only the LLM's answers are scripted."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel

from bot.client import ShowrunnerBot, point_at_discord
from bot.runtime import open_runtime
from bot.settings import Settings
from bot.status_board import EDIT_INTERVAL
from pipeline.ffmpeg import probe
from storage import episodes, plan, projects, takes
from storage.db import open_db
from tests.discord_emulator import DiscordEmulator
from tests.fakes import gong_gong_plan, say, scripted, tool_call


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written by the CLI itself, in its own process (the bot process never imports torch)."""
    folder = tmp_path_factory.mktemp("tiny-sd")
    subprocess.run(
        [sys.executable, "-m", "bot", "make-tiny-model", str(folder)], check=True, timeout=300
    )
    return folder


@dataclass
class Studio:
    emulator: DiscordEmulator
    settings: Settings
    guild: int
    writers: int
    review: int
    delivery: int
    director_role: int
    director: int
    ana: int
    ben: int


@contextlib.asynccontextmanager
async def open_studio(
    data_dir: Path, *, emulator_options: dict[str, Any] | None = None, **settings: object
) -> AsyncIterator[Studio]:
    """An emulated guild with three channels, a director and two members; bot settings
    (a local worker unless showrunner_workers says otherwise)."""
    async with DiscordEmulator(**(emulator_options or {})) as emulator:
        guild = emulator.create_guild("Drama Lab")
        director_role = emulator.create_role(guild, "Director")
        world = Studio(
            emulator=emulator,
            settings=Settings(
                _env_file=None,
                discord_token=emulator.token,
                discord_api_base=emulator.api_base,
                discord_gateway_url=emulator.gateway_url,
                showrunner_data_dir=data_dir,
                **({"showrunner_workers": []} | settings),  # type: ignore[arg-type]
            ),
            guild=guild,
            writers=emulator.create_channel(guild, "writers-room"),
            review=emulator.create_channel(guild, "review"),
            delivery=emulator.create_channel(guild, "delivery"),
            director_role=director_role,
            director=emulator.add_member(guild, "dana", roles=[director_role]),
            ana=emulator.add_member(guild, "ana"),
            ben=emulator.add_member(guild, "ben"),
        )
        yield world
        emulator.assert_clean()


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


@contextlib.asynccontextmanager
async def running_bot(world: Studio, model: BaseChatModel | None) -> AsyncIterator[ShowrunnerBot]:
    """The bot on `model`, or on the configured LLM (the embedded one by default) when None."""
    point_at_discord(world.settings)
    async with open_runtime(world.settings, chat_model=model) as runtime:
        bot = ShowrunnerBot(runtime, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(world.emulator.token))
        try:
            await world.emulator.wait_bot_ready(timeout=30)
            await asyncio.sleep(0.2)  # on_ready's vote re-read
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def bot_messages(world: Studio, channel: int) -> list[dict]:
    """What everyone in the channel sees from the bot (ephemeral replies excluded)."""
    return [
        m
        for m in world.emulator.messages(channel)
        if m["author_id"] == world.emulator.bot_user_id and not m["ephemeral"]
    ]


def drafts(world: Studio) -> list[dict]:
    return [m for m in bot_messages(world, world.review) if m["attachments"]]


async def start_project(world: Studio, quorum: int | None = None) -> None:
    created = await world.emulator.slash_command(
        world.writers,
        world.director,
        "project",
        {"title": "Gong Gong", "review": world.review, "delivery": world.delivery},
        subcommand="new",
    )
    await created.wait_response()
    assert "is set up" in created.response_data["content"]
    options: dict[str, object] = {"director_role": world.director_role}
    if quorum:
        options["quorum"] = quorum
    settings = await world.emulator.slash_command(
        world.writers, world.director, "project", options, subcommand="settings"
    )
    await settings.wait_response()
    assert not settings.ephemeral, settings.response_data


async def chat_a_plan(world: Studio, shots_per_scene: tuple[int, ...]) -> None:
    sent = await world.emulator.user_message(
        world.writers, world.ana, "A mortal defies the water god Gong Gong on a rugged shore"
    )
    reply = await world.emulator.wait_for_message(
        world.writers,
        lambda m: m["author_id"] == world.emulator.bot_user_id,
        after_id=sent["id"],
        timeout=30,
    )
    assert reply["content"] == "Here is the plan."
    # the plan gate: the director accepts the plan the agent posts after a change
    gate = await world.emulator.wait_for_message(
        world.writers, lambda m: bool(m["components"]), after_id=reply["id"]
    )
    go_ahead = gate["components"][0]["components"][0]["custom_id"]
    accepted = await world.emulator.component_interaction(
        world.writers, gate["id"], world.director, go_ahead
    )
    await accepted.wait_response()


def plan_model(shots_per_scene: tuple[int, ...]) -> BaseChatModel:
    return scripted(
        tool_call("write_episode_plan", {"plan": gong_gong_plan(shots_per_scene)}),
        say("Here is the plan."),
    )


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
