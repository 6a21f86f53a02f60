"""Seasons in Discord: /season new writes the season map and its first episode's plan (which
waits at the plan gate like any plan), /season next the next one, /season status shows the
map with the season contact sheet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.season._cog import SeasonCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(SeasonCog(bot))
