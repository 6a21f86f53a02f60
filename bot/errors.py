"""The one place errors reach users: our errors as they are, anything else as a short apology."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from storage.errors import ShowrunnerError

log = logging.getLogger(__name__)


def user_message(error: BaseException) -> str | None:
    """The text to show for an error, or None when it is a bug (logged, not shown)."""
    original = getattr(error, "original", None) or getattr(error, "__cause__", None) or error
    if isinstance(original, ShowrunnerError):
        return str(original)
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
        return "That command's options are not valid."
    return None


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    message = user_message(error)
    if message is None:
        log.error("command failed", exc_info=error)
        message = "Something went wrong; it has been logged."
    message = "⚠️ " + message
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)
