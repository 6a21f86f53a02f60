"""The helper processes we start (workers, the embedded LLM server): starting them so that none
outlives us, stopping them in order, and running a command until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from storage.errors import ShowrunnerError

log = logging.getLogger(__name__)
T = TypeVar("T")

# set for a child we start; the child ends itself once that process is gone (see exit_with_parent)
PARENT_VARIABLE = "SHOWRUNNER_PARENT_PID"
PARENT_POLL_SECONDS = 0.5
# after asking itself to stop, an orphaned child waits this long before it exits regardless
ORPHAN_GRACE_SECONDS = 2.0


# no helper process needs these: never inherited (Ray's processes included, see render.cluster)
SECRET_VARIABLES = frozenset({"DISCORD_TOKEN", "OPENAI_API_KEY"})


def environment_without_secrets() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}


class Stopped(ShowrunnerError):
    """SIGINT or SIGTERM ended the command after its cleanup ran."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process that must not outlive this one."""
    return {**env, PARENT_VARIABLE: str(os.getpid())}


def exit_with_parent() -> None:
    """In a child started with child_environment: once the parent process is gone (exited,
    crashed or SIGKILLed), stop this one: SIGTERM to itself, then a hard exit after a grace."""
    value = os.environ.pop(PARENT_VARIABLE, "")  # not inherited by our own children
    if not value.isdigit():
        return
    parent = int(value)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        log.warning("the process that started this one (pid %d) is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


async def start_child(*command: str, env: dict[str, str] | None = None, **options: Any):
    """A child process in its own session (a terminal's Ctrl-C reaches only us, and we stop it
    in order) that ends itself when we are gone; by default with our environment less secrets."""
    return await asyncio.create_subprocess_exec(
        *command,
        env=child_environment(environment_without_secrets() if env is None else env),
        start_new_session=True,
        **options,
    )


async def stop_process(process: asyncio.subprocess.Process | None, grace: float = 10) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            await process.wait()
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def describe_exit(returncode: int) -> str:
    """'signal 11, SIGSEGV' or 'exit code 1', for a message to the user."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
        return f"signal {-returncode}, {name}"
    return f"exit code {returncode}"


def run_until_signalled(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with SIGINT and SIGTERM turned into one cancellation of `main`, so its
    cleanup (finally blocks, exit stacks) stops children and closes the database in order.
    Raises Stopped once that cleanup is done; a second signal while stopping is ignored."""
    received: list[int] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if received:
                log.warning("already stopping (%s ignored)", signal.Signals(signum).name)
                return
            received.append(signum)
            log.info("%s: stopping", signal.Signals(signum).name)
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        return await main

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if received:
            raise Stopped(received[0]) from None
        raise
