"""The cast: /character list, /character voice (how a character speaks), and /character
reference (the image a character renders from)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from PIL import Image

from bot.channel_projects import project_of_channel
from bot.characters.auditions import count_audition_vote, post_audition
from bot.characters.cast import (
    VOICE_CHOICES,
    approved_take_of_shot,
    cast_lines,
    take_of_project,
)
from bot.formatting import clip, neutralise_mentions
from bot.permissions import require_director
from pipeline.pictures.contact_sheet import take_picture
from pipeline.pictures.references import MAX_UPLOAD_BYTES, read_upload, store_reference
from pipeline.sound.auditions import queue_audition
from pipeline.sound.clips import check_clip_size, store_clip
from storage import characters, events, plan, voices
from storage.errors import InvalidInput
from storage.models import Character, Take

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class CharactersCog(commands.Cog):
    character = app_commands.Group(
        name="character", description="The cast: looks, seeds and reference images", guild_only=True
    )

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.outbox.on(
            events.AuditionReady, lambda event: post_audition(self.bot, event.audition_id)
        )

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.bot.user is not None and payload.user_id != self.bot.user.id:
            await count_audition_vote(self.bot, payload, on=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self.bot.user is not None and payload.user_id != self.bot.user.id:
            await count_audition_vote(self.bot, payload, on=False)

    @character.command(name="audition", description="Three voices read a character's line")
    @app_commands.describe(name="The character")
    async def character_audition(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 80]
    ) -> None:
        runtime = self.bot.runtime
        project = project_of_channel(runtime.db, interaction.channel_id)
        character = characters.get_character(runtime.db, project.id, name)
        assert interaction.channel_id is not None
        audition = queue_audition(
            runtime.db, character, interaction.channel_id, interaction.user.id
        )
        runtime.scheduler.wake()
        await interaction.response.send_message(
            neutralise_mentions(
                f"🎙️ Three voices are reading “{clip(audition.line, 200)}” for "
                f"**{character.name}**; the audition is posted here when they are done."
            )
        )

    @character.command(name="list", description="The project's characters")
    async def character_list(self, interaction: discord.Interaction) -> None:
        project = project_of_channel(self.bot.runtime.db, interaction.channel_id)
        cast = characters.list_characters(self.bot.runtime.db, project.id)
        if not cast:
            text = "No characters yet: the agent adds them when it writes the plan."
        else:
            text = neutralise_mentions(cast_lines(cast))
        await interaction.response.send_message(text)

    @character.command(name="voice", description="A character's voice (directors choose one)")
    @app_commands.describe(
        name="The character",
        voice="The voice to speak in from now on",
        clip="A recording of the voice (2 s to 2 min), for engines that clone one",
    )
    @app_commands.choices(
        voice=[app_commands.Choice(name=label, value=label) for label in VOICE_CHOICES]
    )
    async def character_voice(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 80],
        voice: app_commands.Choice[str] | None = None,
        clip: discord.Attachment | None = None,
    ) -> None:
        db = self.bot.runtime.db
        project = project_of_channel(db, interaction.channel_id)
        character = characters.get_character(db, project.id, name)
        if clip is not None:
            await self.keep_clip(interaction, character, clip)
            return
        if voice is None:
            current = character.voice or voices.cast_voice(db, character.id)
            await interaction.response.send_message(
                neutralise_mentions(f"🗣️ **{character.name}** speaks in {current.describe()}.")
            )
            return
        require_director(interaction.user, project)
        chosen = VOICE_CHOICES[voice.value]
        voices.set_voice(db, character, chosen, author_id=interaction.user.id)
        await interaction.response.send_message(
            neutralise_mentions(f"🗣️ **{character.name}** now speaks in {chosen.describe()}.")
        )

    async def keep_clip(
        self, interaction: discord.Interaction, character: Character, upload: discord.Attachment
    ) -> None:
        runtime = self.bot.runtime
        require_director(interaction.user, project_of_channel(runtime.db, interaction.channel_id))
        name = f"`{upload.filename[:80]}`"
        check_clip_size(upload.size, name)
        await interaction.response.defer(thinking=True)  # reading it may take seconds
        folder = runtime.settings.media_dir / "voices" / f"character{character.id}"
        path = await store_clip(await upload.read(), name, folder)
        current = character.voice or voices.cast_voice(runtime.db, character.id)
        kept = voices.set_voice(
            runtime.db, character, replace(current, clip=str(path)),
            author_id=interaction.user.id, reason="voice clip",
        )  # fmt: skip
        model = runtime.settings.showrunner_speech_model
        who = (
            f"From now on {model} speaks their lines, cloned from it (on workers that run it)."
            if model
            else "The embedded voices (espeak-ng, Piper) do not clone: with a speech model "
            "(SHOWRUNNER_SPEECH_MODEL) their lines are spoken from it."
        )
        await interaction.followup.send(
            neutralise_mentions(
                f"🗣️ {name} is kept as **{character.name}**'s voice clip ({kept.describe()}). " + who
            )
        )

    @character.command(name="reference", description="Set a character's reference image")
    @app_commands.describe(
        name="The character",
        take="A take id to take the picture from",
        shot="A shot number of the current episode: its approved take",
        image="An image to upload instead (PNG, JPEG or WebP)",
    )
    async def character_reference(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 80],
        take: app_commands.Range[int, 1] | None = None,
        shot: app_commands.Range[int, 1] | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        runtime = self.bot.runtime
        project = project_of_channel(runtime.db, interaction.channel_id)
        require_director(interaction.user, project)
        if (take is not None) + (shot is not None) + (image is not None) != 1:
            raise InvalidInput("Give exactly one of take, shot or image.")
        character = characters.get_character(runtime.db, project.id, name)
        chosen: Take | None = None
        if image is not None and image.size > MAX_UPLOAD_BYTES:
            raise InvalidInput(f"`{image.filename[:80]}` is over 20 MiB.")
        if take is not None:
            chosen = take_of_project(self.bot, project, take)
        elif shot is not None:
            chosen = approved_take_of_shot(self.bot, project, shot)
        # reading an upload or a clip's frame may take a while: answer within Discord's 3 s
        await interaction.response.defer(thinking=True)
        picture: Image.Image | None
        if chosen is None:
            assert image is not None
            data = await image.read()
            picture = await asyncio.to_thread(read_upload, data, f"`{image.filename[:80]}`")
            source = "the uploaded image"
        else:
            picture = await asyncio.to_thread(take_picture, chosen.preview_path, chosen.media_path)
            if picture is None:
                raise InvalidInput(f"Take {chosen.id}'s picture is gone: pick another take.")
            shot_number = plan.get_shot(runtime.db, chosen.shot_id).number
            source = f"take {chosen.id} (shot {shot_number})"
        path = await asyncio.to_thread(
            store_reference, picture, runtime.settings.media_dir, character.id
        )
        characters.set_reference(
            runtime.db,
            character.id,
            str(path),
            author_id=interaction.user.id,
            reason=f"reference from {source}",
        )
        await interaction.followup.send(
            f"🖼️ **{character.name}**'s reference is now {source}. Shots with "
            f"{character.name} pass it to the model when it supports reference images.",
            file=discord.File(path, filename="reference.png"),
        )
