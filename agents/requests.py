"""What a writers'-room message asks for, read in code: a small model answers "let's make
episode 1: ..." with small talk, so a request for an episode or a season is recognised here
and goes straight to plan writing."""

from __future__ import annotations

import re

_EPISODE_REQUEST = re.compile(
    r"\b(?:new|next|first|another|an?)\s+episode\b"
    r"|\bepisode\s*\d+\s*[:：\-–—]"
    r"|\bepisode\s+(?:about|where|in which|of|on)\b"
    r"|\b(?:write|plan|start|create|make|begin)\s+(?:a|an|another|new)\s+(?:new\s+)?"
    r"(?:season|series|show|drama|story)\b"
    r"|第\s*[一二三四五六七八九十百\d]+\s*集\s*[：:]"
    r"|(?:写|做|拍|开始)(?:一|第一|新的一|下一)?(?:集|季|部短剧)",
    re.IGNORECASE,
)


def asks_for_an_episode(text: str) -> bool:
    """Whether `text` asks for an episode or a season to be written (not an edit of one)."""
    return bool(_EPISODE_REQUEST.search(text))
