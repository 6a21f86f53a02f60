"""The plan gate: a changed plan is posted with a "Go ahead" button; rendering a plan nobody
accepted asks first. The buttons are discord.py DynamicItems: their ids carry the episode and
the plan revision they were made for, so they still work after a restart (the bot registers
them at start-up) and a stale button cannot accept a newer plan.

Who may accept (the go-ahead, or "Render anyway"): members with the project's director role
when the project has one configured; otherwise anyone in the channel, as the team has not
named a director yet.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import discord
import sqlite_utils

from bot.formatting import MESSAGE_LIMIT, clip, neutralise_mentions
from bot.permissions import is_director
from bot.render_requests import queue_render
from pipeline import workflow
from pipeline.pictures.storyboard import draw_storyboard, load_storyboard
from storage import episodes, plan, projects
from storage.errors import NotAllowed, ShowrunnerError
from storage.models import Episode, Project

log = logging.getLogger(__name__)


def check_may_accept(member: discord.Member | discord.User, project: Project) -> None:
    if project.director_role_id is not None and not is_director(member, project):
        raise NotAllowed(
            f"Only members with the <@&{project.director_role_id}> role can accept the plan."
        )


def accept_by(
    db: sqlite_utils.Database, member: discord.Member | discord.User, episode_id: int, revision: int
) -> Episode:
    """Record member's go-ahead for that revision of the episode's plan, if they may give it
    (its lines are then spoken: the caller wakes the scheduler)."""
    episode = episodes.get_episode(db, episode_id)
    check_may_accept(member, projects.get_project(db, episode.project_id))
    return workflow.accept_plan(db, episode.id, revision, member.id)


class GoAhead(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"plan:accept:(?P<episode>\d+):(?P<revision>\d+)",
):
    """Accepts that revision of the episode's plan, and says so in the post."""

    def __init__(self, episode_id: int, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Go ahead",
                style=discord.ButtonStyle.success,
                custom_id=f"plan:accept:{episode_id}:{revision}",
            )
        )
        self.episode_id, self.revision = episode_id, revision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> GoAhead:
        return cls(int(match["episode"]), int(match["revision"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        db = interaction.client.runtime.db  # type: ignore[attr-defined]
        try:
            episode = accept_by(db, interaction.user, self.episode_id, self.revision)
        except ShowrunnerError as error:
            await interaction.response.send_message(f"⚠️ {error}", ephemeral=True)
            return
        interaction.client.runtime.scheduler.wake()  # type: ignore[attr-defined]
        # the post itself records the go-ahead: no extra message in the room
        content = interaction.message.content if interaction.message else ""
        accepted = accepted_text(episode, interaction.user)
        post = f"{clip(content, MESSAGE_LIMIT - len(accepted) - 1)}\n{accepted}"
        await interaction.response.edit_message(content=post, view=None)


class RenderAnyway(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"render:confirm:(?P<episode>\d+):(?P<revision>\d+)",
):
    """Accepts the plan as it was when asked, and queues its render."""

    def __init__(self, episode_id: int, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Render anyway",
                style=discord.ButtonStyle.danger,
                custom_id=f"render:confirm:{episode_id}:{revision}",
            )
        )
        self.episode_id, self.revision = episode_id, revision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RenderAnyway:
        return cls(int(match["episode"]), int(match["revision"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: Any = interaction.client
        try:
            episode = accept_by(bot.runtime.db, interaction.user, self.episode_id, self.revision)
            await queue_render(bot, interaction, episode.id, update=True)
        except ShowrunnerError as error:
            await interaction.response.send_message(f"⚠️ {error}", ephemeral=True)


class RenderCancel(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"render:cancel:(?P<episode>\d+)"
):
    def __init__(self, episode_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.secondary,
                custom_id=f"render:cancel:{episode_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RenderCancel:
        return cls(int(match["episode"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content="Render cancelled.", view=None)


BUTTONS = (GoAhead, RenderAnyway, RenderCancel)  # registered on the bot at start-up


def go_ahead_view(episode: Episode) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(GoAhead(episode.id, episode.plan_revision))
    return view


def render_confirm_view(episode: Episode) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RenderAnyway(episode.id, episode.plan_revision))
    view.add_item(RenderCancel(episode.id))
    return view


async def storyboard_file(
    db: sqlite_utils.Database, episode: Episode, folder: Path
) -> discord.File | None:
    """The storyboard contact sheet (drawn off the event loop), or None: the post goes without."""
    try:
        board = load_storyboard(db, episode.id)
        path = await asyncio.to_thread(
            draw_storyboard, board, folder / f"storyboard_episode{episode.number}.png"
        )
    except Exception:
        log.exception("no storyboard for episode %s", episode.id)
        return None
    return discord.File(path, filename=path.name)


async def post_for_go_ahead(
    channel: discord.abc.Messageable, db: sqlite_utils.Database, episode_id: int
) -> discord.Message:
    """The compact plan, the storyboard and a "Go ahead" button, after a plan change."""
    episode = episodes.get_episode(db, episode_id)
    summary = plan.plan_summary(db, episode.id, limit=1700)
    text = neutralise_mentions(
        clip(f"📋 The plan changed (revision {episode.plan_revision}).\n{summary}", 1850)
        + "\nGo ahead with this plan?"
    )
    with tempfile.TemporaryDirectory(prefix="storyboard-") as folder:
        sheet = await storyboard_file(db, episode, Path(folder))
        files = [sheet] if sheet else []
        return await channel.send(text, files=files, view=go_ahead_view(episode))


def accepted_text(episode: Episode, member: discord.abc.User) -> str:
    return (
        f"✅ {member.display_name} accepted the plan of episode {episode.number} "
        f"(revision {episode.accepted_revision}). Use /render to shoot it."
    )
