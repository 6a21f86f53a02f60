"""The parts of a season episode around its own shots: from episode 2 on, a "previously on"
recap cut from the previous episode's last approved shots, and a card at the end that teases
the next episode (or closes the season)."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from pipeline.cut.assemble import CutShot
from pipeline.cut.cards import Card
from storage import plan, seasons, takes
from storage.models import Episode


def recap(db: sqlite_utils.Database, episode: Episode) -> tuple[Card | None, list[CutShot]]:
    """The "previously on" card and shots before episode 2 onward ((None, []) otherwise): the
    last RECAP_SHOTS approved shots of the episode before, each cut short so the recap, its
    card included, runs at most RECAP_SECONDS."""
    entry = seasons.entry_for_episode(db, episode.id)
    if entry is None or entry.number == 1:
        return None, []
    before = seasons.season_map(db, entry.season_id)[entry.number - 2]
    if before.episode_id is None:
        return None, []
    approved = [s for s in plan.list_shots(db, before.episode_id) if s.approved_take_id]
    chosen = approved[-seasons.RECAP_SHOTS :]
    if not chosen:
        return None, []
    each = (seasons.RECAP_SECONDS - seasons.RECAP_CARD_SECONDS) / len(chosen)
    shots = []
    for shot in chosen:
        take = takes.get_take(db, shot.approved_take_id)  # type: ignore[arg-type]
        label = f"Recap of episode {before.number}, shot {shot.number}"
        shots.append(CutShot(Path(take.media_path), min(each, shot.duration), shot.dialogue, label))
    line = f"Episode {before.number} · {before.title}"
    return Card(seasons.RECAP_CARD_SECONDS, "Previously", (line,)), shots


def teaser_card(db: sqlite_utils.Database, episode: Episode, credits: str) -> Card | None:
    """At the end of a season episode: its cliffhanger line and what comes next."""
    entry = seasons.entry_for_episode(db, episode.id)
    if entry is None:
        return None
    season_map = seasons.season_map(db, entry.season_id)
    credit_lines = tuple(line.strip() for line in credits.splitlines() if line.strip())
    if entry.number < len(season_map):
        after = season_map[entry.number]
        coming = f"Next: Episode {after.number} · {after.title}"
    else:
        coming = "End of the season"
    lines = (episode.teaser.strip(),) if episode.teaser.strip() else ()
    return Card(seasons.TEASER_SECONDS, coming, (*lines, *credit_lines))
