"""The helper processes we start: no secret in their environment, told who their parent is,
and how their end is described to a user."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from pipeline.processes import PARENT_VARIABLE, describe_exit, start_child, stop_process
from pipeline.render.worker_client import LocalWorker

SECRETS = {"DISCORD_TOKEN": "discord-secret", "OPENAI_API_KEY": "sk-secret"}


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def test_a_child_gets_no_secret_and_knows_its_parent(monkeypatch: pytest.MonkeyPatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHOWRUNNER_WORKER_TOKEN", "worker-secret")
    child = await start_child(
        sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    env = json.loads(out)
    assert not {"DISCORD_TOKEN", "OPENAI_API_KEY", "SHOWRUNNER_WORKER_TOKEN"} & set(env)
    assert env[PARENT_VARIABLE] == str(os.getpid())
    assert not {"discord-secret", "sk-secret", "worker-secret"} & set(env.values())


async def test_the_local_worker_gets_its_token_and_no_other_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    worker = LocalWorker(tmp_path / "media", {"SHOWRUNNER_WORKER_TOKEN": "passed-on"})
    await worker.start()
    try:
        assert worker.process is not None
        env = environ_of(worker.process.pid)
    finally:
        await worker.stop()
    assert env["SHOWRUNNER_WORKER_TOKEN"] == "passed-on"
    assert not set(SECRETS) & set(env)


async def test_stop_process_ends_a_child_that_ignores_sigterm():
    child = await start_child(
        sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    await child.stdout.readline()  # its SIGTERM handler is set
    await stop_process(child, grace=0.5)
    assert child.returncode == -signal.SIGKILL


def test_an_end_is_described_as_a_user_can_act_on_it():
    assert describe_exit(-11) == "signal 11, SIGSEGV"
    assert describe_exit(-9) == "signal 9, SIGKILL"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-200) == "signal 200"
