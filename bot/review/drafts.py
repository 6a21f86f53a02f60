"""Which take a vote reaction is for, and the files a draft post attaches (its takes, and its
line's audio)."""

from __future__ import annotations

from pathlib import Path

import discord

from bot.formatting import clip
from storage import takes
from storage.models import Line, Take

NUMBERS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣")
MAX_ATTACHMENTS = 10  # Discord's limit per message


def vote_for(emoji: str, post_takes: list[Take]) -> tuple[Take, str] | None:
    """Which take an emoji votes for, and as what. Numbers pick a take (a 👍 for it)."""
    if emoji in NUMBERS:
        index = NUMBERS.index(emoji)
        return (post_takes[index], takes.THUMBS_UP) if index < len(post_takes) else None
    if emoji in takes.VOTE_EMOJIS and post_takes:
        return post_takes[0], emoji
    return None


def draft_attachments(
    media: list[Path], sheet: Path | None, budget: int
) -> tuple[list[tuple[Path, str]], list[int]]:
    """(path, label) of what a draft post attaches: the contact sheet first, then each take's
    file while the upload budget and Discord's 10 attachments allow; and the take numbers left
    out (too big, or their file is gone)."""
    attached: list[tuple[Path, str]] = []
    used = 0
    if sheet is not None:
        attached.append((sheet, "takes"))
        used = sheet.stat().st_size
    left_out = []
    for number, path in enumerate(media, start=1):
        size = path.stat().st_size if path.is_file() else None
        if size is None or used + size > budget or len(attached) >= MAX_ATTACHMENTS:
            left_out.append(number)
            continue
        attached.append((path, f"take{number}"))
        used += size
    return attached, left_out


def line_caption(line: Line | None) -> str:
    """What a draft says of its line's audio: who speaks it and how long, or why it is silent."""
    if line is None:
        return ""
    if not line.spoken:
        return f"🔇 The line was not spoken ({clip(line.error, 200)}); it is subtitled."
    who = line.speaker or "the narrator"
    reading = f", read {line.reading}" if line.reading else ""
    return f"🔊 Spoken by {who} ({line.voice.describe()}{reading}): {line.seconds:.1f} s"


def line_file(line: Line | None, shot_number: int) -> discord.File | None:
    """The line's WAV as an attachment, when it was spoken and its file is there."""
    if line is None or not line.spoken or not Path(line.media_path).is_file():
        return None
    return discord.File(line.media_path, filename=f"shot{shot_number}_line.wav")
