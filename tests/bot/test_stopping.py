"""Stopping `showrunner produce` and `showrunner bot` as a terminal, systemd or `docker stop`
would: real processes, real signals, and no process of theirs (the embedded model server, the
local Ray and its render actor) left running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import plan, takes
from storage.db import open_db
from tests.cli_env import PREMISE, clean_env
from tests.studio import open_studio

pytestmark = pytest.mark.slow
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
SMALL_FRAMES = {"SHOWRUNNER_WIDTH": "180", "SHOWRUNNER_HEIGHT": "320", "SHOWRUNNER_FPS": "12"}


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants_of(pid: int) -> list[int]:
    """Its children, theirs, and so on (gone ones skipped)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for child in children_of(pid):
            found += [child, *descendants_of(child)]
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def helpers_of(pid: int) -> list[int]:
    """Every process it started, directly or not, once the render actor is up: the embedded
    model server, the local Ray (its raylet and GCS server) and the render actor among them."""
    deadline = time.monotonic() + 60
    while True:
        found = descendants_of(pid)
        lines = [command_line(child) for child in found]
        wanted = ("embedded_server", "raylet", "gcs_server", "ray::RenderActor")
        if all(any(name in line for line in lines) for name in wanted):
            return found
        assert time.monotonic() < deadline, f"not all of {wanted} started: {lines}"
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def wait_until_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still alive after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def start_produce(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """`showrunner produce` in its own process group, as a terminal starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "produce", *args],
        env={**clean_env(data_dir), **SMALL_FRAMES},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=data_dir,
        start_new_session=True,
    )


def read_until(process: subprocess.Popen[str], text: str) -> list[str]:
    """Its printed lines, up to the first one matching `text` (a regular expression)."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.search(text, line):
            return lines
    raise AssertionError(f"exited before printing {text!r}: {process.stderr.read()[-2000:]}")


def test_ctrl_c_stops_produce_in_seconds_and_resume_finishes_the_episode(
    tmp_path: Path, embedded_model
):
    process = start_produce(tmp_path, PREMISE)
    # a shot is rendered (not only its line spoken), the others are not yet
    read_until(process, r"shot \d+/\d+: done")
    children = helpers_of(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - started < 15
    assert process.returncode == 130
    assert "stopped by SIGINT" in stderr and "showrunner produce --resume" in stderr
    assert wait_until_gone(children, 5) == []

    db = open_db(tmp_path / "showrunner.db")
    (episode,) = db.table("episodes").rows
    shots = plan.list_shots(db, episode["id"])
    rendered = {shot.id: [t.id for t in takes.takes_for_shot(db, shot.id)] for shot in shots}
    assert any(rendered.values()) and not all(shot.approved_take_id for shot in shots)
    db.close()

    resumed = start_produce(tmp_path, "--resume")
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-2000:]
    assert "Resuming episode 1" in stdout
    path = Path(stdout.strip().splitlines()[-1])
    assert path.exists() and path.suffix == ".mp4"
    db = open_db(tmp_path / "showrunner.db")
    assert db.table("episodes").count == 1
    for shot in plan.list_shots(db, episode["id"]):
        assert shot.approved_take_id is not None
        if rendered[shot.id]:  # what the first run rendered was kept, not rendered again
            assert [t.id for t in takes.takes_for_shot(db, shot.id)] == rendered[shot.id]


def test_sigterm_stops_produce_and_its_children(tmp_path: Path, embedded_model):
    process = start_produce(tmp_path, PREMISE)
    read_until(process, "Writing the plan")  # the model is answering
    children = helpers_of(process.pid)
    process.send_signal(signal.SIGTERM)  # to the parent alone, as systemd or docker stop do
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143 and "stopped by SIGTERM" in stderr
    assert wait_until_gone(children, 5) == []
    assert not (tmp_path / "showrunner.db-wal").exists()  # the database was closed


def test_children_exit_when_produce_is_killed(tmp_path: Path, embedded_model):
    process = start_produce(tmp_path, PREMISE)
    read_until(process, "Writing the plan")
    children = helpers_of(process.pid)
    # Ray's two agents see their raylet die at once but then wait ~60 s on a call to the dead
    # GCS before they exit (Ray's own behaviour, measured): not waited for here
    agents = [pid for pid in children if command_line(pid).startswith(RAY_AGENTS)]
    process.kill()  # SIGKILL: no cleanup runs in the parent
    process.communicate(timeout=30)
    assert len(agents) == 2
    assert wait_until_gone([pid for pid in children if pid not in agents], 10) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_bot_in_order(tmp_path: Path, embedded_model, signum: int):
    async with open_studio(tmp_path / "data") as world:
        env = {
            **clean_env(tmp_path / "data"),
            "DISCORD_TOKEN": world.emulator.token,
            "DISCORD_API_BASE": world.emulator.api_base,
            "DISCORD_GATEWAY_URL": world.emulator.gateway_url,
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "bot",
            env=env,
            cwd=tmp_path,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await world.emulator.wait_bot_ready(timeout=120)
            children = helpers_of(bot.pid)
            bot.send_signal(signum)
            async with asyncio.timeout(30):
                _, stderr = await bot.communicate()
        finally:
            if bot.returncode is None:  # the test failed first: no bot is left running
                bot.kill()
                await bot.wait()
        assert bot.returncode == 128 + signum
        assert f"stopped by {signal.Signals(signum).name}" in stderr.decode()
        await world.emulator.wait_bot_disconnected()
        assert wait_until_gone(children, 5) == []
        assert not (tmp_path / "data" / "showrunner.db-wal").exists()
