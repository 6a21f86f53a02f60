"""The delivery post: who approved what, packed into an embed, and the master's note."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import discord
import sqlite_utils

from bot.formatting import clip
from bot.upload_limits import MIB
from storage import takes
from storage.models import Episode, Project, Shot

if TYPE_CHECKING:
    pass


FIELD_LIMIT = 1024
APPROVAL_FIELDS = 3
MORE_ROOM = 24  # kept free in the last approvals field for "… and N more"
MENTIONS_PER_SHOT = 5
POSTER_NAME = "poster.png"


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def approvers(db: sqlite_utils.Database, take_id: int, bot_id: int | None) -> list[int]:
    """Users whose 👍 counts on a take, first voter first (the bot's own never counts)."""
    return [user_id for user_id in takes.thumbs_up_voters(db, take_id) if user_id != bot_id]


def approval_line(shot: Shot, voters: Sequence[int]) -> str:
    """One shot's approved take and who approved it (mentions in an embed never ping)."""
    if shot.approved_take_id is None:
        return f"Shot {shot.number}: no approved take"
    who = ", ".join(f"<@{user_id}>" for user_id in voters[:MENTIONS_PER_SHOT])
    if len(voters) > MENTIONS_PER_SHOT:
        who += f" +{len(voters) - MENTIONS_PER_SHOT}"
    return f"Shot {shot.number}: take {shot.approved_take_id} — {who or 'approved without votes'}"


def approval_lines(
    db: sqlite_utils.Database, shots: Sequence[Shot], bot_id: int | None
) -> list[str]:
    return [
        approval_line(shot, approvers(db, voted_take(db, shot.approved_take_id), bot_id))
        if shot.approved_take_id is not None
        else approval_line(shot, [])
        for shot in shots
    ]


def voted_take(db: sqlite_utils.Database, take_id: int) -> int:
    """The take the team voted on: a clip from an approved keyframe carries the keyframe's votes."""
    take = takes.get_take(db, take_id)
    return take.source_take_id or take.id


def pack_lines(lines: Sequence[str], max_fields: int, limit: int = FIELD_LIMIT) -> list[str]:
    """Lines packed into at most max_fields values of at most limit characters; lines that do
    not fit are counted in a last "… and N more"."""
    fields: list[list[str]] = [[]]
    for index, line in enumerate(lines):
        line = clip(line, 200)
        room = limit - (MORE_ROOM if len(fields) == max_fields else 0)
        if len("\n".join([*fields[-1], line])) > room:
            if len(fields) == max_fields:
                fields[-1].append(f"… and {len(lines) - index} more")
                break
            fields.append([])
        fields[-1].append(line)
    return ["\n".join(field) for field in fields if field]


def delivery_embed(
    project: Project, episode: Episode, shots: Sequence[Shot], approvals: Sequence[str]
) -> discord.Embed:
    """The episode card: title, synopsis, duration, shot count and who approved which take."""
    embed = discord.Embed(
        title=clip(f"{project.title} — Episode {episode.number}: {episode.title}", 256),
        description=clip(episode.synopsis, 500) or None,
    )
    embed.add_field(name="Duration", value=minutes(sum(shot.duration for shot in shots)))
    embed.add_field(name="Shots", value=str(len(shots)))
    for index, value in enumerate(pack_lines(approvals, APPROVAL_FIELDS)):
        name = "Approved takes" if index == 0 else "Approved takes (continued)"
        embed.add_field(name=name, value=value, inline=False)
    return embed


def master_note(master: Path, sent: Path | None, limit: int, problem: str) -> str:
    """Why the attachment is not the master, and where the master is; empty when it is."""
    where = f"The full-quality master is kept at `{clip(str(master), 700)}`."
    if sent is None:
        return clip(f"Not attached: {clip(problem, 250)}. {where}", FIELD_LIMIT)
    if sent == master:
        return ""
    size = master.stat().st_size / MIB
    return clip(
        f"The master ({size:.1f} MiB) is too big for this server's {limit / MIB:.1f} MiB "
        f"upload limit, so a smaller copy is attached. {where}",
        FIELD_LIMIT,
    )
