"""An episode's beats edited in chat, and its scenes and shots written again on request: what
the team is told (the approved shots the change invalidates), what is stored, what stays."""

from __future__ import annotations

import pytest

from agents.director import Director
from agents.requests import beat_edit, rewrite_request
from agents.tools import ToolContext
from storage import plan, projects, revisions, seasons, takes
from storage.errors import InvalidState, NotAllowed
from tests.builders import shot_in_review, takes_in_review
from tests.fakes import (
    episode_answers,
    rewrite_answers,
    say,
    scripted,
    season_map_answer,
    tool_call,
)

PREMISE = "The fisherman Li Xingzhou defies the water god Gong Gong on a rugged shore"
TWIST = "Gong Gong is Li's lost father"


@pytest.fixture
async def season_shooting(fresh_db):
    """A one-episode season of one minute: 3 scenes of 5 shots, shots 1, 7 and 12 approved,
    shot 13 in review."""
    project = projects.create_project(fresh_db, "Gong Gong", writers_channel_id=5)
    context = ToolContext(fresh_db, project.id, user_id=7, is_director=True)
    model = scripted(
        tool_call("SeasonMapDraft", season_map_answer(("question",))),
        *episode_answers(1, scenes=3, shots_per_scene=5),
    )
    director = Director(model, mode="structured")
    season = await director.write_season(context, PREMISE, episodes=1, minutes=1)
    episode = await director.write_next_episode(context, season)
    assert episode is not None
    for number in (1, 7, 12):
        (take,) = takes_in_review(fresh_db, plan.shot_by_number(fresh_db, episode.id, number).id)
        takes.approve_take(fresh_db, take.id)
    takes_in_review(fresh_db, plan.shot_by_number(fresh_db, episode.id, 13).id)
    return context, episode


async def test_a_new_twist_is_stored_and_names_the_approved_shots_it_invalidates(
    season_shooting,
):
    context, episode = season_shooting
    model = scripted()  # read in code: the model is not asked
    turn = await Director(model, mode="structured").turn(context, f"Episode 1's twist: {TWIST}")

    # three scenes share four beats: scenes 2 and 3 tell the twist
    assert "Episode 1's twist changed" in turn.answer
    assert "Scenes 2, 3 tell it" in turn.answer
    assert "invalidates approved shots 7, 12" in turn.answer
    assert 'Say "rewrite episode 1"' in turn.answer
    assert not turn.changed and model.calls == 0
    [entry] = seasons.season_map(context.db, seasons.current_season(context.db, 1).id)
    assert entry.beats is not None and entry.beats.twist == TWIST
    [old] = revisions.history(context.db, "season_episode", entry.id)
    assert "Gong Gong offers a bargain" in old.data["beats"]
    assert plan.shot_by_number(context.db, episode.id, 7).status == "approved"  # not yet


async def test_a_rewrite_writes_the_scenes_of_the_changed_beat_again_in_place(season_shooting):
    context, episode = season_shooting
    before = plan.list_shots(context.db, episode.id)
    director = Director(
        scripted(*rewrite_answers(scenes=3, rewritten=(2, 3), shots_per_scene=5)), mode="structured"
    )
    await director.turn(context, f"Episode 1's twist: {TWIST}")
    turn = await director.turn(context, "Please rewrite episode 1")

    assert turn.changed and turn.episode_id == episode.id
    assert "scenes 2, 3 written again" in turn.answer
    assert "now marked for a retake: 7, 12, 13" in turn.answer
    after = plan.list_shots(context.db, episode.id)
    assert [s.id for s in after] == [s.id for s in before]  # same shots, same numbers
    assert [s.description for s in after[:5]] == [s.description for s in before[:5]]
    assert after[5].description == "Scene 2 shot 1: Gong Gong lowers his trident"
    assert after[14].dialogue == "Father 3.5?"
    assert {s.characters for s in after[5:]} == {("Gong Gong",)}
    assert after[5].camera == "wide, high angle, static"
    statuses = {s.number: s.status for s in after}
    assert statuses[1] == "approved"  # its scene tells the hook
    assert [statuses[n] for n in (7, 12, 13)] == ["retake"] * 3
    scene_seconds = sum(s.duration for s in before[5:])
    assert abs(sum(s.duration for s in after[5:]) - scene_seconds) <= 0.05 * scene_seconds
    scenes = plan.list_scenes(context.db, episode.id)
    assert scenes[1].heading == "Cliff, night 2" and scenes[0].heading == "Shore, dusk 1"
    assert revisions.history(context.db, "shot", after[6].id)[-1].data["description"] == (
        before[6].description
    )


async def test_a_rewrite_waits_for_shots_that_are_rendering_and_changes_nothing(
    season_shooting,
):
    context, episode = season_shooting
    rendering = plan.shot_by_number(context.db, episode.id, 9)
    shot_in_review(context.db, rendering.id)  # then sent back to render again
    plan.set_shot_status(context.db, rendering.id, "queued")
    model = scripted()
    with pytest.raises(InvalidState, match="Shots 9 are queued or rendering"):
        await Director(model, mode="structured").turn(context, "rewrite episode 1's twist")
    assert model.calls == 0
    assert plan.shot_by_number(context.db, episode.id, 7).status == "approved"


async def test_only_a_director_edits_beats_or_rewrites(season_shooting):
    context, _ = season_shooting
    writer = ToolContext(context.db, context.project_id, user_id=8, is_director=False)
    director = Director(scripted(), mode="structured")
    with pytest.raises(NotAllowed):
        await director.turn(writer, f"Episode 1's twist: {TWIST}")
    with pytest.raises(NotAllowed):
        await director.turn(writer, "rewrite episode 1")
    [entry] = seasons.season_map(context.db, 1)
    assert entry.beats is not None and entry.beats.twist != TWIST


async def test_a_tool_calling_model_edits_beats_through_the_tool(season_shooting):
    context, _ = season_shooting
    model = scripted(
        tool_call("edit_beats", {"episode_number": 1, "cliffhanger": "Li dives after him"}),
        say("Changed the cliffhanger."),
    )
    await Director(model).reply(context, "End episode one with Li diving after his father")
    [entry] = seasons.season_map(context.db, 1)
    assert entry.beats is not None and entry.beats.cliffhanger == "Li dives after him"
    tool_answer = model.prompts[1][-1].content
    assert "Scene 3 tells it" in tool_answer and "approved shots 12" in tool_answer


@pytest.mark.parametrize(
    ("text", "edit", "rewrite"),
    [
        ("Change the cliffhanger of episode 3: Li drowns.", (3, "cliffhanger", "Li drowns."), None),
        ("the hook: a wave hits the hut", (None, "hook", "a wave hits the hut"), None),
        ("I want the hook to be stronger", None, None),  # a wish, not new wording
        ("rewrite shot 3's line", None, None),  # one shot: an edit, not a rewrite
        ("Rewrite the scenes of episode 2 from the new twist", None, (2, ("twist",))),
        ("重写第2集", None, (2, ())),
    ],
)
def test_beat_edits_and_rewrites_are_read_from_the_words_a_team_uses(text, edit, rewrite):
    found = beat_edit(text)
    assert (found and (found.episode_number, found.beat, found.text)) == edit or found is edit
    asked = rewrite_request(text)
    assert (asked and (asked.episode_number, asked.beats)) == rewrite or asked is rewrite
