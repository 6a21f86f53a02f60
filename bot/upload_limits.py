"""How much one message may upload to a project's server (its boost level decides)."""

from __future__ import annotations

import discord

from storage.models import Project

MIB = 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 10 * MIB  # Discord's limit for a server without boosts
UPLOAD_MARGIN = 64 * 1024  # the upload also carries the message JSON and multipart framing


def upload_limit(bot: discord.Client, project: Project) -> int:
    """Bytes one message may upload to the project's server."""
    guild = bot.get_guild(project.guild_id or 0)
    return guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT
