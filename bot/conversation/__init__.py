"""The writers' room: messages in a project's channel go to the director agent; a turn that
changed the plan ends with the plan gate (summary, storyboard, "Go ahead" button)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.conversation._cog import ConversationCog

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ConversationCog(bot))
