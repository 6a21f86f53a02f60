"""A plan written from a premise, as a small model writes it: markup, template tokens, a camera
that says nothing, names left out, the same line over and over. What is stored is clean, framed
in the camera vocabulary, uses the premise's names and never repeats a line."""

from __future__ import annotations

import pytest

from agents.camera import in_vocabulary
from agents.director import Director
from agents.plan_text import has_markup
from agents.plan_writer import rewrite_repeats, shots_of
from agents.schemas import EpisodeDraft
from agents.structured import ModelCaller
from agents.tools import ToolContext
from storage import characters, episodes, plan, projects
from tests.fakes import gong_gong_plan, say, scripted, tool_call

PREMISE = "The fisherman Li Xingzhou defies the water god Gong Gong on a rugged shore"


@pytest.fixture
def context(fresh_db):
    project = projects.create_project(fresh_db, "Gong Gong", writers_channel_id=5)
    return ToolContext(fresh_db, project.id, user_id=None, is_director=True)


def stored_shots(context: ToolContext):
    episode = episodes.current_episode(context.db, context.project_id)
    assert episode is not None
    return episode, plan.list_shots(context.db, episode.id)


def plan_draft(**changes) -> dict:
    """gong_gong_plan, every shot framed in the vocabulary, with `changes` made to shots by
    number: {1: {"dialogue": ...}}."""
    draft = gong_gong_plan((2, 2))
    draft["characters"].append({"name": "Gong Gong", "description": "the water god"})
    shots = [shot for scene in draft["scenes"] for shot in scene["shots"]]
    for shot in shots:
        shot.pop("camera")
        shot |= {"shot_size": "close-up", "angle": "low angle", "move": "push in"}
    for number, fields in changes.items():
        shots[int(number) - 1] |= fields
    return draft


async def test_markup_links_and_template_tokens_never_reach_the_stored_plan(context):
    junk = {
        "1": {
            "description": "<img src='https://res.cloudinary.com/demo/x.png'> Li Xingzhou rows out",
            "dialogue": "<p>The sea will not take me!",
        },
        "2": {"description": "{{image}} Gong Gong rises from the waves", "dialogue": "{{line}}"},
        "3": {"description": "**Gong Gong** roars, see www.example.com/storm"},
    }
    draft = plan_draft(**junk)
    draft["title"] = "<h1>Defying Gong Gong</h1>"
    draft["scenes"][0]["heading"] = "<img src=' class="  # cut off: nothing but markup
    draft["scenes"][1]["heading"] = "[scene_heading] Storm, night"
    draft["synopsis"] = "\ud8a4Li rows out"  # a lone surrogate, as a small model's JSON held
    model = scripted(tool_call("EpisodeDraft", {**draft}))
    await Director(model).write_plan(context, PREMISE)

    episode, shots = stored_shots(context)
    assert episode.title == "Defying Gong Gong" and episode.synopsis == "Li rows out"
    scenes = plan.list_scenes(context.db, episode.id)
    assert [scene.heading for scene in scenes] == ["Untitled scene", "Storm, night"]
    assert shots[0].description == "Li Xingzhou rows out"
    assert shots[0].dialogue == "The sea will not take me!"
    assert shots[1].description == "Gong Gong rises from the waves" and shots[1].dialogue == ""
    assert shots[2].description == "Gong Gong roars, see"
    for shot in shots:
        assert not has_markup(f"{shot.description} {shot.dialogue} {shot.prompt}")
        assert shot.camera == "close-up, low angle, push in"


async def test_a_camera_that_names_no_framing_is_sent_back_once_with_the_vocabulary(context):
    nothing = plan_draft(**{str(n): {"shot_size": "{{image}}"} for n in range(1, 5)})
    framed = plan_draft(**{"2": {"shot_size": "Wide shot", "angle": "bird's eye"}})
    model = scripted(tool_call("EpisodeDraft", nothing), tool_call("EpisodeDraft", framed))
    await Director(model).write_plan(context, PREMISE)

    repair = model.prompts[1][-1].content
    assert "shot_size" in repair and "'extreme wide'" in repair  # the vocabulary, named
    _, shots = stored_shots(context)
    assert [shot.camera for shot in shots] == [
        "close-up, low angle, push in",
        "wide, overhead, push in",
        "close-up, low angle, push in",
        "close-up, low angle, push in",
    ]
    assert all(in_vocabulary(shot.camera) for shot in shots)


async def test_names_the_premise_gives_are_asked_for_and_a_person_left_out_joins_the_cast(
    context,
):
    nameless = plan_draft()
    nameless["characters"] = [{"name": "The fisherman", "description": "stubborn"}]
    for scene in nameless["scenes"]:
        for shot in scene["shots"]:
            shot["characters"] = []
    nameless["synopsis"] = nameless["title"] = "A man and the sea"
    for scene in nameless["scenes"]:
        for shot in scene["shots"]:
            shot["description"] = shot["description"].replace("Li Xingzhou", "the fisherman")
    model = scripted(tool_call("EpisodeDraft", nameless), tool_call("EpisodeDraft", nameless))
    await Director(model).write_plan(context, PREMISE)

    first_prompt = model.prompts[0][-1].content
    assert "Use these names from the premise: Li Xingzhou, Gong Gong." in first_prompt
    assert "the premise names Li Xingzhou, Gong Gong" in model.prompts[1][-1].content
    cast = characters.list_characters(context.db, context.project_id)
    assert [c.name for c in cast] == ["The fisherman", "Li Xingzhou", "Gong Gong"]


async def test_a_plan_that_uses_the_names_is_not_sent_back(context):
    model = scripted(tool_call("EpisodeDraft", plan_draft()))
    await Director(model).write_plan(context, PREMISE)
    assert len(model.prompts) == 1


async def test_a_repeated_line_is_written_again_for_that_shot_alone(context):
    same = "<p>The man smiles, his eyes widen..."
    repeats = plan_draft(**{str(n): {"dialogue": same} for n in range(1, 5)})
    repeats["scenes"][1]["shots"][1]["description"] = (
        "Shot 1: waves rise as Li Xingzhou faces the storm"
    )
    model = scripted(
        tool_call("EpisodeDraft", repeats),
        tool_call("LineRewrite", {"text": "Gong Gong, I am not afraid of you."}),
        tool_call("LineRewrite", {"text": "The man smiles, his eyes widen."}),  # the same again
        tool_call("LineRewrite", {"text": "Then drown me, if you can!"}),
        tool_call("ShotRewrite", {"text": "The storm answers him."}),
    )
    await Director(model).write_plan(context, PREMISE)

    _, shots = stored_shots(context)
    assert [shot.dialogue for shot in shots] == [
        "The man smiles, his eyes widen...",
        "Gong Gong, I am not afraid of you.",
        "",  # its rewrite repeated the line: a silent shot rather than the same line twice
        "Then drown me, if you can!",
    ]
    assert shots[3].description == "The storm answers him."
    rewrite_requests = [prompts[-1].content for prompts in model.prompts[1:]]
    assert "the one line a character says in shot 2" in rewrite_requests[0]
    assert "Shot 2 shows: Shot 2: waves rise" in rewrite_requests[0]
    assert "what we see in shot 4" in rewrite_requests[3]
    assert "comes after a shot that shows: Shot 3: waves rise" in rewrite_requests[3]


async def test_shots_name_their_characters_as_the_cast_spells_them(context):
    draft = plan_draft(
        **{
            "1": {"characters": ["li"]},
            "2": {"characters": [], "description": "Gong Gong lifts the sea"},
            "3": {"characters": ["Mei"]},  # not in the cast: she joins it
        }
    )
    await Director(scripted(tool_call("EpisodeDraft", draft))).write_plan(context, PREMISE)
    _, shots = stored_shots(context)
    assert [shot.characters for shot in shots[:3]] == [("Li Xingzhou",), ("Gong Gong",), ("Mei",)]
    cast = [c.name for c in characters.list_characters(context.db, context.project_id)]
    assert cast == ["Li Xingzhou", "Gong Gong", "Mei"]


async def test_a_camera_edit_changes_what_it_names_and_a_wordless_one_is_refused(context):
    await Director(scripted(tool_call("EpisodeDraft", plan_draft()))).write_plan(context, PREMISE)
    model = scripted(
        tool_call("edit_shot", {"shot_number": 1, "camera": "{{camera}}"}),
        tool_call("edit_shot", {"shot_number": 1, "camera": "Dutch, handheld"}, "call_2"),
        say("Shot 1 is tilted now."),
    )
    await Director(model).reply(context, "tilt shot 1", "ana")
    refused = model.prompts[1][-1].content
    assert "names no framing" in refused and "dutch angle" in refused
    _, shots = stored_shots(context)
    assert shots[0].camera == "close-up, dutch angle, handheld" and shots[0].revision == 2


@pytest.mark.parametrize(
    ("request_text", "number"),
    [
        ("Let's make episode 1: the mortal Li Xingzhou defies the water god Gong Gong", 1),
        ("第一集：凡人李星舟对抗水神共工", 1),
        ("Let's make episode 2: Li Xingzhou and Gong Gong meet again", 2),
        ("Write a new episode about Li Xingzhou and Gong Gong", 2),
    ],
)
async def test_a_message_asking_for_an_episode_stores_a_plan_in_structured_mode(
    context, request_text: str, number: int
):
    # a plan exists, so only the request itself can lead to plan writing
    await Director(scripted(tool_call("EpisodeDraft", plan_draft()))).write_plan(context, PREMISE)
    model = scripted(tool_call("EpisodeDraft", plan_draft(**{"1": {"dialogue": "New line"}})))
    turn = await Director(model, mode="structured").turn(context, request_text, "ana")

    assert turn.changed and f"(Plan stored: episode {number}, 4 shots.)" in turn.answer
    assert f"Premise: {request_text}" in model.prompts[0][-1].content
    episode, shots = stored_shots(context)
    assert episode.number == number and shots[0].dialogue == "New line"
    # the episode asked for is written (again), the other one stays as it was
    first = plan.list_shots(context.db, 1)  # episode 1's id
    assert first[0].dialogue == ("New line" if number == 1 else "Line 1: I will not kneel!")


async def test_a_message_asking_for_an_edit_is_a_turn_not_a_new_plan(context):
    await Director(scripted(tool_call("EpisodeDraft", plan_draft()))).write_plan(context, PREMISE)
    model = scripted(tool_call("DirectorTurn", {"reply": "Which line?", "action": "none"}))
    turn = await Director(model, mode="structured").turn(context, "make episode 1 darker", "ana")
    assert turn.answer == "Which line?" and not turn.changed


async def test_a_shot_that_repeats_the_one_before_and_says_nothing_new_joins_it(context):
    same = {"description": "Li Xingzhou rows into the storm", "dialogue": "", "duration": 2}
    draft = plan_draft(
        **{
            "1": same,
            "2": same,  # the rewrite below repeats it again: one longer shot
            "3": {"dialogue": "Waves rise as Li Xingzhou faces the storm"},
        }
    )
    draft["scenes"][1]["shots"][0]["description"] = "Waves rise as Li Xingzhou faces the storm"
    model = scripted(
        tool_call("EpisodeDraft", draft),
        tool_call("ShotRewrite", {"text": "Li Xingzhou rows into the storm"}),
    )
    await Director(model).write_plan(context, PREMISE)

    _, shots = stored_shots(context)
    assert [(shot.description, shot.duration) for shot in shots[:1]] == [
        ("Li Xingzhou rows into the storm", 4.0)
    ]
    assert len(shots) == 3
    assert shots[1].dialogue == ""  # it only read out its own description


async def test_a_plan_without_characters_or_title_is_stored_not_sent_back(context):
    castless = plan_draft()
    del castless["characters"]  # the key itself missing, as the embedded model wrote it
    castless["title"] = "<h1></h1>"  # and a title that was only markup
    episode = await Director(scripted(tool_call("EpisodeDraft", castless))).write_plan(
        context, PREMISE
    )
    assert episode.title == "Untitled episode"
    # the shots name Li Xingzhou (Gong Gong is in the title, so nobody is added for him)
    cast = [c.name for c in characters.list_characters(context.db, context.project_id)]
    assert cast == ["Li Xingzhou"]


async def test_a_repeated_line_of_a_chinese_premise_is_written_again_in_chinese():
    draft = EpisodeDraft.model_validate(
        plan_draft(**{"1": {"dialogue": "我不跪！"}, "2": {"dialogue": "我不跪!"}})
    )
    # only the Chinese rewrite's schema reads this answer: an English request would fail it
    model = scripted(tool_call("ChineseLineRewrite", {"text": "共工，你吓不倒我。"}))
    await rewrite_repeats(ModelCaller(model), draft, chinese=True)
    assert [shot.dialogue for shot in shots_of(draft)][:2] == ["我不跪！", "共工，你吓不倒我。"]
    assert "line a character says in shot 2" in model.prompts[0][-1].content


async def test_a_rewrite_that_copies_its_instructions_is_not_a_line():
    draft = EpisodeDraft.model_validate(
        plan_draft(**{"2": {"dialogue": "Line 1: I will not kneel!"}})
    )
    # what the embedded model answered in a clean-clone produce run, subtitled as dialogue
    echo = "A short sentence, in the language of the scene. A rugged shore."
    model = scripted(tool_call("LineRewrite", {"text": echo}))
    await rewrite_repeats(ModelCaller(model), draft)
    assert [shot.dialogue for shot in shots_of(draft)][:2] == ["Line 1: I will not kneel!", ""]
