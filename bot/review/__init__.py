"""Drafts in the review channel, and the team's votes on them (raw reaction events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.review._cog import ReviewCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ReviewCog(bot))
