"""Talking to a worker over HTTP, and starting a local one when none is configured."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pipeline.errors import BadRequest, WorkerError
from pipeline.processes import environment_without_secrets, start_child, stop_process
from pipeline.worker.requests import RenderRequest


@dataclass
class WorkerClient:
    base_url: str
    session: aiohttp.ClientSession
    token: str = field(default="", repr=False)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _json(self, response: aiohttp.ClientResponse) -> dict[str, Any]:
        text = await response.text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise WorkerError(
                f"worker {self.base_url} answered HTTP {response.status} with non-JSON"
            ) from None
        if not isinstance(data, dict):
            raise WorkerError(f"worker {self.base_url} answered with unexpected JSON")
        if response.status == 400:
            raise BadRequest(f"worker refused the job: {data.get('error', response.status)}")
        if response.status >= 400:
            raise WorkerError(f"worker refused the job: {data.get('error', response.status)}")
        return data

    async def submit(self, request: RenderRequest) -> dict[str, Any]:
        async with self.session.post(
            f"{self.base_url}/v1/jobs", json=request.to_json(), headers=self._headers
        ) as response:
            return await self._json(response)

    async def state(self, job_id: str) -> dict[str, Any] | None:
        async with self.session.get(
            f"{self.base_url}/v1/jobs/{job_id}", headers=self._headers
        ) as response:
            if response.status == 404:
                return None
            return await self._json(response)

    async def cancel(self, job_id: str) -> None:
        async with self.session.delete(
            f"{self.base_url}/v1/jobs/{job_id}", headers=self._headers
        ) as response:
            await response.read()

    async def follow(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        """Yield the job's states as the worker streams them, until it ends."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
        async with self.session.get(
            f"{self.base_url}/v1/jobs/{job_id}/events", timeout=timeout, headers=self._headers
        ) as response:
            if response.status >= 400:
                await self._json(response)
            async for line in response.content:
                if not line.strip():
                    continue
                try:
                    state = json.loads(line)
                except json.JSONDecodeError:
                    raise WorkerError("worker sent a malformed progress line") from None
                yield state

    async def download(self, path: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_suffix(destination.suffix + ".part")
        async with self.session.get(f"{self.base_url}{path}", headers=self._headers) as response:
            if response.status != 200:
                raise WorkerError(f"worker could not send {path}: HTTP {response.status}")
            with partial.open("wb") as handle:
                async for chunk in response.content.iter_chunked(1 << 16):
                    handle.write(chunk)
        os.replace(partial, destination)
        return destination

    async def health(self) -> dict[str, Any]:
        async with self.session.get(
            f"{self.base_url}/v1/health",
            timeout=aiohttp.ClientTimeout(total=5),
            headers=self._headers,
        ) as response:
            return await self._json(response)


class LocalWorker:
    """A worker subprocess on loopback, started and stopped by the bot or the CLI."""

    def __init__(self, media_dir: Path, env: dict[str, str] | None = None) -> None:
        self.media_dir = media_dir
        self.env = env or {}
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, timeout: float = 120) -> str:
        # the worker token is passed on explicitly, in self.env, when one is set
        env = {**environment_without_secrets(), "OMP_WAIT_POLICY": "PASSIVE", **self.env}
        self.process = await start_child(
            sys.executable,
            "-m",
            "pipeline.worker.service",
            "--port",
            "0",
            "--media-dir",
            str(self.media_dir),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await self.process.stdout.readline()
                    if not line:
                        raise WorkerError("the local worker exited before it was ready")
                    text = line.decode().strip()
                    if text.startswith("READY "):
                        self.url = text.split(" ", 1)[1]
                        break
        except TimeoutError:
            await self.stop()
            raise WorkerError("the local worker did not start in time") from None
        return self.url

    async def stop(self) -> None:
        await stop_process(self.process)
