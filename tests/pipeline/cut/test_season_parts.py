"""A season episode's cut: from episode 2 on it opens with a "previously on" recap of at most
10 s cut from the episode before, and every episode ends on a card teasing the next (or closing
the season). Real takes, the real scheduler and ffmpeg; lengths probed, subtitles read."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlite_utils
from PIL import Image

from pipeline.cut.season_parts import recap, teaser_card
from pipeline.ffmpeg import probe
from pipeline.render.queue import queue_episode_cut
from pipeline.render.scheduler import Scheduler, run_until_idle
from storage import episodes, plan, seasons
from tests.builders import approved_episode, approved_season
from tests.media import clips, make_take


async def cut(db: sqlite_utils.Database, episode_id: int, media: Path) -> Path:
    assert queue_episode_cut(db, episode_id) is not None
    await run_until_idle(Scheduler(db, [], media), timeout=120)
    path = episodes.get_episode(db, episode_id).cut_path
    assert path
    return Path(path)


async def test_episode_two_opens_on_a_recap_of_episode_one_and_each_teases_the_next(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    black = functools.partial(make_take, source="color")  # lavfi color is black by default
    season, (first, second) = approved_season(
        fresh_db, [clips(media / "one", 4), clips(media / "two", 2, black)]
    )
    first_cut = await cut(fresh_db, first.id, media)
    second_cut = await cut(fresh_db, second.id, media)

    # episode 1: its 4 shots of 1 s, then the 2.5 s card teasing episode 2
    assert abs(probe(first_cut).duration - (4 + seasons.TEASER_SECONDS)) <= 0.1
    assert "Line 2" not in first_cut.with_suffix(".srt").read_text()
    # episode 2: the recap card (1.5 s), the last 3 shots of episode 1 (1 s each, as planned),
    # its own 2 shots, the last card
    recap_seconds = seasons.RECAP_CARD_SECONDS + 3 * 1.0
    assert abs(probe(second_cut).duration - (recap_seconds + 2 + seasons.TEASER_SECONDS)) <= 0.1
    subtitles = second_cut.with_suffix(".srt").read_text()
    assert subtitles.index("Line 1.1") < subtitles.index("Line 1.3") < subtitles.index("Line 2.0")
    assert "Line 1.0" not in subtitles  # the recap is the episode's end, not all of it
    # the poster shows the episode's own first shot (black), not episode 1's recap (testsrc)
    with Image.open(second_cut.with_suffix(".png")) as poster:
        r, g, b = poster.convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert max(r, g, b) < 30, (r, g, b)

    card, _ = recap(fresh_db, episodes.get_episode(fresh_db, second.id))
    assert card is not None and (card.heading, card.lines) == (
        "Previously",
        ("Episode 1 · Tide 1",),
    )
    teaser = teaser_card(fresh_db, episodes.get_episode(fresh_db, first.id), "")
    assert teaser is not None and teaser.heading == "Next: Episode 2 · Tide 2"
    assert teaser.lines == ("Wave 1 breaks",)  # the cliffhanger line
    last = teaser_card(fresh_db, episodes.get_episode(fresh_db, second.id), "Made by the lab")
    assert last is not None and last.heading == "End of the season"
    assert last.lines == ("Wave 2 breaks", "Made by the lab")
    assert season.episode_count == 2


def test_a_recap_never_runs_over_ten_seconds(fresh_db: sqlite_utils.Database, tmp_path: Path):
    takes = clips(tmp_path / "one", 3)
    _, (first, second) = approved_season(fresh_db, [takes, takes[:1]])
    for shot in plan.list_shots(fresh_db, first.id):  # planned long: the recap cuts each short
        plan.edit_shot(fresh_db, shot.id, duration=8.0)
    card, shots = recap(fresh_db, episodes.get_episode(fresh_db, second.id))
    assert card is not None and len(shots) == 3
    total = card.seconds + sum(shot.duration for shot in shots)
    assert abs(total - seasons.RECAP_SECONDS) < 1e-9


def test_an_episode_outside_a_season_has_no_recap_and_no_teaser_card(
    fresh_db: sqlite_utils.Database, tmp_path: Path
) -> None:
    episode = approved_episode(fresh_db, clips(tmp_path, 1))
    assert recap(fresh_db, episode) == (None, [])
    assert teaser_card(fresh_db, episode, "credits") is None
