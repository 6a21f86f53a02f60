"""The server's upload limit decides what a draft post carries: a boosted guild (tier 2, 50 MiB)
gets a 12 MiB take attached, an unboosted one (10 MiB) gets the take named as too big. The real
bot against the emulator, which enforces each tier's limit."""

from __future__ import annotations

import os

import pytest

from storage import events, plan, projects, takes
from storage.db import open_db
from tests.discord_emulator import DiscordEmulator
from tests.test_discord_bot import Studio
from tests.test_votes import review_room  # noqa: F401 - the fixture

MIB = 1024 * 1024


async def post_a_big_take(world: Studio, size: int) -> dict:
    db = open_db(world.settings.database_path)
    project = projects.project_for_channel(db, world.writers)
    shot = plan.list_shots(db, plan.current_episode(db, project.id).id)[0]
    for status in ("queued", "rendering", "review"):
        plan.set_shot_status(db, shot.id, status)
    media = world.settings.media_dir / "big.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(os.urandom(size))
    takes.add_take(
        db, shot_id=shot.id, job_id="big", seed=1, engine="animatic", model="",
        media_path=str(media),
    )  # fmt: skip
    events.emit(db, "shot_ready", shot_id=shot.id, job_id="big")
    return await world.emulator.wait_for_message(
        world.review, lambda m: m["author_id"] == world.emulator.bot_user_id, timeout=60
    )


@pytest.mark.parametrize(("tier", "attached"), [(2, True), (3, True), (1, False), (0, False)])
async def test_a_boosted_server_gets_the_big_take_attached(
    review_room: Studio,  # noqa: F811
    tier: int,
    attached: bool,
):
    world = review_room
    await world.emulator.set_premium_tier(world.guild, tier)  # sent to the bot before the post
    draft = await post_a_big_take(world, 12 * MIB)
    files = [(a["filename"], a["size"]) for a in draft["attachments"]]
    if attached:
        assert files == [("shot1_take1.mp4", 12 * MIB)]
        assert "not attached" not in draft["content"]
    else:
        assert files == []
        assert "Take 1 not attached: over this server's upload limit (10 MiB)." in draft["content"]


async def test_the_emulator_allows_what_each_tier_allows() -> None:
    async with DiscordEmulator() as emulator:
        guild = emulator.create_guild("Boosted")
        channel = emulator.create_channel(guild, "review")
        assert emulator.upload_limit(channel) == 10 * MIB
        await emulator.set_premium_tier(guild, 2)
        assert emulator.upload_limit(channel) == 50 * MIB
        await emulator.set_premium_tier(guild, 3)
        assert emulator.upload_limit(channel) == 100 * MIB
