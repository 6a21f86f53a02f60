"""The test run's local Ray: one per pytest process, with four logical GPUs (nothing here has a
real one: the actors render on the CPU, SHOWRUNNER_DEVICE=cpu), and render actors of a test's
own that are killed after it."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import ray

from pipeline.render.actors import RenderActorClient, actor_options, start_render_actors
from pipeline.render.cluster import NAMESPACE
from pipeline.worker.actor import RenderActor
from pipeline.worker.settings import WorkerSettings

LOGICAL_GPUS = 4


def start_test_cluster() -> None:
    """Start this process's local Ray once (the bot's runtime then joins it)."""
    if ray.is_initialized():
        return
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        num_cpus=8,  # logical: each actor asks for one, several tests' actors live at once
        num_gpus=LOGICAL_GPUS,
        namespace=NAMESPACE,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        logging_level=logging.WARNING,
    )


def cpu_worker_env(**variables: str) -> dict[str, str]:
    """A render actor's settings on the CPU, one torch thread, plus `variables`."""
    env = WorkerSettings(device="cpu", torch_threads=1).to_env()
    return {**env, **variables}


@contextlib.asynccontextmanager
async def render_actors(count: int = 1, **variables: str) -> AsyncIterator[list[RenderActorClient]]:
    """`count` render actors of this test's own (fresh processes), killed afterwards."""
    start_test_cluster()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    clients = await start_render_actors(cpu_worker_env(**variables), count, prefix=prefix)
    try:
        yield clients
    finally:
        for client in clients:
            ray.kill(client.handle, no_restart=True)


def cpu_actor(
    name: str, actor_class: type[RenderActor] = RenderActor, **options: Any
) -> RenderActorClient:
    """An actor of `actor_class` (RenderActor, or a test's subclass of it) under `name`,
    asking for no GPU, with more of Ray's actor `options` (e.g. a runtime_env), started
    directly rather than found by name; the caller kills it."""
    handle = (
        ray.remote(actor_class)
        .options(**actor_options(name, 0), **options)
        .remote(cpu_worker_env(), False)
    )
    return RenderActorClient(name, handle)


async def pid_of(client: RenderActorClient) -> int:
    """The pid of the actor's process (this host's)."""
    return int((await client.health())["pid"])
