"""The helper processes we start (and Ray's, which run the render actors): no secret in their
environment, told who their parent is, and how their end is described to a user."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from pipeline.processes import PARENT_VARIABLE, describe_exit, start_child, stop_process

SECRETS = {"DISCORD_TOKEN": "discord-secret", "OPENAI_API_KEY": "sk-secret"}


async def test_a_child_gets_no_secret_and_knows_its_parent(monkeypatch: pytest.MonkeyPatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    child = await start_child(
        sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await child.communicate()
    env = json.loads(out)
    assert not set(SECRETS) & set(env)
    assert env[PARENT_VARIABLE] == str(os.getpid())
    assert not set(SECRETS.values()) & set(env.values())


# a process of its own starts a local Ray as the bot does (this test run's Ray is started
# already), starts a render actor in it, and reports the environments: its own after connect()
# and the actor process's
LOCAL_RAY = """
import asyncio, json, os, pathlib
import ray
from pipeline.render.actors import start_render_actors
from pipeline.render.cluster import connect
from pipeline.worker.settings import WorkerSettings

def environ_of(pid):
    raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

async def main():
    connect()
    env = WorkerSettings(device="cpu", torch_threads=1).to_env()
    (actor,) = await start_render_actors(env, 1, prefix="secrets")
    pid = (await actor.health())["pid"]
    print(json.dumps({"own": dict(os.environ), "actor": environ_of(pid), "pid": pid}))

try:
    asyncio.run(main())
finally:
    ray.shutdown()
"""


async def test_a_local_ray_and_its_render_actors_get_no_secret() -> None:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCAL_RAY,
        env={**env, **SECRETS, "SHOWRUNNER_TEST_MARK": "inherited"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(180):
        out, err = await child.communicate()
    assert child.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])

    actor = report["actor"]
    # a process of Ray's, which inherited the environment of the process that started Ray...
    assert report["pid"] != child.pid
    assert actor["SHOWRUNNER_TEST_MARK"] == "inherited"
    # ...all of it but the secrets
    assert not set(SECRETS) & set(actor)
    assert not set(SECRETS.values()) & set(actor.values())
    # the process that started Ray keeps its secrets (the bot logs in with its token)
    assert {key: report["own"].get(key) for key in SECRETS} == SECRETS


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
