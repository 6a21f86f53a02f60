"""The real discord.py client against the project's Discord emulator."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from tests.discord_emulator import (
    FLAG_EPHEMERAL,
    DiscordEmulator,
    point_discord_py_at,
)

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@dataclass
class World:
    emulator: DiscordEmulator
    guild_id: int
    channel_id: int
    alice: int
    bob: int
    director_role: int


@dataclass
class Seen:
    """What the test bot observed through discord.py events."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    messages: list[discord.Message] = field(default_factory=list)
    reactions: list[discord.RawReactionActionEvent] = field(default_factory=list)
    removed: list[discord.RawReactionActionEvent] = field(default_factory=list)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with DiscordEmulator() as emulator:
        with point_discord_py_at(emulator):
            guild_id = emulator.create_guild("Studio")
            channel_id = emulator.create_channel(guild_id, "production")
            director = emulator.create_role(guild_id, "Director")
            alice = emulator.add_member(guild_id, "alice", roles=[director])
            bob = emulator.add_member(guild_id, "bob")
            yield World(emulator, guild_id, channel_id, alice, bob, director)


class ApprovalView(discord.ui.View):
    @discord.ui.button(label="Approve", custom_id="approve")
    async def approve(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="approved")

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="later")


def make_bot(world: World, seen: Seen) -> commands.Bot:
    """A small bot with prefix commands, reactions handling and guild slash commands."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
    guild = discord.Object(world.guild_id)

    @bot.event
    async def on_ready() -> None:
        seen.ready.set()

    @bot.event
    async def on_resumed() -> None:
        seen.resumed.set()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        seen.messages.append(message)
        await bot.process_commands(message)

    @bot.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        seen.reactions.append(payload)

    @bot.event
    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        seen.removed.append(payload)

    @bot.command()
    async def ping(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.reply("pong", mention_author=False)

    @bot.command()
    async def poster(ctx: commands.Context[commands.Bot]) -> None:
        file = discord.File(io.BytesIO(PNG_BYTES), filename="poster.png")
        await ctx.send("here is the poster", file=file)

    @bot.command()
    async def vote(ctx: commands.Context[commands.Bot]) -> None:
        message = await ctx.send("vote: A or B?")
        await message.add_reaction("🅰️")
        await message.add_reaction("🅱️")

    @bot.command()
    async def progress(ctx: commands.Context[commands.Bot]) -> None:
        message = await ctx.send("rendering 0%")
        await message.edit(content="rendering 50%")
        await message.edit(content="rendering done", embed=discord.Embed(title="Shot 1"))

    @bot.command()
    async def echo_attachment(ctx: commands.Context[commands.Bot]) -> None:
        data = await ctx.message.attachments[0].read()
        await ctx.send(f"got {len(data)} bytes")

    @bot.command()
    async def approval(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.send("approve the cut?", view=ApprovalView())

    @bot.command()
    async def tidy(ctx: commands.Context[commands.Bot]) -> None:
        async for old in ctx.channel.history(limit=100, before=ctx.message):
            if old.author == bot.user:
                await old.delete()
        thread = await ctx.message.create_thread(name="discussion")
        await thread.send("in thread")

    @bot.tree.command(name="still", description="Send a still", guild=guild)
    async def still(interaction: discord.Interaction) -> None:
        image = discord.File(io.BytesIO(PNG_BYTES), filename="still.png")
        await interaction.response.send_message("still v1", file=image)
        await interaction.edit_original_response(content="still v2")
        notes = discord.File(io.BytesIO(b"notes"), filename="notes.txt")
        await interaction.followup.send("private notes", file=notes, ephemeral=True)

    @bot.hybrid_command(name="status", description="Studio status")
    @app_commands.guilds(guild)
    async def status(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.defer()
        await ctx.send("all systems go")

    @bot.tree.command(name="render", description="Render a shot", guild=guild)
    @app_commands.describe(prompt="What to render", seconds="Length")
    async def render(interaction: discord.Interaction, prompt: str, seconds: int = 5) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.01)
        await interaction.followup.send(f"rendered {prompt!r} for {seconds}s")
        await interaction.followup.send("second followup")

    @bot.tree.command(name="secret", description="Ephemeral answer", guild=guild)
    async def secret(interaction: discord.Interaction, target: discord.Member) -> None:
        await interaction.response.send_message(f"only you see {target.name}", ephemeral=True)

    casting = app_commands.Group(name="cast", description="Casting", guild_ids=[world.guild_id])

    @casting.command(name="add", description="Add an actor")
    async def cast_add(
        interaction: discord.Interaction, actor: str, role: discord.Role, lead: bool = False
    ) -> None:
        await interaction.response.send_message(f"{actor} as {role.name} lead={lead}")

    bot.tree.add_command(casting)
    return bot


@asynccontextmanager
async def started(world: World) -> AsyncIterator[tuple[commands.Bot, Seen]]:
    """Run make_bot() until the block ends; yields once on_ready fired."""
    seen = Seen()
    bot = make_bot(world, seen)
    task = asyncio.create_task(bot.start(world.emulator.token))
    try:
        await asyncio.wait_for(seen.ready.wait(), 5)
        yield bot, seen
    finally:
        await bot.close()
        await asyncio.wait_for(task, 5)


async def test_ready_and_prefix_command_reply(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, seen):
        assert emulator.bot_connected
        assert bot.user is not None and bot.user.id == emulator.bot_user_id
        guild = bot.get_guild(world.guild_id)
        assert guild is not None and guild.get_member(world.alice) is not None
        query = emulator.gateway_queries[0]
        assert query["encoding"] == "json" and query["v"] == "10"

        sent = await emulator.user_message(world.channel_id, world.alice, "!ping")
        reply = await emulator.wait_for_message(
            world.channel_id, lambda m: m["author_id"] == emulator.bot_user_id, timeout=5
        )
        assert reply["content"] == "pong"
        assert reply["message_reference"]["message_id"] == sent["id"]
        assert reply["allowed_mentions"]["replied_user"] is False
        assert seen.messages[0].content == "!ping"
        assert seen.messages[0].author.id == world.alice
    emulator.assert_clean()


async def test_file_upload_and_attachment_download(world: World) -> None:
    emulator = world.emulator
    async with started(world):
        await emulator.user_message(world.channel_id, world.bob, "!poster")
        posted = await emulator.wait_for_message(
            world.channel_id, lambda m: bool(m["attachments"]), timeout=5
        )
        attachment = posted["attachments"][0]
        assert attachment["filename"] == "poster.png"
        assert attachment["content_type"] == "image/png"
        assert emulator.attachment_bytes(attachment) == PNG_BYTES

        sent = await emulator.user_message(
            world.channel_id, world.bob, "!echo_attachment", attachments=[("a.bin", b"x" * 123)]
        )
        answer = await emulator.wait_for_message(
            world.channel_id, lambda m: m["content"].startswith("got"), after_id=sent["id"]
        )
        assert answer["content"] == "got 123 bytes"
    emulator.assert_clean()


async def test_reactions_both_ways(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (_, seen):
        await emulator.user_message(world.channel_id, world.alice, "!vote")
        poll = await emulator.wait_for_message(
            world.channel_id, lambda m: len(m["reactions"]) == 2, timeout=5
        )
        assert poll["reactions"] == {"🅰️": [emulator.bot_user_id], "🅱️": [emulator.bot_user_id]}

        await emulator.user_react(world.channel_id, poll["id"], world.bob, "🅱️")
        await emulator.wait_until(lambda: any(r.user_id == world.bob for r in seen.reactions))
        event = next(r for r in seen.reactions if r.user_id == world.bob)
        assert str(event.emoji) == "🅱️"
        assert event.message_id == poll["id"]
        assert event.member is not None and event.member.name == "bob"
        # Discord echoes the bot's own reactions too.
        assert sum(r.user_id == emulator.bot_user_id for r in seen.reactions) == 2

        await emulator.user_react(world.channel_id, poll["id"], world.alice, "<:clapper:4242>")
        await emulator.wait_until(lambda: any(r.emoji.id == 4242 for r in seen.reactions))
        assert "clapper:4242" in emulator.message(poll["id"])["reactions"]

        await emulator.user_unreact(world.channel_id, poll["id"], world.bob, "🅱️")
        await emulator.wait_until(lambda: seen.removed)
        assert emulator.message(poll["id"])["reactions"]["🅱️"] == [emulator.bot_user_id]
    emulator.assert_clean()


async def test_edits_are_recorded(world: World) -> None:
    emulator = world.emulator
    async with started(world):
        await emulator.user_message(world.channel_id, world.alice, "!progress")
        done = await emulator.wait_for_message(
            world.channel_id, lambda m: m["content"] == "rendering done", timeout=5
        )
        assert [edit["content"] for edit in done["edits"]] == ["rendering 50%", "rendering done"]
        assert done["embeds"][0]["title"] == "Shot 1"
        assert done["edited_timestamp"] is not None
    emulator.assert_clean()


async def test_slash_command_defer_and_followups(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, _):
        await bot.tree.sync(guild=discord.Object(world.guild_id))
        names = {c["name"] for c in emulator.registered_commands(world.guild_id)}
        assert names == {"render", "secret", "cast", "still", "status"}

        record = await emulator.slash_command(
            world.channel_id, world.alice, "render", {"prompt": "a storm", "seconds": 8}
        )
        followups = await record.wait_followups(1, timeout=5)
        assert record.response_type == 5 and record.deferred and not record.ephemeral
        # The first followup after a "thinking" defer fills the original response.
        assert record.original is not None
        assert record.original["content"] == "rendered 'a storm' for 8s"
        assert [m["content"] for m in followups] == ["second followup"]
        contents = [m["content"] for m in emulator.messages(world.channel_id)]
        assert contents == ["rendered 'a storm' for 8s", "second followup"]

        group_record = await emulator.slash_command(
            world.channel_id,
            world.alice,
            "cast",
            {"actor": "Mia", "role": world.director_role, "lead": True},
            subcommand="add",
        )
        await group_record.wait_response(timeout=5)
        assert group_record.response_type == 4
        assert group_record.original is not None
        assert group_record.original["content"] == "Mia as Director lead=True"

        hybrid = await emulator.slash_command(world.channel_id, world.bob, "status")
        assert (await hybrid.wait_original_content(timeout=5))["content"] == "all systems go"
        sent = await emulator.user_message(world.channel_id, world.bob, "!status")
        await emulator.wait_for_message(
            world.channel_id, lambda m: m["content"] == "all systems go", after_id=sent["id"]
        )
    emulator.assert_clean()


async def test_ephemeral_response_is_flagged_and_hidden(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, _):
        await bot.tree.sync(guild=discord.Object(world.guild_id))
        record = await emulator.slash_command(
            world.channel_id, world.alice, "secret", {"target": world.bob}
        )
        await record.wait_response(timeout=5)
        assert record.ephemeral
        original = record.original
        assert original is not None and original["flags"] & FLAG_EPHEMERAL
        assert original["content"] == "only you see bob"
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        # Ephemeral messages never show up in the channel's history.
        assert [m async for m in channel.history(limit=10)] == []
    emulator.assert_clean()


async def test_discord_limits_are_enforced(world: World) -> None:
    async with started(world) as (bot, _):
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert too_long.value.code == 50035 and "2000" in str(too_long.value)
        with pytest.raises(discord.HTTPException) as long_embed:
            await channel.send(embed=discord.Embed(description="d" * 4097))
        assert "embeds.0.description" in str(long_embed.value)
        # discord.py refuses > 10 embeds itself, so go one level down to reach the server check.
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
        with pytest.raises(discord.HTTPException) as too_many:
            await bot.http.request(route, json={"embeds": [{"title": "t"}] * 11})
        assert too_many.value.code == 50035 and "embeds" in str(too_many.value)
        assert world.emulator.messages(world.channel_id) == []
    world.emulator.assert_clean()


async def test_unimplemented_route_is_reported(world: World) -> None:
    async with started(world) as (bot, _):
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.NotFound):
            [message async for message in channel.pins()]
    assert any("/pins" in route for route in world.emulator.unhandled)
    with pytest.raises(AssertionError, match="unimplemented route: GET"):
        world.emulator.assert_clean()


async def test_restart_sees_reactions_cast_while_down(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, _):
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        poll = await channel.send("which ending?")
        await poll.add_reaction("👍")
    await emulator.wait_bot_disconnected(timeout=5)
    assert not emulator.bot_connected

    await emulator.user_react(world.channel_id, poll.id, world.alice, "👍")
    await emulator.user_react(world.channel_id, poll.id, world.bob, "👍")

    async with started(world) as (bot, _):
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        fetched = await channel.fetch_message(poll.id)
        reaction = fetched.reactions[0]
        assert (str(reaction.emoji), reaction.count, reaction.me) == ("👍", 3, True)
        voters = [user.id async for user in reaction.users()]
        assert sorted(voters) == sorted([emulator.bot_user_id, world.alice, world.bob])
        only_one = [user.id async for user in reaction.users(limit=1)]
        assert len(only_one) == 1
    assert len(emulator.identify_payloads) == 2
    emulator.assert_clean()


async def test_reconnect_resume_and_late_setup(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, seen):
        await emulator.request_reconnect()
        # Sent while the bot is reconnecting: delivered on the old socket or replayed on RESUME.
        sent = await emulator.user_message(world.channel_id, world.alice, "!ping")
        await asyncio.wait_for(seen.resumed.wait(), 5)
        assert emulator.resume_count == 1
        await emulator.wait_for_message(
            world.channel_id, lambda m: m["content"] == "pong", after_id=sent["id"], timeout=5
        )
        assert len(emulator.identify_payloads) == 1

        late_guild = emulator.create_guild("Second studio")
        late_channel = emulator.create_channel(world.guild_id, "late")
        carol = emulator.add_member(world.guild_id, "carol")
        await emulator.wait_until(lambda: bot.get_channel(late_channel) is not None)
        await emulator.wait_until(lambda: bot.get_guild(late_guild) is not None)
        guild = bot.get_guild(world.guild_id)
        assert guild is not None
        await emulator.wait_until(lambda: guild.get_member(carol) is not None)
        await emulator.user_message(late_channel, carol, "!ping")
        reply = await emulator.wait_for_message(late_channel, lambda m: m["content"] == "pong")
        assert reply["channel_id"] == late_channel
    emulator.assert_clean()


async def test_buttons_update_and_deferred_update(world: World) -> None:
    emulator = world.emulator
    async with started(world):
        await emulator.user_message(world.channel_id, world.alice, "!approval")
        prompt = await emulator.wait_for_message(world.channel_id, lambda m: bool(m["components"]))
        clicked = await emulator.component_interaction(
            world.channel_id, prompt["id"], world.bob, "approve"
        )
        await clicked.wait_response(timeout=5)
        assert clicked.response_type == 7
        assert emulator.message(prompt["id"])["content"] == "approved"

        later = await emulator.component_interaction(
            world.channel_id, prompt["id"], world.bob, "later"
        )
        await later.wait_response(timeout=5)
        assert later.response_type == 6
        await emulator.wait_until(lambda: emulator.message(prompt["id"])["content"] == "later")
        assert len(emulator.message(prompt["id"])["edits"]) == 2
    emulator.assert_clean()


async def test_interaction_files_edits_and_ephemeral_followup(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, _):
        await bot.tree.sync(guild=discord.Object(world.guild_id))
        record = await emulator.slash_command(world.channel_id, world.alice, "still")
        (notes,) = await record.wait_followups(1, timeout=5)
        original = record.original
        assert original is not None
        assert original["content"] == "still v2" and len(original["edits"]) == 1
        assert original["attachments"][0]["data"] == PNG_BYTES
        assert original["interaction_id"] == record.id and not original["ephemeral"]
        assert notes["ephemeral"] and notes["attachments"][0]["data"] == b"notes"
    emulator.assert_clean()


async def test_history_delete_and_threads(world: World) -> None:
    emulator = world.emulator
    async with started(world) as (bot, _):
        channel = bot.get_channel(world.channel_id)
        assert isinstance(channel, discord.TextChannel)
        for index in range(3):
            await channel.send(f"old {index}")
        sent = await emulator.user_message(world.channel_id, world.alice, "!tidy")
        thread_message = await emulator.wait_for_message(
            sent["id"], lambda m: m["content"] == "in thread", timeout=5
        )
        assert emulator.channels[thread_message["channel_id"]].parent_id == world.channel_id
        assert [m["content"] for m in emulator.messages(world.channel_id)] == ["!tidy"]
        deleted = emulator.messages(world.channel_id, include_deleted=True)
        assert sum(m["deleted"] for m in deleted) == 3
        assert bot.get_channel(sent["id"]) is not None
    emulator.assert_clean()


async def test_message_content_needs_the_intent(world: World) -> None:
    emulator = world.emulator
    seen: list[str] = []
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.append(message.content)

    task = asyncio.create_task(client.start(emulator.token))
    try:
        await emulator.wait_bot_ready(timeout=5)
        await emulator.user_message(world.channel_id, world.alice, "secret plot")
        await emulator.user_message(
            world.channel_id, world.alice, f"<@{emulator.bot_user_id}> hello"
        )
        await emulator.wait_until(lambda: len(seen) == 2, timeout=5)
        assert seen == ["", f"<@{emulator.bot_user_id}> hello"]
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)
    emulator.assert_clean()


async def test_wrong_token_fails_login(world: World) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


async def test_gateway_resume_replays_missed_events(world: World) -> None:
    """Protocol level: events dispatched while the socket is down are replayed on RESUME."""
    emulator = world.emulator

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        return json.loads((await ws.receive(timeout=5)).data)

    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{emulator.gateway_url}?v=10&encoding=json")
        assert (await receive(ws))["op"] == 10
        identify = {"token": emulator.token, "intents": 1 | (1 << 9) | (1 << 15)}
        await ws.send_json({"op": 2, "d": identify})
        ready = await receive(ws)
        assert ready["t"] == "READY" and ready["d"]["resume_gateway_url"] == emulator.gateway_url
        guild_create = await receive(ws)
        assert guild_create["t"] == "GUILD_CREATE"
        await ws.close(code=4000)
        await emulator.wait_bot_disconnected()

        await emulator.user_message(world.channel_id, world.alice, "while you were away")
        ws = await http.ws_connect(emulator.gateway_url)
        await receive(ws)
        resume = {"token": emulator.token, "session_id": ready["d"]["session_id"], "seq": 2}
        await ws.send_json({"op": 6, "d": resume})
        missed, resumed = await receive(ws), await receive(ws)
        assert missed["t"] == "MESSAGE_CREATE" and missed["s"] == 3
        assert missed["d"]["content"] == "while you were away"
        assert resumed["t"] == "RESUMED"
        await ws.close()  # code 1000 ends the session
        await emulator.wait_bot_disconnected()

        ws = await http.ws_connect(emulator.gateway_url)
        await receive(ws)
        await ws.send_json({"op": 6, "d": resume})
        assert await receive(ws) == {"op": 9, "d": False}
        await ws.close()
