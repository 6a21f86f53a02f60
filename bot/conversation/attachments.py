"""Text files attached to a chat message, read as part of it."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)
# uploaded text files are read as part of the message, up to this size each
MAX_TEXT_ATTACHMENT_BYTES = 20_000
MAX_TEXT_ATTACHMENTS = 3


def is_text_file(attachment: discord.Attachment) -> bool:
    content_type = (attachment.content_type or "").split(";")[0].strip()
    return attachment.filename.lower().endswith((".txt", ".md")) or content_type == "text/plain"


async def read_text_attachments(message: discord.Message) -> tuple[str, list[str]]:
    """The text of uploaded .txt files (bounded), and notes on the files that were skipped."""
    parts: list[str] = []
    skipped: list[str] = []
    for attachment in message.attachments:
        if not is_text_file(attachment):
            skipped.append(f"{attachment.filename} (not a text file)")
            continue
        if len(parts) >= MAX_TEXT_ATTACHMENTS:
            skipped.append(f"{attachment.filename} (only {MAX_TEXT_ATTACHMENTS} files are read)")
            continue
        if attachment.size > MAX_TEXT_ATTACHMENT_BYTES:
            skipped.append(f"{attachment.filename} (over {MAX_TEXT_ATTACHMENT_BYTES // 1000} kB)")
            continue
        try:
            data = await attachment.read()
        except discord.HTTPException as error:
            log.warning("could not read attachment %s: %s", attachment.id, error)
            skipped.append(f"{attachment.filename} (could not be read)")
            continue
        text = data[:MAX_TEXT_ATTACHMENT_BYTES].decode("utf-8", errors="replace").strip()
        if text:
            parts.append(f"[uploaded file {attachment.filename[:80]}]\n{text}")
    return "\n\n".join(parts), skipped
