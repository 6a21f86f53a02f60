"""Plain text for plans: what a model writes into a plan field is cleaned of markup, links and
template tokens before anything is stored, because it ends up on cards, subtitles and prompts.

A small model copies what it saw in training (`<img src=...>`, `{{image}}`, `<p>...`); none of
that is story. What is left after cleaning is the text a reader would have seen.
"""

from __future__ import annotations

import html
import re

_TEMPLATE = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|<\|.*?\|>|\$\{[^}]*\}|\[/?(?:INST|SYS)\]|</?s>",
    re.DOTALL,
)
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
# a tag, closed or cut off ("<img src='" with nothing after), and attributes left without one
_TAG = re.compile(
    r"<!--.*?(?:-->|$)|</?[A-Za-z][\w-]*(?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"?|'[^']*'?|[^\s>]*))?)*"
    r"\s*/?>?",
    re.DOTALL,
)
_ATTRIBUTE = re.compile(
    r"\b(?:img\s+)?(?:src|href|class|style|alt)\s*=\s*(?:\"[^\"]*\"?|'[^']*'?|\S*)", re.I
)
_PLACEHOLDER = re.compile(r"\[[a-z_ ]{1,40}\]")  # [story_description], [new description]
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+|\b[\w.-]+\.(?:com|net|org|io|cn)/\S*", re.I)
_MARKDOWN_MARKS = re.compile(r"(\*\*|__|`+|^#{1,6}\s+|^>\s+|^[-*]\s+)", re.MULTILINE)
_LEFTOVER = re.compile(r"[{}<>\[\]]")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w")
_QUOTES = ('"', "'", "“", "”", "「", "」")


def valid_unicode(value: str) -> str:
    """`value` without lone surrogates ("\\ud8a4" in a model's JSON), which no text can hold."""
    return value.encode("utf-8", "ignore").decode("utf-8")


def clean_text(value: str) -> str:
    """`value` without markup, links and template tokens, on one line, outer quotes removed."""
    text = html.unescape(valid_unicode(value))
    text = _TEMPLATE.sub(" ", text)
    text = _MARKDOWN_IMAGE.sub(" ", text)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _ATTRIBUTE.sub(" ", text)
    text = _PLACEHOLDER.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _MARKDOWN_MARKS.sub("", text)
    text = _LEFTOVER.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    while len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text if _WORD.search(text) else ""  # "," or "..." says nothing


def has_markup(value: str) -> bool:
    """Whether stored text still holds markup, a link or a template token (the eval's check)."""
    patterns = (
        _TEMPLATE,
        _MARKDOWN_IMAGE,
        _MARKDOWN_LINK,
        _TAG,
        _URL,
        _ATTRIBUTE,
        _PLACEHOLDER,
        _LEFTOVER,
    )
    return any(pattern.search(value) for pattern in patterns)


_NOT_IN_NAMES = re.compile(r"[^\w\s'’.·-]")
_NAME_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def clean_name(value: str) -> str:
    """A character's name: letters (any script), digits, spaces, apostrophes, dots, hyphens.
    Quotes and backslashes never get in: a name goes into a decoder's grammar as a literal."""
    text = _NOT_IN_NAMES.sub(" ", clean_text(value))
    return _NAME_EDGES.sub("", _SPACE.sub(" ", text).strip())
