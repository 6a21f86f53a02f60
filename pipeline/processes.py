"""Stopping the helper processes we start (workers, the embedded LLM server)."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_process(process: asyncio.subprocess.Process | None, grace: float = 10) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL."""
    if process is None or process.returncode is not None:
        return
    process.terminate()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(grace):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
