"""Which project an export is for, and the note posted with the zip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.formatting import clip
from bot.upload_limits import MIB
from pipeline.delivery.export import ExportResult
from storage import projects
from storage.errors import NotFound
from storage.models import Project

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


def export_project(bot: ShowrunnerBot, channel_id: int | None) -> Project:
    """The project of a writers' room, or of the delivery channel one project posts to."""
    db = bot.runtime.db
    project = projects.project_for_channel(db, channel_id or 0)
    project = project or projects.project_for_delivery_channel(db, channel_id or 0)
    if project is None:
        raise NotFound("This channel has no project: use /export in its writers' room.")
    return project


def export_note(result: ExportResult, limit: int) -> str:
    """What the zip holds, and where the takes are when they did not fit."""
    held = "timeline (OpenTimelineIO)"
    held += ", EDL" if result.edl_included else ""
    held += ", subtitles, poster"
    if result.media_included:
        return f"The zip holds the {held} and the {len(result.media_paths)} approved takes."
    folders = sorted({str(path.parent) for path in result.media_paths})
    where = ", ".join(f"`{clip(folder, 300)}`" for folder in folders[:3])
    more = f" and {len(folders) - 3} more folders" if len(folders) > 3 else ""
    return clip(
        f"The zip holds the {held}. The takes would not fit this server's "
        f"{limit / MIB:.1f} MiB upload limit: they are on the render machine in {where}{more}, "
        "and the timeline points at them there.",
        1500,
    )
