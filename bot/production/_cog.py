"""Production commands: /project new|settings|status and /render."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import plan_gate
from bot.channel_projects import project_here
from bot.formatting import MESSAGE_LIMIT, clip, neutralise_mentions
from bot.permissions import require_director
from bot.production.settings_text import settings_text
from bot.render_requests import queue_render
from pipeline.cut.uploads import MUSIC_FOLDER, check_music_upload, remove_music, store_music
from storage import episodes, plan, projects
from storage.errors import InvalidInput

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class ProductionCog(commands.Cog):
    project = app_commands.Group(
        name="project", description="Create and configure a project", guild_only=True
    )

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @project.command(name="new", description="Make this channel a project's writers' room")
    @app_commands.describe(
        title="The series title",
        review="Channel for draft takes and votes (default: this one)",
        delivery="Channel for finished episodes (default: this one)",
    )
    async def project_new(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 100],
        review: discord.TextChannel | None = None,
        delivery: discord.TextChannel | None = None,
    ) -> None:
        created = projects.create_project(
            self.bot.runtime.db,
            title,
            guild_id=interaction.guild_id,
            writers_channel_id=interaction.channel_id,
            review_channel_id=review.id if review else None,
            delivery_channel_id=delivery.id if delivery else None,
            created_by=interaction.user.id,
            width=self.bot.runtime.settings.showrunner_width,
            height=self.bot.runtime.settings.showrunner_height,
            fps=self.bot.runtime.settings.showrunner_fps,
        )
        await interaction.response.send_message(
            f"🎬 **{neutralise_mentions(created.title)}** is set up. This channel is the writers' "
            f"room: tell me the premise and I'll draft a plan. Drafts go to "
            f"<#{created.review_channel_id}>, finished episodes to "
            f"<#{created.delivery_channel_id}>."
        )

    @project.command(name="settings", description="Change the project's settings (directors)")
    @app_commands.describe(
        quorum="Net 👍 votes that approve a take",
        director_role="The project's director role",
        review_mode="Review finished clips, or keyframes first (clips follow approved keyframes)",
        title_card_seconds="Title card length in seconds, 0-10 (0: no title card)",
        end_card_seconds="End card length in seconds, 0-10 (0: no end card)",
        credits='Credits on the end card, up to 300 characters ("-" clears them)',
        music="A music bed for the cut: an audio file up to 25 MiB",
        music_volume="Music volume under the episode, 0-1",
        music_off="Remove the music bed",
    )
    async def project_settings(
        self,
        interaction: discord.Interaction,
        quorum: app_commands.Range[int, 1, 50] | None = None,
        director_role: discord.Role | None = None,
        review_mode: Literal["clips", "keyframes"] | None = None,
        title_card_seconds: app_commands.Range[float, 0, 10] | None = None,
        end_card_seconds: app_commands.Range[float, 0, 10] | None = None,
        credits: app_commands.Range[str, 1, 300] | None = None,
        music: discord.Attachment | None = None,
        music_volume: app_commands.Range[float, 0, 1] | None = None,
        music_off: bool = False,
    ) -> None:
        runtime = self.bot.runtime
        current = project_here(runtime.db, interaction.channel_id)
        require_director(interaction.user, current)
        music_file: Path | None = None
        if music is not None:
            if music_off:
                raise InvalidInput("Upload music or turn it off, not both at once.")
            check_music_upload(music.filename, music.size)  # refuse before downloading
            await interaction.response.defer(thinking=True)
            data = await music.read()
            music_file, _ = await store_music(
                data, music.filename, runtime.settings.media_dir, current.id
            )
        try:
            updated = projects.update_settings(
                runtime.db,
                current.id,
                quorum=quorum,
                director_role_id=director_role.id if director_role else None,
                review_mode=review_mode,
                title_card_seconds=title_card_seconds,
                end_card_seconds=end_card_seconds,
                credits="" if credits is not None and credits.strip() == "-" else credits,
                music_volume=music_volume,
            )
            if music_file is not None:
                # relative to the media folder, as the cut reads it (the data dir may be relative)
                relative = Path(MUSIC_FOLDER) / music_file.name
                updated = projects.set_music(runtime.db, current.id, str(relative))
        except BaseException:
            if music_file is not None:
                music_file.unlink(missing_ok=True)  # the project still uses its old music
            raise
        if music_file is not None:
            remove_music(runtime.settings.media_dir, current.id, keep=music_file)
        elif music_off:
            updated = projects.set_music(runtime.db, current.id, "")
            remove_music(runtime.settings.media_dir, current.id)
        uploaded = music.filename if music_file and music else ""
        text = settings_text(updated, uploaded, runtime.engine)
        if interaction.response.is_done():
            await interaction.followup.send(text)
        else:
            await interaction.response.send_message(text)

    @project.command(name="status", description="The current episode's plan and progress")
    async def project_status(self, interaction: discord.Interaction) -> None:
        current = project_here(self.bot.runtime.db, interaction.channel_id)
        episode = episodes.current_episode(self.bot.runtime.db, current.id)
        if episode is None:
            text = f"**{current.title}** has no episode yet. Tell me the premise."
            await interaction.response.send_message(neutralise_mentions(clip(text, MESSAGE_LIMIT)))
            return
        summary = plan.plan_summary(self.bot.runtime.db, episode.id, limit=1900)
        text = neutralise_mentions(clip(summary, MESSAGE_LIMIT))
        if not plan.list_shots(self.bot.runtime.db, episode.id):
            await interaction.response.send_message(text)
            return
        # drawing dozens of thumbnails may take longer than Discord's 3 s
        await interaction.response.defer(thinking=True)
        with tempfile.TemporaryDirectory(prefix="showrunner-storyboard-") as folder:
            sheet = await plan_gate.storyboard_file(self.bot.runtime.db, episode, Path(folder))
            if sheet is None:
                await interaction.followup.send(
                    f"{text[:1900]}\n(The storyboard could not be drawn.)"
                )
            else:
                await interaction.followup.send(text, file=sheet)

    @app_commands.command(name="render", description="Render the current episode's shots")
    @app_commands.guild_only()
    async def render(self, interaction: discord.Interaction) -> None:
        runtime = self.bot.runtime
        current = project_here(runtime.db, interaction.channel_id)
        episode = episodes.current_episode(runtime.db, current.id)
        if episode is None:
            raise InvalidInput("There is no plan to render yet: describe the episode first.")
        if not episode.plan_accepted:
            # the plan gate: nothing renders before someone accepts this revision of the plan
            since = (
                f"The plan of episode {episode.number} changed since revision "
                f"{episode.accepted_revision} was accepted (now revision {episode.plan_revision})."
                if episode.accepted_revision
                else f"Nobody has accepted the plan of episode {episode.number} "
                f"(revision {episode.plan_revision}) yet."
            )
            await interaction.response.send_message(
                f"{since} Render it anyway? That accepts the plan as it is now.",
                view=plan_gate.render_confirm_view(episode),
            )
            return
        await queue_render(self.bot, interaction, episode.id)
