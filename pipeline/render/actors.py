"""The bot's side of the render actors: finding or starting them, and calling them.

Actors are named and detached: a restarted bot finds the same ones (with the jobs they are
still rendering) by name. One whose code or settings differ from this bot's is replaced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray import exceptions as ray_errors

from pipeline.errors import BadRequest, WorkerError, WorkerGone
from pipeline.worker.actor import RenderActor, identity
from pipeline.worker.requests import RenderRequest
from pipeline.worker.runner import TERMINAL

T = TypeVar("T")
# a state poll returns after this long even when nothing changed (then it is asked again)
LONG_POLL_SECONDS = 30.0
# how long a new actor may take to start (its process, our imports) before the bot gives up
START_TIMEOUT = 120.0


class RenderActorClient:
    """One render actor, called from the bot's event loop. Ray's failures become the
    project's own: WorkerGone (the actor died or is restarting), BadRequest (the engine
    refused a value), WorkerError (anything else)."""

    def __init__(self, name: str, handle: Any, start: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.handle = handle
        self._start = start  # starts the actor again under its name (see start_again)

    def start_again(self) -> None:
        """After the actor was killed for good (`ray kill`): a new one under its name (or the
        one another bot already started). Ray itself restarts an actor whose process died."""
        if self._start is not None:
            self.handle = self._start()

    async def _call(self, ref: Awaitable[T]) -> T:
        try:
            return await ref
        except (ray_errors.RayActorError, ray_errors.ActorUnavailableError) as error:
            raise WorkerGone(f"render actor {self.name} stopped ({type(error).__name__})") from None
        except ray_errors.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, ValueError):
                raise BadRequest(f"the worker refused the job: {cause}") from None
            raise WorkerError(f"render actor {self.name} failed: {cause!r}") from None
        except ray_errors.RayError as error:
            raise WorkerError(f"render actor {self.name}: {type(error).__name__}") from None

    async def submit(self, request: RenderRequest) -> dict[str, Any]:
        return await self._call(self.handle.submit.remote(request))

    async def state(self, job_id: str) -> dict[str, Any] | None:
        return await self._call(self.handle.state.remote(job_id))

    async def cancel(self, job_id: str) -> dict[str, Any] | None:
        """The job's state as the cancel found it; None for an id the actor has not seen."""
        return await self._call(self.handle.cancel.remote(job_id))

    async def health(self) -> dict[str, Any]:
        return await self._call(self.handle.health.remote())

    async def follow(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        """Yield each new state of the job, until it ends."""
        version = -1
        while True:
            state = await self._call(self.handle.wait.remote(job_id, version, LONG_POLL_SECONDS))
            if state is None:
                raise WorkerError(f"render actor {self.name} no longer has job {job_id}")
            if state["version"] != version:
                version = state["version"]
                yield state
            if state["status"] in TERMINAL:
                return

    async def download(self, job_id: str, name: str, destination: Path) -> Path:
        """A file the job produced, written to `destination` whole or not at all."""
        data = await self._call(self.handle.media.remote(job_id, name))
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = destination.with_suffix(destination.suffix + ".part")
        await asyncio.to_thread(part.write_bytes, data)
        os.replace(part, destination)
        return destination


def actor_options(name: str, gpus: int) -> dict[str, Any]:
    return {
        "name": name,
        "lifetime": "detached",
        "num_gpus": 1 if gpus else 0,
        "num_cpus": 1,
        # Ray restarts an actor whose process died; its calls are never retried by Ray: the
        # scheduler counts every attempt in the jobs table, where users see them
        "max_restarts": -1,
        "max_task_retries": 0,
        "max_concurrency": 1000,
    }


async def start_render_actors(
    worker_env: dict[str, str], count: int | None = None, prefix: str = "render"
) -> list[RenderActorClient]:
    """`count` named actors (default: one per GPU in the cluster, else one on the CPU), each
    found by name when one with this code and these settings is there, else started."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    count = (gpus or 1) if count is None else count
    wanted = identity(worker_env)
    remote = ray.remote(RenderActor)
    clients = []
    for index in range(count):
        name = f"{prefix}-{index}"
        options = actor_options(name, gpus)
        found_or_new = partial(
            remote.options(**options, get_if_exists=True).remote, worker_env, bool(gpus)
        )
        client = RenderActorClient(name, found_or_new(), found_or_new)
        if await _identity(client) != wanted:
            ray.kill(client.handle)  # an older version's (or other settings'): replaced
            new = partial(remote.options(**options).remote, worker_env, bool(gpus))
            client.handle = await _new_actor(new, name)
            if await _identity(client) != wanted:
                raise WorkerError(f"render actor {name} runs other code than this bot: upgrade it")
        clients.append(client)
    return clients


async def _new_actor(new: Callable[[], Any], name: str) -> Any:
    """A new actor under `name`, once the killed one has let go of it (a moment later)."""
    for _ in range(50):
        try:
            return new()
        except ValueError:  # the name is still taken
            await asyncio.sleep(0.1)
    raise WorkerError(f"the name {name} stays taken by a render actor that was killed")


async def _identity(client: RenderActorClient) -> str:
    """The actor's identity, or "" for an actor of a version without one."""
    try:
        async with asyncio.timeout(START_TIMEOUT):
            return await client._call(client.handle.identity.remote())
    except AttributeError:
        return ""
    except TimeoutError:
        raise WorkerError(f"render actor {client.name} did not start in time") from None
