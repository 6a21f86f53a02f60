"""Shared fixtures: real SQLite files, a quiet torch, offline model hubs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import ray

from pipeline.render.actors import RenderActorClient
from tests.ray_cluster import cpu_actor, render_actors, start_test_cluster

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI
    from tests.studio import Studio

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SHOWRUNNER_TORCH_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# the bot's render actors in tests run on the CPU, though the test Ray has logical GPUs
os.environ.setdefault("SHOWRUNNER_DEVICE", "cpu")


@pytest.fixture
def fresh_db(tmp_path: Path):
    from storage.db import open_db

    db = open_db(tmp_path / "studio.db")
    yield db
    db.close()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Stable-Diffusion-style keyframe model, built from configs."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    from pipeline.worker.tiny_models.keyframe import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def ray_cluster() -> None:
    """This test run's local Ray (see tests/ray_cluster.py)."""
    start_test_cluster()


@pytest.fixture(scope="session")
def shared_worker(ray_cluster: None) -> Iterator[RenderActorClient]:
    """One render actor for the whole run, for tests that only submit uniquely named jobs and
    read their own results back (no cancelling, crashing or reconfiguring it)."""
    client = cpu_actor("test-shared-0")
    yield client
    ray.kill(client.handle, no_restart=True)


@pytest.fixture
async def worker(ray_cluster: None) -> AsyncIterator[RenderActorClient]:
    """A render actor of this test's own (a fresh process), killed after it."""
    async with render_actors(1) as [client]:
        yield client


@pytest.fixture
def embedded_model() -> Path:
    """The embedded LLM's model file; the test is skipped where the 'embedded' extra is not
    installed (a checkout set up without it)."""
    import importlib.util

    from agents.embedded import EmbeddedModelMissing, embedded_model_path

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (the 'embedded' extra, see .ci/setup)")
    try:
        return embedded_model_path()
    except EmbeddedModelMissing as missing:
        pytest.skip(f"the embedded model file is not installed: {missing}")


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeOpenAI]:
    """A scripted fake of the OpenAI chat-completions API, serving on loopback."""
    from aiohttp import web

    from tests.fake_openai import FakeOpenAI

    fake = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    yield fake
    fake.release()
    await runner.cleanup()


@pytest.fixture
async def review_room(tmp_path: Path) -> AsyncIterator[Studio]:
    """The bot running in a project (quorum 2, a director role) with a two-shot plan."""
    from tests.fakes import say, scripted
    from tests.studio import open_studio, running_bot, start_two_shot_project

    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, scripted(say("unused"))),
    ):
        await start_two_shot_project(world)
        yield world
