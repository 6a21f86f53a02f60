"""A running studio: an emulated Discord guild with its channels and members, the real bot
running in it, and the steps a team takes there (a project, a plan, takes posted for review)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.schemas import EpisodeDraft
from agents.tools import ToolContext, write_episode_plan
from bot.client import ShowrunnerBot, point_at_discord
from bot.review.drafts import NUMBERS
from bot.runtime import open_runtime
from bot.settings import Settings
from pipeline.ffmpeg import ffmpeg_binary
from storage import episodes, events, plan, projects
from storage.db import open_db
from tests.builders import takes_in_review
from tests.discord_emulator import DiscordEmulator
from tests.fakes import gong_gong_plan, say, scripted, tool_call
from tests.media import tiny_clip
from tests.ray_cluster import start_test_cluster


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
    (one render actor on the test run's Ray unless showrunner_render_actors says otherwise)."""
    start_test_cluster()  # the runtime joins it (instead of starting a Ray of its own)
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
                **({"showrunner_render_actors": 1} | settings),  # type: ignore[arg-type]
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


async def start_project(world: Studio, quorum: int | None = None, **options: object) -> None:
    """/project new in the writers' room, then /project settings: the director role, the
    quorum when given, and any other settings in `options`."""
    await new_project(world)
    options["director_role"] = world.director_role
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


def quiet_studio(
    data_dir: Path, **emulator_options: Any
) -> contextlib.AbstractAsyncContextManager[Studio]:
    """open_studio, but the bot starts no worker (nothing renders)."""
    return open_studio(
        data_dir,
        emulator_options=emulator_options,
        showrunner_engine="animatic",
        showrunner_render_actors=0,
        showrunner_width=180,
        showrunner_height=320,
        showrunner_fps=12,
    )


async def new_project(world: Studio) -> None:
    """/project new in the writers' room, with its review and delivery channels."""
    created = await world.emulator.slash_command(
        world.writers,
        world.director,
        "project",
        {"title": "Gong Gong", "review": world.review, "delivery": world.delivery},
        subcommand="new",
    )
    await created.wait_response()
    assert "is set up" in created.response_data["content"]


async def command(world: Studio, user: int, name: str, options=None, **kwargs) -> dict:
    """A slash command in the writers' room, and what the bot answered."""
    record = await world.emulator.slash_command(
        kwargs.pop("channel", None) or world.writers, user, name, options or {}, **kwargs
    )
    await record.wait_response()
    return {"content": record.response_data["content"], "ephemeral": record.ephemeral}


async def project_by(world: Studio, creator: int, channel: int | None = None) -> int:
    """/project new by `creator` in `channel` (the writers' room by default), with no review
    or delivery channel and no director role yet; the project's id."""
    answer = await command(
        world, creator, "project", {"title": "Gong Gong"}, subcommand="new", channel=channel
    )
    assert "is set up" in answer["content"]
    db = open_db(world.settings.database_path)
    return projects.project_for_channel(db, channel or world.writers).id


@dataclass(frozen=True)
class Draft:
    message: dict
    shot_id: int
    take_ids: list[int]


async def start_two_shot_project(world: Studio) -> None:
    """A project (quorum 2, a director role) with a two-shot plan, through the running bot."""
    await start_project(world, quorum=2)
    db = open_db(world.settings.database_path)
    project = projects.project_for_channel(db, world.writers)
    context = ToolContext(db, project.id, user_id=world.director, is_director=True)
    write_episode_plan(context, EpisodeDraft.model_validate(gong_gong_plan((1, 1))))


async def post_takes(
    world: Studio,
    count: int,
    make_media: Callable[[Path], str] = tiny_clip,
    kind: str = "clip",
    shot_number: int = 1,
) -> Draft:
    """`count` takes of a shot in review, as a finished render job leaves them (their files
    made by `make_media`; stills for keyframes), and the bot's draft post of them (with its
    reactions)."""
    db = open_db(world.settings.database_path)
    project = projects.project_for_channel(db, world.writers)
    episode = episodes.current_episode(db, project.id)
    shot = plan.list_shots(db, episode.id)[shot_number - 1]
    earlier = [m["id"] for m in world.emulator.messages(world.review)]
    folder = world.settings.media_dir / "takes" / f"shot{shot.id}"
    files = []
    for seed in range(count):
        clip = make_media(folder / f"take{seed}.mp4")
        media, preview = clip, ""
        if kind == "keyframe":  # a still is both the take and its preview
            media = preview = str(Path(clip).with_suffix(".png"))
            grab = ["-v", "error", "-y", "-i", clip, "-frames:v", "1", media]
            subprocess.run([ffmpeg_binary(), *grab], check=True)
        files.append((media, preview))
    # its job is done before the scheduler's next pass sees it
    shot_takes = takes_in_review(db, shot.id, count, kind=kind, files=files)
    events.emit(db, events.ShotReady(shot.id, shot_takes[0].job_id))
    message = await world.emulator.wait_for_message(
        world.review,
        lambda m: m["author_id"] == world.emulator.bot_user_id,
        after_id=max(earlier, default=None),
        timeout=30,
    )
    legend = {*NUMBERS[:count]} if count > 1 else {"👍"}
    reactions = lambda: set(world.emulator.message(message["id"])["reactions"])  # noqa: E731
    await world.emulator.wait_until(lambda: reactions() >= {*legend, "👎", "🔁"})
    assert reactions() == {*legend, "👎", "🔁"}
    return Draft(message, shot.id, [take.id for take in shot_takes])


async def say_in(world: Studio, channel: int, user: int, text: str, **kwargs) -> dict:
    """A user's message, and the bot's first answer after it (not a plan post with a Go ahead
    button, which a change before it may post in the meantime)."""
    sent = await world.emulator.user_message(channel, user, text, **kwargs)
    return await world.emulator.wait_for_message(
        channel,
        lambda m: m["author_id"] == world.emulator.bot_user_id and not m["components"],
        after_id=sent["id"],
    )


async def gate_post(world: Studio, after_id: int = 0) -> dict:
    return await world.emulator.wait_for_message(
        world.writers,
        lambda m: m["author_id"] == world.emulator.bot_user_id and "Go ahead" in buttons(m),
        after_id=after_id,
    )


def buttons(message: dict) -> dict[str, str]:
    """label -> custom_id of a message's buttons."""
    return {
        item["label"]: item["custom_id"]
        for row in message["components"]
        for item in row.get("components", [])
    }
