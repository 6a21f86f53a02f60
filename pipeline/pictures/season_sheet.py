"""The season contact sheet: a row per episode on the season map (its number, title, opening
hook and state), then pictures of its approved shots, evenly picked; an episode not shot yet
shows what it is waiting for. One PNG beside the episodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from PIL import Image, ImageDraw, ImageOps

from pipeline.pictures.contact_sheet import take_picture
from pipeline.pictures.storyboard import (
    BACKGROUND,
    CARD,
    MAX_BYTES,
    TEXT,
    fit_text,
    save_within,
    sheet_font,
)
from storage import episodes, plan, seasons, takes

PICTURES_PER_ROW = 8
CELL = (90, 160)  # 9:16
LABEL_WIDTH = 300
GAP = 8


@dataclass(frozen=True)
class SeasonRow:
    label: str  # "Episode 2 · Tide 2"
    detail: str  # "hook: question · delivered"
    pictures: tuple[tuple[str, str], ...]  # (preview, media) of each picked approved take


def load_rows(db: sqlite_utils.Database, season_id: int) -> list[SeasonRow]:
    rows = []
    for entry in seasons.season_map(db, season_id):
        state, pictures = "not written yet", []
        if entry.episode_id is not None:
            episode = episodes.get_episode(db, entry.episode_id)
            state = str(episode.status)
            approved = [s for s in plan.list_shots(db, episode.id) if s.approved_take_id]
            step = max(1, len(approved) / PICTURES_PER_ROW)
            for index in range(min(PICTURES_PER_ROW, len(approved))):
                shot = approved[int(index * step)]
                take = takes.get_take(db, shot.approved_take_id)  # type: ignore[arg-type]
                pictures.append((take.preview_path, take.media_path))
        label = f"Episode {entry.number} · {entry.title}"
        rows.append(SeasonRow(label, f"hook: {entry.hook_type} · {state}", tuple(pictures)))
    return rows


def draw_season_sheet(title: str, rows: list[SeasonRow], out_path: Path) -> Path:
    """The sheet as a PNG (reads the takes' pictures: async callers run it in a thread)."""
    width = LABEL_WIDTH + PICTURES_PER_ROW * (CELL[0] + GAP) + GAP
    height = 40 + len(rows) * (CELL[1] + GAP) + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    big, small = sheet_font(20), sheet_font(14)
    draw.text((GAP, 10), fit_text(title, width - 2 * GAP, draw, big), font=big, fill=TEXT)
    for number, row in enumerate(rows):
        top = 40 + number * (CELL[1] + GAP)
        room = LABEL_WIDTH - 2 * GAP
        draw.text((GAP, top + 8), fit_text(row.label, room, draw, big), font=big, fill=TEXT)
        draw.text((GAP, top + 40), fit_text(row.detail, room, draw, small), font=small, fill=TEXT)
        for column in range(PICTURES_PER_ROW):
            left = LABEL_WIDTH + column * (CELL[0] + GAP)
            picture = take_picture(*row.pictures[column]) if column < len(row.pictures) else None
            if picture is not None:
                sheet.paste(ImageOps.fit(picture, CELL, Image.Resampling.LANCZOS), (left, top))
            else:
                draw.rectangle((left, top, left + CELL[0], top + CELL[1]), fill=CARD)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_within(sheet, out_path, MAX_BYTES)
    return out_path


def load_season_sheet(db: sqlite_utils.Database, season_id: int) -> tuple[str, list[SeasonRow]]:
    """What the sheet shows, read from the database (drawing needs no database)."""
    season = seasons.get_season(db, season_id)
    title = f"Season {season.number}: {season.logline or season.premise}"
    return title, load_rows(db, season_id)
