"""Finished episodes to the delivery channel, and failures to the team."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.delivery._cog import DeliveryCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(DeliveryCog(bot))
