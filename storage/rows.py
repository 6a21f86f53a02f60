"""What every row dataclass shares."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def pick(cls: type, row: dict[str, Any]) -> dict[str, Any]:
    """The row's values for the dataclass's fields (other columns left out)."""
    return {field.name: row[field.name] for field in fields(cls) if field.name in row}
