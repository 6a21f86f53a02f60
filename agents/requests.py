"""What a writers'-room message asks for, read in code where a small model would miss it: it
answers "let's make episode 1: ..." with small talk, so a request for an episode or a season
goes straight to plan writing; so do a beat's new wording ("episode 2's twist: ...") and a
request to rewrite an episode from its beats."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


_SEASON_REQUEST = re.compile(
    r"\b(?:write|plan|start|create|make|begin)\s+(?:us\s+|me\s+)?"
    r"(?:(?:a|an|another|new|whole|short|first|\d+[\s-]*episodes?)\s+)*(?:season|series)\b"
    r"|(?:写|做|拍|开始)[^。\n]{0,10}?(?:一季|季)",
    re.IGNORECASE,
)
_EPISODE_COUNT = re.compile(r"(\d{1,4})[\s-]*(?:episodes?\b|集)", re.IGNORECASE)
_MINUTES = re.compile(r"(\d{1,4}(?:\.\d+)?)[\s-]*(?:minutes?\b|mins?\b|分钟)", re.IGNORECASE)
SEASON_EPISODES, SEASON_MINUTES = 5, 3.0  # as /season new


@dataclass(frozen=True)
class SeasonRequest:
    """ "Let's make a season of 3 episodes of 2 minutes: ..." (the message is the premise)."""

    episodes: int
    minutes: float


def season_request(text: str) -> SeasonRequest | None:
    if not _SEASON_REQUEST.search(text):
        return None
    count, minutes = _EPISODE_COUNT.search(text), _MINUTES.search(text)
    return SeasonRequest(
        int(count.group(1)) if count else SEASON_EPISODES,
        float(minutes.group(1)) if minutes else SEASON_MINUTES,
    )


BEATS = ("hook", "escalation", "twist", "cliffhanger")
_BEAT_EDIT = re.compile(
    r"\b(hook|escalation|twist|cliffhanger)\b[^:：\n]{0,60}[:：]\s*(\S[^\n]*)", re.IGNORECASE
)
_EPISODE_NUMBER = re.compile(r"\bepisode\s*(\d{1,3})\b|第\s*(\d{1,3})\s*集", re.IGNORECASE)
_REWRITE = re.compile(
    r"\b(?:re-?write|redo|write\s+again)\b(?:\s+(?:the|its|this|all|of|episode\s*\d+'?s?))*"
    r"\s+(?:episode|scenes)\b|重写",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BeatEdit:
    """ "Episode 2's twist: Gong Gong is her father" read in code (a small model would not)."""

    episode_number: int | None  # None: the current episode's
    beat: str
    text: str


@dataclass(frozen=True)
class RewriteRequest:
    """ "Rewrite episode 2" (its scenes and shots, from its beats)."""

    episode_number: int | None
    beats: tuple[str, ...]  # the beats named; none named: those changed since it was written


def episode_number(text: str) -> int | None:
    match = _EPISODE_NUMBER.search(text)
    return int(match.group(1) or match.group(2)) if match else None


_NEXT_EPISODE = re.compile(r"\b(?:new|next|another)\s+episode\b|下一集|新的一集", re.IGNORECASE)


def asks_for_a_new_episode(text: str, current_number: int | None) -> bool:
    """Whether a request for an episode means one after the current one ("next episode",
    "episode 2: ..." while episode 1 is the current one), not the current one again."""
    if current_number is None:
        return False
    number = episode_number(text)
    return bool(_NEXT_EPISODE.search(text)) or (number is not None and number > current_number)


def beat_edit(text: str) -> BeatEdit | None:
    match = _BEAT_EDIT.search(text)
    if match is None:
        return None
    return BeatEdit(episode_number(text[: match.start(2)]), match.group(1).lower(), match.group(2))


def rewrite_request(text: str) -> RewriteRequest | None:
    if not _REWRITE.search(text):
        return None
    named = tuple(beat for beat in BEATS if re.search(rf"\b{beat}\b", text, re.IGNORECASE))
    return RewriteRequest(episode_number(text), named)
