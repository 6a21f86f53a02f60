"""Drafts in the review channel, and the team's votes on them (raw reaction events)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.formatting import clip, neutralise_mentions
from bot.review import retakes
from bot.review.drafts import NUMBERS, draft_attachments, line_caption, line_file, vote_for
from bot.upload_limits import MIB, UPLOAD_MARGIN, upload_limit
from pipeline import workflow
from pipeline.pictures.contact_sheet import contact_sheet_for_takes
from storage import episodes, events, lines, plan, projects, takes
from storage.status import TakeStatus

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)


class ReviewCog(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot
        self._votes_reread = False

    async def cog_load(self) -> None:
        self.bot.outbox.on(events.ShotReady, lambda event: self.post_draft(event.shot_id))
        self.bot.outbox.on(
            events.ClipApproved, lambda event: self.post_clip(event.shot_id, event.take_id)
        )
        self.bot.outbox.on(
            events.LineSpoken, lambda event: self.post_reading(event.shot_id, event.line_id)
        )

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if not self._votes_reread:  # on_ready comes again after each reconnection
            self._votes_reread = True
            await self.reread_votes()

    async def post_draft(self, shot_id: int) -> None:
        db = self.bot.runtime.db
        shot = plan.get_shot(db, shot_id)
        episode = episodes.get_episode(db, shot.episode_id)
        project = projects.get_project(db, episode.project_id)
        shot_takes = [
            take for take in takes.takes_for_shot(db, shot_id) if take.status == TakeStatus.REVIEW
        ]
        if not shot_takes or project.review_channel_id is None:
            return
        if all(take.message_id for take in shot_takes):
            return  # already posted before a restart
        text = [
            f"**Episode {episode.number} · Shot {shot.number}** — {clip(shot.description, 300)}"
        ]
        if shot.camera:
            text.append(f"Camera: {clip(shot.camera, 100)}")
        line = lines.current_line(db, shot)
        if shot.dialogue:
            text.append(f"> {clip(shot.dialogue, 300)}")
            if line is not None:
                text.append(line_caption(line))
        if shot_takes[0].kind == "keyframe":
            text.append("Keyframes: vote on the look; the approved one is animated into the clip.")
        if len(shot_takes) > 1:
            text.append("Pick a take with 1️⃣-4️⃣, 👎 to vote down, 🔁 for a retake.")
        else:
            text.append("Vote 👍 / 👎, or 🔁 for a retake.")
        shown = shot_takes[: len(NUMBERS)]
        # ids let a take's picture become a character's reference (/character reference take:)
        if len(shown) > 1:
            ids = " · ".join(f"{NUMBERS[i]} {take.id}" for i, take in enumerate(shown))
            text.append(f"Take ids: {ids}")
        else:
            text.append(f"Take id: {shown[0].id}")
        sheet = None
        if len(shown) > 1:
            sheet_path = self.bot.runtime.settings.media_dir / "sheets" / f"shot{shot.id}.png"
            sheet = await asyncio.to_thread(
                contact_sheet_for_takes,
                [(take.preview_path, take.media_path) for take in shown],
                sheet_path,
            )
        limit = upload_limit(self.bot, project)
        spoken = line_file(line, shot.number)
        room = limit - UPLOAD_MARGIN - (Path(line.media_path).stat().st_size if spoken else 0)
        attached, left_out = draft_attachments([Path(t.media_path) for t in shown], sheet, room)
        if left_out:
            numbers = ", ".join(str(number) for number in left_out)
            label = "Takes" if len(left_out) > 1 else "Take"
            shows = "; the contact sheet shows them." if sheet else "."
            text.append(
                f"{label} {numbers} not attached: over this server's upload limit "
                f"({limit / MIB:.0f} MiB){shows}"
            )
        files = [
            discord.File(path, filename=f"shot{shot.number}_{label}{path.suffix}")
            for path, label in attached
        ] + ([spoken] if spoken else [])
        channel = self.bot.get_partial_messageable(project.review_channel_id)
        message = await channel.send(neutralise_mentions("\n".join(text)), files=files)
        for take in shot_takes:
            takes.set_take_post(db, take.id, project.review_channel_id, message.id)
        legend = NUMBERS[: len(shot_takes)] if len(shot_takes) > 1 else (takes.THUMBS_UP,)
        for emoji in (*legend, takes.THUMBS_DOWN, takes.RETAKE):
            await message.add_reaction(emoji)

    async def post_clip(self, shot_id: int, take_id: int) -> None:
        """Keyframe-first review: show the clip animated from the approved keyframe."""
        db = self.bot.runtime.db
        shot = plan.get_shot(db, shot_id)
        episode = episodes.get_episode(db, shot.episode_id)
        project = projects.get_project(db, episode.project_id)
        if project.review_channel_id is None:
            return
        clip_path = Path(takes.get_take(db, take_id).media_path)
        limit = upload_limit(self.bot, project) - UPLOAD_MARGIN
        text = (
            f"🎬 **Episode {episode.number} · Shot {shot.number}**: "
            "the clip from the approved keyframe."
        )
        files = []
        if clip_path.is_file() and clip_path.stat().st_size <= limit:
            files.append(discord.File(clip_path, filename=f"shot{shot.number}_clip.mp4"))
        else:
            text += " (The clip is over this server's upload limit; it will be in the cut.)"
        channel = self.bot.get_partial_messageable(project.review_channel_id)
        await channel.send(text, files=files)

    async def post_reading(self, shot_id: int, line_id: int) -> None:
        """Another reading of a shot's line, asked for in a note: posted with its audio, in
        reply to the shot's draft."""
        db = self.bot.runtime.db
        shot = plan.get_shot(db, shot_id)
        episode = episodes.get_episode(db, shot.episode_id)
        project = projects.get_project(db, episode.project_id)
        if project.review_channel_id is None:
            return
        line = lines.get_line(db, line_id)
        text = f"🎙️ **Episode {episode.number} · Shot {shot.number}**, read again. " + line_caption(
            line
        )
        posts = [t.message_id for t in takes.takes_for_shot(db, shot_id) if t.message_id]
        channel = self.bot.get_partial_messageable(project.review_channel_id)
        reference = (
            discord.MessageReference(
                message_id=posts[-1], channel_id=project.review_channel_id, fail_if_not_exists=False
            )
            if posts
            else None
        )
        spoken = line_file(line, shot.number)
        await channel.send(
            neutralise_mentions(text),
            files=[spoken] if spoken else [],
            reference=reference,  # type: ignore[arg-type]
        )

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.bot.user is None or payload.user_id == self.bot.user.id:
            return
        await self.count_vote(payload.message_id, payload.user_id, str(payload.emoji))

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self.bot.user is None or payload.user_id == self.bot.user.id:
            return
        post_takes = takes.takes_for_message(self.bot.runtime.db, payload.message_id)
        choice = vote_for(str(payload.emoji), post_takes)
        if choice and takes.remove_vote(
            self.bot.runtime.db, choice[0].id, payload.user_id, choice[1]
        ):
            # a 👎 taken back can bring the take up to the quorum
            await self.apply_policy(choice[0].id)

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
        """What the votes on a take decide (pipeline.workflow), said in the draft's channel."""
        db = self.bot.runtime.db
        channel_id = takes.get_take(db, take_id).channel_id
        outcome = workflow.after_vote(db, take_id, channel_id=channel_id)
        if outcome is None:
            return
        self.bot.runtime.scheduler.wake()
        if channel_id is None:
            return
        channel = self.bot.get_partial_messageable(channel_id)
        match outcome:
            case workflow.MarkedForRetake(shot_number=number):
                await channel.send(
                    f"🔁 Shot {number} is marked for a retake. Reply to its draft with a note "
                    "(e.g. “darker sky”) to re-shoot it with the note, or /render re-shoots it "
                    "as is."
                )
            case workflow.KeyframeApproved(shot_number=number, clip_job=job):
                await channel.send(
                    f"✅ Shot {number}: keyframe approved. Rendering the clip from it; "
                    "the clip becomes the shot's approved take."
                )
                if job is not None and job.render_id is not None:
                    # the status board edits this message as the clip renders
                    await self.bot.status_board.post(
                        channel, job.render_id, f"⏳ Clip of shot {number}: queued"
                    )
            case workflow.ShotApproved(shot_number=number, episode_number=episode, cut_job=cut):
                await channel.send(f"✅ Shot {number} approved.")
                if cut is not None:
                    cutting = f"🎞️ Every shot of episode {episode} is approved: cutting it."
                    await channel.send(cutting)

    @commands.Cog.listener("on_message")
    async def on_retake_note(self, message: discord.Message) -> None:
        """A reply to a draft post is a retake note (bot.review.retakes)."""
        if message.author.bot or message.reference is None or not message.reference.message_id:
            return
        post_id = message.reference.message_id
        post_takes = takes.takes_for_message(self.bot.runtime.db, post_id)
        if post_takes and post_takes[0].channel_id == message.channel.id:
            await retakes.take_note(self.bot, message, post_id, post_takes)

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
