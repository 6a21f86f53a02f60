"""Drafts in the review channel, and the team's votes on them (raw reaction events)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.formatting import clip, neutralise_mentions
from pipeline.render_queue import queue_episode_cut
from storage import plan, projects, takes
from storage.errors import ShowrunnerError
from storage.models import Take

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
NUMBERS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣")


def vote_for(emoji: str, post_takes: list[Take]) -> tuple[Take, str] | None:
    """Which take an emoji votes for, and as what. Numbers pick a take (a 👍 for it)."""
    if emoji in NUMBERS:
        index = NUMBERS.index(emoji)
        return (post_takes[index], takes.THUMBS_UP) if index < len(post_takes) else None
    if emoji in takes.VOTE_EMOJIS and post_takes:
        return post_takes[0], emoji
    return None


class ReviewCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    async def post_draft(self, shot_id: int) -> None:
        db = self.bot.runtime.db
        shot = plan.get_shot(db, shot_id)
        episode = plan.get_episode(db, shot.episode_id)
        project = projects.get_project(db, episode.project_id)
        shot_takes = [take for take in takes.takes_for_shot(db, shot_id) if take.status == "review"]
        if not shot_takes or project.review_channel_id is None:
            return
        if all(take.message_id for take in shot_takes):
            return  # already posted before a restart
        lines = [
            f"**Episode {episode.number} · Shot {shot.number}** — {clip(shot.description, 300)}"
        ]
        if shot.camera:
            lines.append(f"Camera: {clip(shot.camera, 100)}")
        if shot.dialogue:
            lines.append(f"> {clip(shot.dialogue, 300)}")
        if len(shot_takes) > 1:
            lines.append("Pick a take with 1️⃣-4️⃣, 👎 to vote down, 🔁 for a retake.")
        else:
            lines.append("Vote 👍 / 👎, or 🔁 for a retake.")
        files = [
            discord.File(take.media_path, filename=f"shot{shot.number}_take{i + 1}.mp4")
            for i, take in enumerate(shot_takes[:4])
            if Path(take.media_path).exists()
        ]
        channel = self.bot.get_partial_messageable(project.review_channel_id)
        message = await channel.send(neutralise_mentions("\n".join(lines)), files=files)
        for take in shot_takes:
            takes.set_take_post(db, take.id, project.review_channel_id, message.id)
        legend = NUMBERS[: len(shot_takes)] if len(shot_takes) > 1 else (takes.THUMBS_UP,)
        for emoji in (*legend, takes.THUMBS_DOWN, takes.RETAKE):
            await message.add_reaction(emoji)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.bot.user is None or payload.user_id == self.bot.user.id:
            return
        await self.count_vote(payload.message_id, payload.user_id, str(payload.emoji))

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        post_takes = takes.takes_for_message(self.bot.runtime.db, payload.message_id)
        choice = vote_for(str(payload.emoji), post_takes)
        if choice:
            takes.remove_vote(self.bot.runtime.db, choice[0].id, payload.user_id, choice[1])

    async def count_vote(self, message_id: int, user_id: int, emoji: str) -> None:
        db = self.bot.runtime.db
        post_takes = takes.takes_for_message(db, message_id)
        choice = vote_for(emoji, post_takes)
        if choice is None:
            return
        take, vote = choice
        if not takes.add_vote(db, take.id, user_id, vote):
            return
        await self.apply_policy(take.id)

    async def apply_policy(self, take_id: int) -> None:
        db = self.bot.runtime.db
        take = takes.get_take(db, take_id)
        shot = plan.get_shot(db, take.shot_id)
        episode = plan.get_episode(db, shot.episode_id)
        project = projects.get_project(db, episode.project_id)
        decision = takes.decide(db, take_id, project.quorum)
        if decision is None or take.channel_id is None:
            return
        channel = self.bot.get_partial_messageable(take.channel_id)
        if decision == "retake":
            await channel.send(
                f"🔁 Shot {shot.number} is marked for a retake; /render re-shoots it."
            )
            return
        await channel.send(f"✅ Shot {shot.number} approved.")
        try:
            cut = queue_episode_cut(db, episode.id)
        except ShowrunnerError:
            return  # other shots still need an approved take
        if cut is not None:
            await channel.send(f"🎞️ Every shot of episode {episode.number} is approved: cutting it.")
            self.bot.runtime.scheduler.wake()

    async def reread_votes(self) -> None:
        """Count reactions added while the bot was away (each vote is stored once)."""
        bot_id = self.bot.user.id if self.bot.user else 0
        seen: set[int] = set()
        for take in takes.takes_in_review_with_posts(self.bot.runtime.db):
            if take.message_id in seen or take.channel_id is None or take.message_id is None:
                continue
            seen.add(take.message_id)
            try:
                channel = self.bot.get_partial_messageable(take.channel_id)
                message = await channel.fetch_message(take.message_id)
            except discord.HTTPException as error:
                log.warning("could not re-read votes of message %s: %s", take.message_id, error)
                continue
            for reaction in message.reactions:
                async for user in reaction.users(limit=None):
                    if user.id != bot_id:
                        await self.count_vote(message.id, user.id, str(reaction.emoji))


async def setup(bot: ShowrunnerBot) -> None:
    await bot.add_cog(ReviewCog(bot))
