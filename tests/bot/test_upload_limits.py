"""The server's upload limit decides what a draft post carries: a boosted guild (tier 2, 50 MiB)
gets a 12 MiB take attached, an unboosted one (10 MiB) gets the take named as too big. The real
bot against the emulator, which enforces each tier's limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.review.drafts import draft_attachments
from tests.discord_emulator import DiscordEmulator
from tests.studio import Studio, post_takes

MIB = 1024 * 1024


def big_file(path: Path) -> str:
    """12 MiB where a take's clip goes: only its size matters to the draft post."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(12 * MIB))
    return str(path)


@pytest.mark.parametrize(("tier", "attached"), [(2, True), (3, True), (1, False), (0, False)])
async def test_a_boosted_server_gets_the_big_take_attached(
    review_room: Studio,
    tier: int,
    attached: bool,
):
    world = review_room
    await world.emulator.set_premium_tier(world.guild, tier)  # sent to the bot before the post
    draft = (await post_takes(world, 1, big_file)).message
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


def test_a_draft_attaches_the_sheet_then_takes_up_to_the_budget_exactly(tmp_path: Path) -> None:
    def sized(name: str, size: int) -> Path:
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        return path

    sheet = sized("sheet.png", 10)
    takes = [sized(f"take{n}.mp4", 30) for n in (1, 2, 3)]
    attached, left_out = draft_attachments(takes, sheet, budget=70)  # 10 + 30 + 30
    assert attached == [(sheet, "takes"), (takes[0], "take1"), (takes[1], "take2")]
    assert left_out == [3]
    attached, left_out = draft_attachments(takes, None, budget=90)  # every byte used
    assert [label for _, label in attached] == ["take1", "take2", "take3"] and not left_out
    attached, left_out = draft_attachments(takes, None, budget=89)
    assert left_out == [3]
    # a take whose file is gone is named, and the ones after it still go
    takes[1].unlink()
    attached, left_out = draft_attachments(takes, None, budget=90)
    assert [label for _, label in attached] == ["take1", "take3"] and left_out == [2]
    # Discord's ten attachments per message, the sheet included
    many = [sized(f"small{n}.mp4", 1) for n in range(1, 13)]
    attached, left_out = draft_attachments(many, sheet, budget=10**6)
    assert len(attached) == 10 and left_out == [10, 11, 12]
