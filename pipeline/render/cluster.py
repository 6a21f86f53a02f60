"""Joining Ray: a local one started here by default, or a cluster at SHOWRUNNER_RAY_ADDRESS.

A local Ray (the default) lives as long as this process: `showrunner bot` and `showrunner
produce` need no other command. A cluster is started by the operator (`ray start --head`, then
`ray start --address=HEAD:6379 --num-gpus=N` on each GPU host): see the README.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ray

from pipeline.errors import WorkerError
from pipeline.processes import SECRET_VARIABLES

log = logging.getLogger(__name__)
NAMESPACE = "showrunner"
# the shared memory a local Ray keeps for media in flight (a draft is at most a few MiB)
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class RayInfo:
    address: str  # "" for a local Ray
    cpus: float
    gpus: int
    started_here: bool  # this call started Ray: the caller shuts it down (ray.shutdown)


@contextlib.contextmanager
def _own_sigterm_kept() -> Iterator[None]:
    """ray.init makes SIGTERM exit the process at once (sys.exit); ours stops it in order
    (pipeline/processes.run_until_signalled): put back after it."""
    ours = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread() and ours is not None:
            signal.signal(signal.SIGTERM, ours)


@contextlib.contextmanager
def _secrets_hidden() -> Iterator[None]:
    """A local Ray's processes (and so the render actors) inherit this process's environment
    at start: the Discord token and the API keys are taken out of it meanwhile."""
    hidden = {name: os.environ.pop(name) for name in SECRET_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(hidden)


def connect(address: str = "") -> RayInfo:
    """Join the cluster at `address`, or start a local Ray; once per process (a process
    already joined to a Ray stays with it)."""
    started_here = not ray.is_initialized()
    if started_here:
        # no usage reports (nothing outside is reachable anyway) and Ray's INFO lines kept out
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            with _own_sigterm_kept():
                _start_or_join(address)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise WorkerError(f"could not start or join {where}: {error}") from None
    resources = ray.cluster_resources()
    info = RayInfo(address, resources.get("CPU", 0.0), int(resources.get("GPU", 0)), started_here)
    log.info(
        "Ray %s: %g CPUs, %d GPUs; this process holds %d MiB (Ray's client included)",
        address or "(local)",
        info.cpus,
        info.gpus,
        own_memory_mib(),
    )
    return info


def _start_or_join(address: str) -> None:
    if address:
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING)
        return
    with _secrets_hidden():
        ray.init(
            namespace=NAMESPACE,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            logging_level=logging.WARNING,
        )


def own_memory_mib() -> int:
    """This process's resident memory now (the bot reports it: Ray's client adds to it)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    except (OSError, ValueError, IndexError):  # not Linux: the peak instead
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
