"""Who may change a project, through Discord: its creator (while no director role is set),
members with the director role, server managers, and nobody else; and ids from another
project refused. The real bot against the emulator and a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.schemas import EpisodeDraft
from agents.tools import ToolContext, write_episode_plan
from bot.permissions import is_director
from pipeline.render.queue import EngineChoice, queue_episode_render
from storage import characters, episodes, jobs, plan, projects, takes
from storage.db import open_db
from storage.models import Take
from tests.fakes import gong_gong_plan, say, scripted, tool_call
from tests.media import tiny_clip
from tests.studio import (
    Studio,
    command,
    gate_post,
    open_studio,
    project_by,
    running_bot,
    say_in,
    start_project,
)

MANAGE_GUILD = 1 << 5
ROLE_REFUSAL = "Only members with the"
CREATOR_REFUSAL = "Only the project's creator or a server manager can do that."


@dataclass(frozen=True)
class Room:
    world: Studio
    manager: int  # a member whose role has Manage Server, and not the director role


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, scripted(say("unused"))),
    ):
        admins = world.emulator.create_role(world.guild, "Admins", permissions=MANAGE_GUILD)
        manager = world.emulator.add_member(world.guild, "mo", roles=[admins])
        yield Room(world, manager)


def quorum_of(world: Studio, project_id: int) -> int:
    return projects.get_project(open_db(world.settings.database_path), project_id).quorum


async def set_quorum(world: Studio, user: int, quorum: int) -> dict:
    return await command(world, user, "project", {"quorum": quorum}, subcommand="settings")


async def test_without_a_role_the_creator_and_server_managers_direct(room: Room):
    world = room.world
    project_id = await project_by(world, world.ana)  # ana has no director role
    refused = await set_quorum(world, world.ben, 3)
    assert refused["ephemeral"] and refused["content"] == f"⚠️ {CREATOR_REFUSAL}"
    assert quorum_of(world, project_id) == 1
    # the director role means nothing while the project has none set
    refused = await set_quorum(world, world.director, 3)
    assert refused["ephemeral"] and CREATOR_REFUSAL in refused["content"]
    assert quorum_of(world, project_id) == 1
    assert not (await set_quorum(world, world.ana, 2))["ephemeral"]
    assert quorum_of(world, project_id) == 2
    assert not (await set_quorum(world, room.manager, 4))["ephemeral"]
    assert quorum_of(world, project_id) == 4


async def test_with_a_role_its_members_and_server_managers_direct(room: Room):
    world = room.world
    project_id = await project_by(world, world.ana)
    role = {"director_role": world.director_role}
    assert not (await command(world, world.ana, "project", role, subcommand="settings"))[
        "ephemeral"
    ]
    # now the creator without the role is a member like any other
    for member in (world.ana, world.ben):
        refused = await set_quorum(world, member, 3)
        assert refused["ephemeral"] and ROLE_REFUSAL in refused["content"]
    assert quorum_of(world, project_id) == 1
    assert not (await set_quorum(world, world.director, 2))["ephemeral"]
    assert quorum_of(world, project_id) == 2
    assert not (await set_quorum(world, room.manager, 3))["ephemeral"]
    assert quorum_of(world, project_id) == 3


def planned_and_queued(world: Studio, project_id: int, requester: int) -> list[str]:
    """The two-shot plan stored and its renders queued by `requester`: their job ids."""
    db = open_db(world.settings.database_path)
    context = ToolContext(db, project_id, user_id=requester, is_director=True)
    episode = write_episode_plan(context, EpisodeDraft.model_validate(gong_gong_plan((1, 1))))
    episodes.accept_plan(db, episode.id, episode.plan_revision, requester)
    _, queued = queue_episode_render(db, episode.id, EngineChoice(), requester=requester)
    return [job.id for job in queued]


def job_status(world: Studio, job_id: str) -> str:
    return jobs.get_job(open_db(world.settings.database_path), job_id).status


async def test_cancelling_the_episode_needs_a_director(room: Room):
    world = room.world
    project_id = await project_by(world, world.director)
    await command(
        world,
        world.director,
        "project",
        {"director_role": world.director_role},
        subcommand="settings",
    )
    queued = planned_and_queued(world, project_id, world.ana)
    refused = await command(world, world.ben, "cancel")
    assert refused["ephemeral"] and ROLE_REFUSAL in refused["content"]
    # someone else's job, by id: refused for a plain member too
    refused = await command(world, world.ben, "cancel", {"job": queued[0][:8]})
    assert refused["ephemeral"] and "Only the member who queued this job" in refused["content"]
    assert {job_status(world, job_id) for job_id in queued} <= {"queued", "running"}
    done = await command(world, room.manager, "cancel")
    assert done["content"] == "Cancelled 2 jobs of episode 1."
    assert {job_status(world, job_id) for job_id in queued} == {"cancelled"}


def first_shot_take(world: Studio, project_id: int, name: str) -> Take:
    """A take of shot 1 of the project's current episode: a real tiny clip."""
    db = open_db(world.settings.database_path)
    shot = plan.list_shots(db, episodes.current_episode(db, project_id).id)[0]
    return takes.add_take(
        db,
        shot_id=shot.id,
        job_id=f"job-{name}",
        seed=1,
        engine="animatic",
        model="",
        media_path=tiny_clip(world.settings.media_dir / f"{name}.mp4"),
    )


async def test_a_character_reference_needs_a_director(room: Room):
    world = room.world
    project_id = await project_by(world, world.director)
    planned_and_queued(world, project_id, world.director)
    db = open_db(world.settings.database_path)
    take = first_shot_take(world, project_id, "ours")
    options = {"name": "Li Xingzhou", "take": take.id}
    refused = await command(world, world.ben, "character", options, subcommand="reference")
    assert refused["ephemeral"] and CREATOR_REFUSAL in refused["content"]
    (character,) = characters.list_characters(db, project_id)
    assert not character.reference_path
    record = await world.emulator.slash_command(
        world.writers, room.manager, "character", options, subcommand="reference"
    )
    await record.wait_response()
    answer = await record.wait_original_content(timeout=30)  # after "thinking…"
    assert f"reference is now take {take.id} (shot 1)" in answer["content"]
    (character,) = characters.list_characters(open_db(world.settings.database_path), project_id)
    assert character.reference_path and Path(character.reference_path).is_file()


async def test_ids_from_another_project_are_refused(room: Room):
    world = room.world
    other_room = world.emulator.create_channel(world.guild, "other-room")
    ours = await project_by(world, world.director)
    theirs = await project_by(world, world.director, channel=other_room)
    their_jobs = planned_and_queued(world, theirs, world.director)
    planned_and_queued(world, ours, world.director)
    db = open_db(world.settings.database_path)
    their_take = first_shot_take(world, theirs, "theirs")

    refused = await command(world, world.director, "cancel", {"job": their_jobs[0][:8]})
    assert refused["ephemeral"] and "job" in refused["content"].lower()
    assert job_status(world, their_jobs[0]) in {"queued", "running"}
    options = {"name": "Li Xingzhou", "take": their_take.id}
    refused = await command(world, world.director, "character", options, subcommand="reference")
    assert refused["ephemeral"]
    assert refused["content"] == f"⚠️ Take {their_take.id} does not exist."
    options = {"name": "Li Xingzhou", "take": their_take.id + 1000}  # no project has it
    refused = await command(world, world.director, "character", options, subcommand="reference")
    assert refused["content"] == f"⚠️ Take {their_take.id + 1000} does not exist."
    assert not any(c.reference_path for c in characters.list_characters(db, ours))


def test_someone_who_is_not_a_member_of_the_server_never_directs(fresh_db) -> None:
    # a user object without a membership (a DM, or someone who left): not even the creator
    creator = SimpleNamespace(id=7, roles=[], guild_permissions=SimpleNamespace(manage_guild=True))
    project = projects.create_project(fresh_db, "Gong Gong", created_by=7)
    assert is_director(creator, project) is False  # type: ignore[arg-type]


async def test_the_agent_cuts_and_deletes_only_for_a_director(tmp_path: Path):
    """What a chat message may make the agent do depends on who sent it, through Discord: the
    model calls the tool every time; the tool refuses a plain member (with or without the
    creator's name on the project) and obeys a server manager and the role."""
    cut = (tool_call("cut_shot", {"shot_number": 2}), say("Shot 2 is cut."))
    delete = (tool_call("delete_episode", {"episode_number": 1}), say("Episode 1 is deleted."))
    model = scripted(*cut, *delete, *cut, *delete)
    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, model),
    ):
        admins = world.emulator.create_role(world.guild, "Admins", permissions=MANAGE_GUILD)
        manager = world.emulator.add_member(world.guild, "mo", roles=[admins])
        await start_project(world)  # by the director, with the director role set
        db = open_db(world.settings.database_path)
        project_id = projects.project_for_channel(db, world.writers).id
        context = ToolContext(db, project_id, user_id=world.director, is_director=True)
        write_episode_plan(context, EpisodeDraft.model_validate(gong_gong_plan((1, 2))))

        def shots() -> list[int]:
            episode = episodes.current_episode(db, project_id)
            return [] if episode is None else [s.number for s in plan.list_shots(db, episode.id)]

        answer = await say_in(world, world.writers, world.ben, "cut shot 2")
        assert "Only the project's director can cut a shot" in answer["content"]
        answer = await say_in(world, world.writers, world.ben, "delete episode 1")
        assert "Only the project's director can delete an episode" in answer["content"]
        assert model.calls == 4 and shots() == [1, 2, 3]

        answer = await say_in(world, world.writers, manager, "cut shot 2")
        assert "Only the project's director" not in answer["content"]
        assert shots() == [1, 2]
        await gate_post(world, after_id=answer["id"])  # the changed plan, for a Go ahead
        answer = await say_in(world, world.writers, world.director, "delete episode 1")
        assert "Only the project's director" not in answer["content"]
        assert model.calls == 8 and shots() == []


async def test_anyone_hears_which_voice_a_character_has_and_a_director_changes_it(room: Room):
    world = room.world
    project_id = await project_by(world, world.director)
    planned_and_queued(world, project_id, world.director)
    label = "low m7, pitch 50, 176 wpm"
    heard = await command(
        world, world.ben, "character", {"name": "li xingzhou"}, subcommand="voice"
    )
    assert "**Li Xingzhou** speaks in espeak m3, pitch 38, 160 wpm." in heard["content"]
    options = {"name": "Li Xingzhou", "voice": label}
    refused = await command(world, world.ben, "character", options, subcommand="voice")
    assert refused["ephemeral"] and CREATOR_REFUSAL in refused["content"]
    changed = await command(world, room.manager, "character", options, subcommand="voice")
    assert "now speaks in espeak m7, pitch 50, 176 wpm" in changed["content"]
    (character,) = characters.list_characters(open_db(world.settings.database_path), project_id)
    assert character.voice is not None and (character.voice.name, character.voice.rate) == (
        "m7",
        176,
    )
