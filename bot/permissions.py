"""Who may do what in a project (checked in code, never left to the model)."""

from __future__ import annotations

import discord

from storage.errors import NotAllowed
from storage.models import Project


def is_director(member: discord.Member | discord.User, project: Project) -> bool:
    if not isinstance(member, discord.Member):
        return False
    if member.guild_permissions.manage_guild:
        return True  # server managers can always fix a project, even with its role gone
    if project.director_role_id is not None:
        return any(role.id == project.director_role_id for role in member.roles)
    return member.id == project.created_by


def require_director(member: discord.Member | discord.User, project: Project) -> None:
    if not is_director(member, project):
        if project.director_role_id is not None:
            raise NotAllowed(
                f"Only members with the <@&{project.director_role_id}> role can do that."
            )
        raise NotAllowed("Only the project's creator or a server manager can do that.")
