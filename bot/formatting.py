"""Text for Discord: within its limits, and unable to ping anyone."""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000
_MENTION = re.compile(r"<(@[!&]?|#)(\d+)>")


def neutralise_mentions(text: str) -> str:
    """Break @everyone/@here and user/role/channel mentions (allowed_mentions is none too)."""
    text = text.replace("@everyone", "@\u200beveryone").replace("@here", "@\u200bhere")
    return _MENTION.sub(lambda match: f"<{match.group(1)}\u200b{match.group(2)}>", text)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at line breaks (or hard) so every part fits one Discord message."""
    text = neutralise_mentions(text.strip()) or "…"
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return parts


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
