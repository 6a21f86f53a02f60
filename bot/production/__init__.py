"""Production commands: /project new|settings|status and /render."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.production._cog import ProductionCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ProductionCog(bot))
