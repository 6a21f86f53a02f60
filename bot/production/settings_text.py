"""The project settings as the team reads them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.formatting import clip, neutralise_mentions
from pipeline.render.queue import EngineChoice, keyframes_first
from storage.models import Project

if TYPE_CHECKING:
    pass


def settings_text(project: Project, uploaded: str = "", engine: EngineChoice | None = None) -> str:
    """The settings in force, as the reply to /project settings."""
    role = f"<@&{project.director_role_id}>" if project.director_role_id else "not set"
    cards = [
        f"title card {project.title_card_seconds:g} s" if project.title_card_seconds else "",
        f"end card {project.end_card_seconds:g} s" if project.end_card_seconds else "",
    ]
    if project.music_path:
        shown = neutralise_mentions(clip(uploaded, 80))
        music = f"🎵 music: {'`' + shown + '` (new) ' if uploaded else 'on '}"
        music += f"at volume {project.music_volume:g}"
    else:
        music = "🎵 music: none"
    # the members' own text is shown and never pings; the role is a mention on purpose
    credits = f"`{neutralise_mentions(clip(project.credits, 300))}`" if project.credits else "none"
    review_note = ""
    if project.review_mode == "keyframes" and engine and not keyframes_first(project, engine):
        review_note = (
            " (this bot renders full clips: keyframe review needs SHOWRUNNER_ENGINE=video "
            "with a keyframe model in SHOWRUNNER_MODEL)"
        )
    return "\n".join(
        [
            f"Settings of **{neutralise_mentions(project.title)}**:",
            f"• quorum {project.quorum}, director role {role}",
            f"• review: {project.review_mode}{review_note}",
            f"• cards: {', '.join(c for c in cards if c) or 'none'}",
            f"• credits: {credits}",
            f"• {music}",
        ]
    )
