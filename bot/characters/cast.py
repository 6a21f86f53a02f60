"""The cast list and the takes a character reference is taken from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.formatting import MESSAGE_LIMIT, clip
from storage import episodes, plan, takes, voices
from storage.errors import InvalidInput, NotFound
from storage.models import Character, Project, Take

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


# /character voice's choices: the casting palette, by what a listener hears
VOICE_CHOICES = {
    f"{'high' if voice.name.startswith('f') else 'low'} {voice.name}, pitch {voice.pitch}, "
    f"{voice.rate} wpm": voice
    for voice in voices.PALETTE
}


def cast_lines(cast: list[Character]) -> str:
    """One line per character (name, seed, reference or not, voice, look), cut to fit one
    message."""
    lines = [
        f"**{c.name}** · seed {c.seed} · {'🖼️ reference' if c.reference_path else 'no reference'}"
        + (f" · 🗣️ {c.voice.describe()}" if c.voice else "")
        + (f" — {clip(c.look, 150)}" if c.look else "")
        for c in cast
    ]
    return clip("\n".join(lines), MESSAGE_LIMIT)


def take_of_project(bot: ShowrunnerBot, project: Project, take_id: int) -> Take:
    db = bot.runtime.db
    take = takes.get_take(db, take_id)
    episode = episodes.get_episode(db, plan.get_shot(db, take.shot_id).episode_id)
    if episode.project_id != project.id:
        raise NotFound(f"Take {take_id} does not exist.")
    return take


def approved_take_of_shot(bot: ShowrunnerBot, project: Project, number: int) -> Take:
    db = bot.runtime.db
    episode = episodes.current_episode(db, project.id)
    shots = plan.list_shots(db, episode.id) if episode else []
    shot = next((s for s in shots if s.number == number), None)
    if shot is None:
        raise NotFound(f"The current episode has no shot {number}.")
    if shot.approved_take_id is None:
        raise InvalidInput(f"Shot {number} has no approved take yet: give a take id instead.")
    return takes.get_take(db, shot.approved_take_id)
