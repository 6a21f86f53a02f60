"""A Discord API emulator for tests: see emulator.py."""

from tests.discord_emulator.emulator import DiscordEmulator
from tests.discord_emulator.state import (
    FLAG_EPHEMERAL,
    InteractionRecord,
    emoji_key,
    point_discord_py_at,
)

__all__ = [
    "FLAG_EPHEMERAL",
    "DiscordEmulator",
    "InteractionRecord",
    "emoji_key",
    "point_discord_py_at",
]
