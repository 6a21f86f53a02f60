"""The embedded model server's own process: llama-cpp-python's OpenAI-compatible server, made
safe for any x86-64 CPU and tied to the process that started it.

Run as `python -m agents.embedded_server <llama_cpp.server arguments>`; EmbeddedServer does.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pipeline.processes import exit_with_parent

log = logging.getLogger(__name__)


def uses_amx(system_info: str) -> bool:
    """Whether this llama.cpp build has AMX kernels (a native build on a CPU that reports AMX)."""
    return any(part.strip().startswith("AMX") for part in system_info.split("|"))


def avoid_amx_tiles() -> None:
    """A build with AMX kernels repacks weights into AMX tiles, which crashes (a general
    protection fault at `ldtilecfg`) where a VM reports AMX but does not let processes use it.
    The portable build (.ci/setup) has none; for any other build, turn the extra buffer types
    off: the weights then stay in the plain CPU buffer, which every x86-64 CPU can use."""
    import llama_cpp.llama_cpp as native

    info = native.llama_print_system_info().decode(errors="replace")
    print(f"llama.cpp build: {info.strip()}", file=sys.stderr, flush=True)
    if not uses_amx(info):
        return
    default_params = native.llama_model_default_params

    def params_without_extra_buffers() -> Any:  # a ctypes llama_model_params
        params = default_params()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = params_without_extra_buffers
    print("AMX build: extra buffer types turned off", file=sys.stderr, flush=True)


def main() -> None:
    exit_with_parent()
    avoid_amx_tiles()
    from llama_cpp.server.__main__ import main as serve

    serve()  # reads sys.argv; uvicorn stops on SIGTERM and SIGINT


if __name__ == "__main__":
    main()
