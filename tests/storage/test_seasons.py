"""A season in SQLite: the bible, the map, the beats, the canon ledger; bad shapes refused with
nothing stored."""

from __future__ import annotations

import pytest

from pipeline.render.queue import build_prompt
from storage import canon, characters, plan, seasons
from storage.errors import InvalidInput
from storage.models import Beats
from tests.builders import make_project

PREMISE = "The fisherman Li Xingzhou defies the water god Gong Gong"


def season_plan(hooks: tuple[str, ...] = ("cold open", "question", "cold open"), **changes):
    entries = tuple(
        seasons.MapEntry(f"Episode {n}", f"logline {n}", hook, f"cliffhanger {n}")
        for n, hook in enumerate(hooks, start=1)
    )
    values = {
        "premise": PREMISE,
        "episode_seconds": 60.0,
        "episodes": entries,
        "logline": "A mortal against a god",
        "world": "A fishing village under a god's flood",
        "tone": "defiant, mythic",
        "visual_style": "ink-wash colours, storm light",
        "cast": (
            seasons.CastMember("Li Xingzhou", "a fisherman", "grey beard", "from fear to defiance"),
            seasons.CastMember(
                "Gong Gong", "the water god", "serpent tail", "from scorn to respect"
            ),
        ),
    }
    return seasons.SeasonPlan(**(values | changes))


def test_a_season_stores_its_bible_map_and_cast_with_arcs(fresh_db):
    project = make_project(fresh_db)
    season = seasons.create_season(fresh_db, project.id, season_plan())
    assert (season.number, season.episode_count, season.episode_seconds) == (1, 3, 60.0)
    assert season.visual_style == "ink-wash colours, storm light"
    entries = seasons.season_map(fresh_db, season.id)
    assert [(e.number, e.hook_type, e.episode_id) for e in entries] == [
        (1, "cold open", None),
        (2, "question", None),
        (3, "cold open", None),
    ]
    cast = characters.list_characters(fresh_db, project.id)
    assert [(c.name, c.arc) for c in cast] == [
        ("Li Xingzhou", "from fear to defiance"),
        ("Gong Gong", "from scorn to respect"),
    ]
    assert seasons.current_season(fresh_db, project.id) == season


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"premise": "  "}, "needs a premise"),
        ({"premise": "x" * 20_000}, "20,000 characters; keep it under 4,000"),
        ({"episodes": ()}, "1 to 20 episodes, not 0"),
        ({"episode_seconds": 1800.0}, "0.5 to 3 minutes, not 30"),
        ({"episode_seconds": 10.0}, "not 0.166667"),
    ],
)
def test_a_season_that_cannot_be_made_is_refused_and_nothing_is_stored(fresh_db, changes, message):
    project = make_project(fresh_db)
    with pytest.raises(InvalidInput, match=message):
        seasons.create_season(fresh_db, project.id, season_plan(**changes))
    assert fresh_db.table("seasons").count == 0 and fresh_db.table("season_episodes").count == 0


def test_five_hundred_episodes_are_refused(fresh_db):
    hooks = tuple(seasons.HOOK_TYPES[n % 2] for n in range(500))
    with pytest.raises(InvalidInput, match="1 to 20 episodes, not 500"):
        seasons.create_season(fresh_db, make_project(fresh_db).id, season_plan(hooks))


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        (("question", "question"), "Episodes 1 and 2 both open with a question"),
        (("cold open", "a dream"), "Episode 2's hook 'a dream' is not one of"),
    ],
)
def test_hooks_come_from_the_list_and_rotate(fresh_db, hooks, message):
    project = make_project(fresh_db)
    with pytest.raises(InvalidInput, match=message):
        seasons.create_season(fresh_db, project.id, season_plan(hooks))
    assert (
        fresh_db.table("seasons").count == 0
        and characters.list_characters(fresh_db, project.id) == []
    )


def test_beats_rewritten_keep_the_old_ones_on_record(fresh_db):
    season = seasons.create_season(fresh_db, make_project(fresh_db).id, season_plan())
    first = seasons.season_map(fresh_db, season.id)[0]
    seasons.set_beats(fresh_db, first.id, Beats("a hook", "it grows", "a twist", "a cliff"))
    again = seasons.set_beats(fresh_db, first.id, Beats("b hook", "b grows", "b twist", "b cliff"))
    assert again.beats == Beats("b hook", "b grows", "b twist", "b cliff")
    assert again.revision == 2
    old = fresh_db.execute(
        "SELECT data FROM revisions WHERE subject = 'season_episode' AND subject_id = ?",
        [first.id],
    ).fetchall()
    assert len(old) == 1 and "a hook" in old[0][0]


def test_the_canon_about_a_shots_characters_and_place_is_in_its_prompt(fresh_db):
    project = make_project(fresh_db)
    season = seasons.create_season(fresh_db, project.id, season_plan())
    shot = plan.ShotPlan("Li Xingzhou faces the sea", "wide", 3.0, characters=("Li Xingzhou",))
    draft = plan.EpisodePlan("Ep", "", scenes=(plan.ScenePlan("Rugged shore, dusk", "", (shot,)),))
    episode = plan.save_episode_plan(fresh_db, project.id, draft)
    entry = seasons.next_unwritten(fresh_db, season.id)
    seasons.link_episode(fresh_db, entry.id, episode.id)
    canon.add_fact(fresh_db, season.id, "injury", "Li Xingzhou", "a fresh scar on his left cheek")
    canon.add_fact(fresh_db, season.id, "place", "Rugged shore", "a broken red boat on the rocks")
    gone = canon.add_fact(fresh_db, season.id, "wardrobe", "Li Xingzhou", "a straw hat")
    canon.add_fact(fresh_db, season.id, "prop", "Gong Gong", "a jade trident")  # not in the shot
    canon.retire_fact(fresh_db, gone.id)

    prompt = build_prompt(fresh_db, project.id, plan.list_shots(fresh_db, episode.id)[0].id)
    assert "Li Xingzhou: a fresh scar on his left cheek" in prompt
    assert "Rugged shore: a broken red boat on the rocks" in prompt
    assert "straw hat" not in prompt and "trident" not in prompt
    assert prompt.endswith("ink-wash colours, storm light")  # the bible's style
    assert seasons.next_unwritten(fresh_db, season.id).number == 2
    assert fresh_db.table("canon_facts").count_where("retired_at IS NOT NULL") == 1


def test_a_fact_names_its_kind_and_subject(fresh_db):
    season = seasons.create_season(fresh_db, make_project(fresh_db).id, season_plan())
    with pytest.raises(InvalidInput, match="one of wardrobe, injury"):
        canon.add_fact(fresh_db, season.id, "mood", "Li", "sad")
    with pytest.raises(InvalidInput, match="needs a subject"):
        canon.add_fact(fresh_db, season.id, "prop", " ", "an oar")
