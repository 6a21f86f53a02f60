"""/season new|next|status through Discord: the real bot against the emulator, real SQLite;
the model's answers to each writing step are scripted."""

from __future__ import annotations

from pathlib import Path

from storage import canon, episodes, projects, seasons
from storage.db import open_db
from tests.fakes import episode_answers, rewrite_answers, scripted, season_map_answer, tool_call
from tests.studio import (
    Studio,
    buttons,
    drafts,
    gate_post,
    open_studio,
    running_bot,
    say_in,
    start_project,
)

PREMISE = "The fisherman Li Xingzhou defies the water god Gong Gong"


async def season_command(world: Studio, user: int, subcommand: str, **options: object):
    record = await world.emulator.slash_command(
        world.writers, user, "season", options, subcommand=subcommand
    )
    return await record.wait_response(timeout=30)


def texts(record) -> str:
    return "\n".join(message["content"] for message in record.all_messages())


async def test_a_director_plans_a_season_and_each_episode_waits_at_the_plan_gate(tmp_path: Path):
    model = scripted(
        tool_call("SeasonMapDraft", season_map_answer(("question", "cold open"))),
        *episode_answers(1, scenes=3, shots_per_scene=5),
        *episode_answers(2, scenes=2, shots_per_scene=7),
    )
    async with open_studio(tmp_path / "data") as world, running_bot(world, model):
        await start_project(world)
        refused = await season_command(world, world.ana, "new", premise=PREMISE, episodes=2)
        assert refused.ephemeral and "Only members with" in refused.response_data["content"]
        assert model.prompts == []

        started = await season_command(
            world, world.director, "new", premise=PREMISE, episodes=2, minutes=1.0
        )
        await started.wait_followups(1, timeout=30)  # the map (the original), then episode 1
        said = texts(started)
        assert "Episode 1: Tide 1 (hook: question" in said
        assert "Episode 2: Tide 2 (hook: cold open, not written yet)" in said
        assert "Episode 1 of 2 is written: Tide 1, 15 shots." in said
        gate = await gate_post(world)
        assert "Go ahead" in buttons(gate) and "Tide 1" in gate["content"]

        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        season = seasons.current_season(db, project.id)
        assert season is not None and season.episode_count == 2
        assert not episodes.current_episode(db, project.id).plan_accepted  # the gate decides

        after = await season_command(world, world.director, "next")
        await after.wait_original_content(timeout=30)
        assert "Episode 2 of 2 is written: Tide 2, 14 shots." in texts(after)
        await gate_post(world, after_id=gate["id"])

        done = await season_command(world, world.director, "next")
        await done.wait_original_content()
        assert "Every episode of this season has its plan." in texts(done)

        status = await season_command(world, world.ana, "status")
        shown = await status.wait_original_content()
        assert "Episode 1: Tide 1 (hook: question, writing)" in texts(status)
        assert shown["attachments"][0]["filename"] == "season1.png"


async def test_a_season_it_cannot_make_is_refused_before_the_model_is_asked(tmp_path: Path):
    model = scripted()
    async with open_studio(tmp_path / "data") as world, running_bot(world, model):
        await start_project(world)
        nothing = await season_command(world, world.director, "status")
        assert nothing.ephemeral and "/season new" in nothing.response_data["content"]
        blank = await season_command(world, world.director, "new", premise="   ")
        assert blank.ephemeral and "needs a premise" in blank.response_data["content"]
    assert model.prompts == []


async def test_a_beat_changed_in_chat_is_rewritten_on_request_and_waits_at_the_gate_again(
    tmp_path: Path,
):
    model = scripted(
        tool_call("SeasonMapDraft", season_map_answer(("question", "cold open"))),
        *episode_answers(1, scenes=3, shots_per_scene=5),
        *episode_answers(2, scenes=2, shots_per_scene=7),
        *rewrite_answers(scenes=3, rewritten=(2, 3), shots_per_scene=5),
    )
    async with open_studio(tmp_path / "data") as world, running_bot(world, model):
        await start_project(world)
        started = await season_command(
            world, world.director, "new", premise=PREMISE, episodes=2, minutes=1.0
        )
        await started.wait_followups(1, timeout=30)
        second = await season_command(world, world.director, "next")
        await second.wait_original_content(timeout=30)
        first = await gate_post(world)
        gate = await gate_post(world, after_id=first["id"])  # episode 2's: the current one
        assert "Tide 2" in gate["content"]

        edit = await say_in(
            world, world.writers, world.director, "Episode 1's twist: Gong Gong is Li's father"
        )
        assert "Episode 1's twist changed. Scenes 2, 3 tell it." in edit["content"]
        assert "None of their shots is approved yet" in edit["content"]
        asked = len(model.prompts)
        rewritten = await say_in(world, world.writers, world.director, "rewrite episode 1")
        assert "Episode 1: scenes 2, 3 written again" in rewritten["content"]
        assert len(model.prompts) == asked + 3  # the outline, then two scenes' shots
        again = await gate_post(world, after_id=rewritten["id"])
        assert "Tide 1" in again["content"]  # the rewritten episode, not the current one


async def test_a_delivered_season_episode_extends_the_canon_and_the_writers_are_told(
    tmp_path: Path,
):
    facts = {"facts": [{"kind": "injury", "subject": "Li Xingzhou", "fact": "a scar on his cheek"}]}
    model = scripted(
        tool_call("SeasonMapDraft", season_map_answer(("question",))),
        *episode_answers(1, scenes=2, shots_per_scene=2),
        tool_call("CanonDraft", facts),
    )
    async with open_studio(tmp_path / "data") as world, running_bot(world, model):
        await start_project(world)
        started = await season_command(
            world, world.director, "new", premise=PREMISE, episodes=1, minutes=0.5
        )
        await started.wait_followups(1, timeout=30)
        gate = await gate_post(world)
        go_ahead = await world.emulator.component_interaction(
            world.writers, gate["id"], world.director, buttons(gate)["Go ahead"]
        )
        await go_ahead.wait_response()
        render = await world.emulator.slash_command(world.writers, world.ana, "render")
        await render.wait_response()
        assert "Queued 4 shot(s)" in render.response_data["content"], render.response_data
        await world.emulator.wait_until(lambda: len(drafts(world)) == 4, timeout=120)
        for draft in drafts(world):
            await world.emulator.user_react(world.review, draft["id"], world.ana, "👍")
        await world.emulator.wait_for_message(
            world.delivery, lambda m: bool(m["attachments"]), timeout=120
        )
        told = await world.emulator.wait_for_message(
            world.writers, lambda m: "Canon after episode 1" in m["content"], timeout=30
        )

    assert "Li Xingzhou: a scar on his cheek" in told["content"]
    db = open_db(world.settings.database_path)
    [fact] = canon.canon(db, 1)
    assert (fact.subject, fact.fact, fact.episode_id) == ("Li Xingzhou", "a scar on his cheek", 1)
    assert "Episode 1: Tide 1" in model.prompts[-1][-1].content  # the canon step saw the plan
