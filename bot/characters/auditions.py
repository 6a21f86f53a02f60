"""/character audition: the post of three candidate voices (1️⃣-3️⃣) and the team's votes on it
(the pick and the quorum are pipeline.workflow's; this only posts and words them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.formatting import clip, neutralise_mentions
from pipeline import workflow
from storage import auditions, characters

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

PICKS = ("1️⃣", "2️⃣", "3️⃣")


async def post_audition(bot: ShowrunnerBot, audition_id: int) -> None:
    """The three readings, one attachment each, with 1️⃣-3️⃣ to vote (once, after a restart)."""
    db = bot.runtime.db
    audition = auditions.get_audition(db, audition_id)
    if audition.message_id is not None:
        return
    character = characters.get_character_by_id(db, audition.character_id)
    lines = [f"🎙️ **Audition for {character.name}**: “{clip(audition.line, 200)}”"]
    lines += [f"{PICKS[i]} {voice.describe()}" for i, voice in enumerate(audition.voices)]
    lines.append("Vote with 1️⃣-3️⃣: the pick that reaches the quorum is their voice.")
    files = [
        discord.File(path, filename=f"audition_{i + 1}.wav")
        for i, path in enumerate(audition.readings)
        if Path(path).is_file()
    ]
    channel = bot.get_partial_messageable(audition.channel_id)
    message = await channel.send(neutralise_mentions("\n".join(lines)), files=files)
    auditions.set_audition_post(db, audition.id, message.id)
    for emoji in PICKS[: len(audition.voices)]:
        await message.add_reaction(emoji)


async def count_audition_vote(
    bot: ShowrunnerBot, payload: discord.RawReactionActionEvent, on: bool
) -> None:
    """A 1️⃣-3️⃣ reaction on an audition post is a vote; the pick, once it has the quorum, is
    the character's voice, and the room is told."""
    db = bot.runtime.db
    emoji = str(payload.emoji)
    audition = auditions.audition_for_message(db, payload.message_id)
    if audition is None or emoji not in PICKS[: len(audition.voices)]:
        return
    auditions.vote(db, audition.id, payload.user_id, PICKS.index(emoji), on)
    voice = workflow.audition_vote(db, audition, payload.user_id) if on else None
    if voice is None:
        return
    character = characters.get_character_by_id(db, audition.character_id)
    await bot.get_partial_messageable(payload.channel_id).send(
        neutralise_mentions(f"🗣️ The team picked {emoji}: **{character.name}** now speaks in "
                            f"{voice.describe()}.")
    )  # fmt: skip
