"""The season contact sheet: a row per episode on the map with its pictures."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from PIL import Image

from pipeline.pictures.season_sheet import (
    CELL,
    GAP,
    LABEL_WIDTH,
    draw_season_sheet,
    load_rows,
    load_season_sheet,
)
from pipeline.pictures.storyboard import CARD
from storage import episodes
from tests.builders import approved_season
from tests.media import clips


def test_a_row_per_episode_with_its_shots_and_its_state(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    season, (first, _) = approved_season(
        fresh_db, [clips(tmp_path / "one", 3), clips(tmp_path / "two", 1)]
    )
    episodes.set_episode_status(fresh_db, first.id, "shooting")
    episodes.set_episode_status(fresh_db, first.id, "cutting")
    episodes.set_episode_status(fresh_db, first.id, "delivered")
    rows = load_rows(fresh_db, season.id)
    assert [(row.label, row.detail, len(row.pictures)) for row in rows] == [
        ("Episode 1 · Tide 1", "hook: cold open · delivered", 3),
        ("Episode 2 · Tide 2", "hook: in medias res · writing", 1),
    ]
    sheet = draw_season_sheet(*load_season_sheet(fresh_db, season.id), tmp_path / "season.png")
    with Image.open(sheet) as image:
        assert image.height == 40 + 2 * (CELL[1] + GAP) + GAP
        middle = (CELL[0] // 2, CELL[1] // 2)
        picture = image.convert("RGB").getpixel((LABEL_WIDTH + middle[0], 40 + middle[1]))
        empty = image.convert("RGB").getpixel(
            (LABEL_WIDTH + 3 * (CELL[0] + GAP) + middle[0], 40 + middle[1])
        )
    assert picture != CARD and empty == CARD  # three pictures, then empty cells
