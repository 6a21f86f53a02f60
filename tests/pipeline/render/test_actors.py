"""Finding the render actors again: same code and settings -> the same warm actor; other
settings (or another code version) -> replaced; a dead actor's job fails with what happened."""

from __future__ import annotations

import contextlib
import uuid

import pytest
import ray

from pipeline.errors import WorkerError, WorkerGone
from pipeline.render.actors import start_render_actors
from pipeline.worker import actor as actor_module
from pipeline.worker.requests import RenderRequest
from tests.ray_cluster import cpu_worker_env, pid_of


@pytest.fixture
def prefix(ray_cluster: None):
    name = f"find-{uuid.uuid4().hex[:8]}"
    yield name
    for index in range(2):
        with contextlib.suppress(ValueError):  # never started, or already gone
            ray.kill(ray.get_actor(f"{name}-{index}"), no_restart=True)


async def test_a_restarted_bot_finds_the_same_actors_and_replaces_those_with_other_settings(
    prefix: str,
) -> None:
    [first] = await start_render_actors(cpu_worker_env(), 1, prefix=prefix)
    warm_pid = await pid_of(first)

    [again] = await start_render_actors(cpu_worker_env(), 1, prefix=prefix)
    assert again.name == first.name and await pid_of(again) == warm_pid  # found, still warm

    changed = cpu_worker_env(SHOWRUNNER_MAX_MODELS="2")
    [replaced] = await start_render_actors(changed, 1, prefix=prefix)
    assert await pid_of(replaced) != warm_pid
    assert await replaced.handle.identity.remote() == actor_module.identity(changed)
    with pytest.raises(WorkerGone):  # the old one was killed, not left beside the new one
        await first.health()


async def test_an_actor_of_another_code_version_is_replaced(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [old] = await start_render_actors(cpu_worker_env(), 1, prefix=prefix)
    old_pid = await pid_of(old)
    # this bot runs newer code than the actor it finds (detached actors outlive the bot)
    monkeypatch.setattr(actor_module, "code_version", lambda: "newer")
    with pytest.raises(WorkerError, match="runs other code than this bot"):
        # the replacement runs the code installed where it runs: still not "newer"
        await start_render_actors(cpu_worker_env(), 1, prefix=prefix)
    with pytest.raises(WorkerGone):  # the old one was replaced all the same
        await old.health()
    assert old_pid > 0


async def test_a_job_on_an_actor_killed_for_good_fails_with_what_happened(
    prefix: str,
) -> None:
    [client] = await start_render_actors(cpu_worker_env(), 1, prefix=prefix)
    ray.kill(client.handle, no_restart=True)
    request = RenderRequest("gone1", "animatic", "a shore", (1,), 1.0, 180, 320, 12)
    with pytest.raises(WorkerGone, match=f"render actor {client.name} stopped"):
        await client.submit(request)
