"""The cast: /character list, and /character reference (the image a character renders from)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.characters._cog import CharactersCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(CharactersCog(bot))
