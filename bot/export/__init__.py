"""/export: an episode's timeline, EDL, subtitles, poster (and takes, when they fit) as a zip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.export._cog import ExportCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ExportCog(bot))
