"""The embedded model (llama-cpp-python serving SmolLM2) through the real bot: a writers'-room
turn that stores a plan, and a server that crashes mid-turn. Skipped without the 'embedded'
extra."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from agents.embedded_server import uses_amx
from storage import conversation, episodes, plan, projects
from storage.db import open_db
from tests.studio import Studio, bot_messages, open_studio, running_bot, start_project

pytestmark = pytest.mark.slow
PLAN_REQUEST = "Write the plan: a mortal defies the water god Gong Gong on a rugged shore."
# an answer from SmolLM2 on two cores takes 10-30 s
ANSWER_SECONDS = 180


def cpu_ticks(pid: int) -> int:
    """User + system CPU time the process has used, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def wait_until_busy(pid: int, ticks: int = 20) -> None:
    """Until the process has worked `ticks` more clock ticks (it is generating an answer)."""
    start = cpu_ticks(pid)
    async with asyncio.timeout(60):
        while cpu_ticks(pid) - start < ticks:
            await asyncio.sleep(0.02)


async def ask(world: Studio, text: str) -> dict:
    sent = await world.emulator.user_message(world.writers, world.ana, text)
    return await world.emulator.wait_for_message(
        world.writers,
        lambda m: m["author_id"] == world.emulator.bot_user_id,
        after_id=sent["id"],
        timeout=ANSWER_SECONDS,
    )


async def wait_for_the_plan_gate(world: Studio, after_id: int) -> None:
    """The Go ahead post that follows a stored plan (the turn's last message)."""
    await world.emulator.wait_for_message(
        world.writers,
        lambda m: m["author_id"] == world.emulator.bot_user_id and m["components"],
        after_id=after_id,
        timeout=60,
    )


def embedded_servers() -> list[int]:
    """The live embedded model servers this test process started."""
    found = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"agents.embedded_server" in cmdline:
                found.append(int(child))
    return found


def stored_shots(world: Studio) -> int:
    db = open_db(world.settings.database_path)
    project = projects.project_for_channel(db, world.writers)
    episode = episodes.current_episode(db, project.id)
    return len(plan.list_shots(db, episode.id)) if episode else 0


def embedded_studio(tmp_path: Path):
    # no endpoint configured, whatever the environment says: the embedded model
    return open_studio(tmp_path / "data", openai_base_url="", openai_api_key="")


async def test_a_chat_turn_on_the_embedded_model_stores_a_plan(tmp_path: Path, embedded_model):
    async with embedded_studio(tmp_path) as world, running_bot(world, None):
        await start_project(world)
        reply = await ask(world, PLAN_REQUEST)
        assert "Plan stored: episode 1" in reply["content"], reply["content"]
        assert stored_shots(world) >= 1
        await wait_for_the_plan_gate(world, reply["id"])


async def test_a_crash_mid_turn_is_told_and_the_next_turn_works(
    tmp_path: Path, embedded_model, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    async with embedded_studio(tmp_path) as world, running_bot(world, None) as bot:
        await start_project(world)
        server = bot.runtime.director.host
        crashed_pid = server.process.pid
        sent = await world.emulator.user_message(world.writers, world.ana, PLAN_REQUEST)
        await wait_until_busy(crashed_pid)
        os.kill(crashed_pid, signal.SIGSEGV)
        reply = await world.emulator.wait_for_message(
            world.writers,
            lambda m: m["author_id"] == world.emulator.bot_user_id,
            after_id=sent["id"],
            timeout=ANSWER_SECONDS,
        )
        assert "The embedded model crashed (signal 11, SIGSEGV)" in reply["content"]
        assert "nothing was changed" in reply["content"]
        assert "OPENAI_BASE_URL" in reply["content"]
        # the server's last words reach the log, never Discord
        shown = "".join(m["content"] for m in bot_messages(world, world.writers))
        assert "llama.cpp build:" not in shown
        db = open_db(world.settings.database_path)
        project = projects.project_for_channel(db, world.writers)
        assert conversation.recent_messages(db, project.id, 10) == []
        assert stored_shots(world) == 0

        # two turns at once after a crash start one server, not two on the same port
        await asyncio.gather(server.ensure_running(), server.ensure_running())
        assert len(embedded_servers()) == 1
        answer = await ask(world, PLAN_REQUEST)
        assert "Plan stored: episode 1" in answer["content"], answer["content"]
        await wait_for_the_plan_gate(world, answer["id"])
        assert server.process.pid != crashed_pid and server.crash() is None
    ended = [r.getMessage() for r in caplog.records if "embedded model server ended" in r.message]
    assert len(ended) == 1 and "signal 11, SIGSEGV" in ended[0]
    assert "Llama.generate" in ended[0]  # the tail of its stderr


def test_only_a_build_with_amx_kernels_turns_extra_buffers_off() -> None:
    native = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |"
    portable = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | REPACK = 1 |"
    assert uses_amx(native) and not uses_amx(portable)
