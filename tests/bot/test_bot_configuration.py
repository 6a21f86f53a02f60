"""Settings from the environment reach the running bot: the per-member queue limit decides what
/render accepts, and the draft size cap reaches the jobs it queues. The real bot against the
emulator, configured the way a deployment is (environment variables), and a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.schemas import EpisodeDraft
from agents.tools import ToolContext, write_episode_plan
from bot.settings import Settings
from pipeline.worker.settings import WorkerSettings
from storage import episodes
from storage.db import open_db
from storage.errors import InvalidInput
from tests.fakes import gong_gong_plan, say, scripted
from tests.studio import Studio, command, open_studio, project_by, running_bot


def accepted_plan(world: Studio, project_id: int, shots: int) -> None:
    db = open_db(world.settings.database_path)
    context = ToolContext(db, project_id, user_id=world.director, is_director=True)
    draft = EpisodeDraft.model_validate(gong_gong_plan((shots,)))
    episode = write_episode_plan(context, draft)
    episodes.accept_plan(db, episode.id, episode.plan_revision, world.director)


def payloads(world: Studio, project_id: int, kind: str = "%") -> list[dict]:
    """The payloads of the project's jobs (of every kind: a refused render stores no line to
    speak either)."""
    db = open_db(world.settings.database_path)
    rows = db.query(
        "SELECT jobs.payload FROM jobs JOIN episodes ON episodes.id = jobs.episode_id "
        "WHERE episodes.project_id = ? AND jobs.kind LIKE ?",
        [project_id, kind],
    )
    return [json.loads(row["payload"]) for row in rows]


async def test_the_queue_limit_and_draft_cap_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SHOWRUNNER_MAX_QUEUED_PER_USER", "2")
    monkeypatch.setenv("SHOWRUNNER_MAX_DRAFT_MIB", "0.5")
    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, scripted(say("unused"))),
    ):
        rooms = [world.writers, *(world.emulator.create_channel(world.guild, n) for n in "bc")]
        ids = [await project_by(world, world.director, channel=room) for room in rooms]
        for project_id, shots in zip(ids, (3, 2, 1), strict=True):
            accepted_plan(world, project_id, shots)

        # over the limit: 3 shots for a member allowed 2
        refused = await command(world, world.ana, "render", channel=rooms[0])
        assert refused["ephemeral"]
        assert "the limit is 2 per member and this render needs 3 more" in refused["content"]
        assert payloads(world, ids[0]) == []
        # at the limit: 2 shots
        queued = await command(world, world.ana, "render", channel=rooms[1])
        assert queued["content"] == "Queued 2 shot(s) of episode 1."
        # just over, with 2 already queued: 1 more
        refused = await command(world, world.ana, "render", channel=rooms[2])
        assert "You already have 2 shots queued" in refused["content"]
        assert payloads(world, ids[2]) == []
        # another member has a limit of their own
        queued = await command(world, world.ben, "render", channel=rooms[2])
        assert queued["content"] == "Queued 1 shot(s) of episode 1."

    caps = [
        payload["max_draft_bytes"]
        for project_id in ids
        for payload in payloads(world, project_id, "render")
    ]
    assert caps == [512 * 1024] * 3  # 0.5 MiB, in every job the running bot queued


def test_the_render_settings_in_dot_env_reach_the_actors_the_bot_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.env is read by the bot, not by the render actors it starts: the bot hands each render
    setting on (as the actors' variables), and a bad one stops it by name."""
    for variable in [*WorkerSettings().to_env(), "SHOWRUNNER_RAY_ADDRESS"]:
        monkeypatch.delenv(variable, raising=False)  # the environment would win over .env
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SHOWRUNNER_DTYPE=bfloat16\nSHOWRUNNER_MAX_MODELS=2\nSHOWRUNNER_VAE_TILING=1\n"
        "SHOWRUNNER_TORCH_THREADS=3\nSHOWRUNNER_IP_ADAPTER=h94/IP-Adapter/models/a.safetensors\n"
        "FFMPEG_BINARY=/opt/ffmpeg\nSHOWRUNNER_RAY_ADDRESS=gpu-head:6379\n"
        "SHOWRUNNER_RENDER_ACTORS=\n"
    )
    settings = Settings(_env_file=env_file)
    worker = settings.worker_settings()

    assert worker == WorkerSettings(
        device="auto", torch_threads=3, max_models=2, dtype="bfloat16", vae_tiling=True,
        ip_adapter="h94/IP-Adapter/models/a.safetensors", ffmpeg_binary="/opt/ffmpeg",
    )  # fmt: skip
    assert WorkerSettings.from_env(worker.to_env()) == worker  # what the actor reads back
    # empty: one actor per GPU in the cluster
    assert settings.showrunner_ray_address == "gpu-head:6379"
    assert settings.showrunner_render_actors is None

    env_file.write_text("SHOWRUNNER_RENDER_ACTORS=-1\n")
    with pytest.raises(ValidationError, match="showrunner_render_actors"):
        Settings(_env_file=env_file)

    env_file.write_text("SHOWRUNNER_CPU_OFFLOAD=maybe\n")
    with pytest.raises(InvalidInput, match="SHOWRUNNER_CPU_OFFLOAD 'maybe' must be 1"):
        Settings(_env_file=env_file).worker_settings()
