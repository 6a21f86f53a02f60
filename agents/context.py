"""Who is speaking, in which project: what every tool and writing step is given."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class ToolContext:
    """Set by the caller (the bot, the command line), never by the model."""

    db: sqlite_utils.Database
    project_id: int
    user_id: int | None
    is_director: bool
