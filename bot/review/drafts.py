"""Which take a vote reaction is for, and the files a draft post attaches."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from storage import takes
from storage.models import Take

if TYPE_CHECKING:
    pass


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
