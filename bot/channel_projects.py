"""Which project a command is about: the one whose channel it was typed in."""

from __future__ import annotations

import sqlite_utils

from storage import projects
from storage.errors import NotFound
from storage.models import Project

NO_PROJECT = "This channel has no project yet: start one with /project new."


def project_here(db: sqlite_utils.Database, channel_id: int | None) -> Project:
    """The project whose writers' room this is."""
    project = projects.project_for_channel(db, channel_id or 0)
    if project is None:
        raise NotFound(NO_PROJECT)
    return project


def project_of_channel(db: sqlite_utils.Database, channel_id: int | None) -> Project:
    """The project whose writers' room, or else whose only review channel, this is."""
    project = projects.project_for_channel(db, channel_id or 0)
    if project is not None:
        return project
    reviewed = projects.project_for_review_channel(db, channel_id or 0)
    if len(reviewed) == 1:
        return reviewed[0]
    raise NotFound(NO_PROJECT)
