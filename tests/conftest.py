"""Shared fixtures: real SQLite files, a quiet torch, offline model hubs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
import pytest_asyncio

from pipeline.render.worker_client import LocalWorker, WorkerClient

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI
    from tests.studio import Studio

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SHOWRUNNER_TORCH_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_worker_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One worker subprocess for the whole run, for tests that only submit uniquely named jobs
    and read their own results back (no cancelling, crashing or reconfiguring it). Only its
    URL is shared: each test talks to it from its own event loop."""
    local = LocalWorker(tmp_path_factory.mktemp("shared-worker-media"))
    url = await local.start()
    yield url
    await local.stop()


@pytest.fixture
async def shared_worker(shared_worker_url: str) -> AsyncIterator[WorkerClient]:
    """A client of the session's shared worker (see shared_worker_url for what is safe)."""
    async with aiohttp.ClientSession() as session:
        yield WorkerClient(shared_worker_url, session)


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[WorkerClient]:
    """A real worker subprocess on loopback, and a client for it."""
    local = LocalWorker(tmp_path / "worker-media")
    url = await local.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield WorkerClient(url, session)
    finally:
        await local.stop()


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
    from tests.studio import UNUSED_WORKER, open_studio, running_bot, start_two_shot_project

    async with (
        open_studio(tmp_path / "data", showrunner_workers=UNUSED_WORKER) as world,
        running_bot(world, scripted(say("unused"))),
    ):
        await start_two_shot_project(world)
        yield world
