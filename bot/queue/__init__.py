"""The render queue: /queue shows a project's jobs, /cancel stops one job or an episode's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.queue._cog import QueueCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(QueueCog(bot))
