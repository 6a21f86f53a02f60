"""What a render actor is told: its device, CPU threads, ffmpeg, and how its engines spend
memory. One object for both sides: the bot builds it from its own settings (.env) and hands it
to the render actors it starts, as variables (to_env); an actor reads them once (from_env) and
hands the object to its engines, which never read the environment.

  SHOWRUNNER_DEVICE        torch device: cpu, cuda, mps (default: the actor's GPU, else cpu)
  SHOWRUNNER_TORCH_THREADS CPU threads for torch (default: torch's own choice)
  SHOWRUNNER_MAX_MODELS    pipelines kept loaded per engine cache (default 1)
  SHOWRUNNER_DTYPE         float16, bfloat16 or float32 (default float16 on CUDA, else float32)
  SHOWRUNNER_CPU_OFFLOAD=1 enable_model_cpu_offload() (CUDA with accelerate only)
  SHOWRUNNER_VAE_TILING=1  decode big frames tile by tile
  SHOWRUNNER_COMPILE=1     torch.compile the denoiser
  SHOWRUNNER_IP_ADAPTER    an IP-Adapter for every model (a weights file or a Hub path)
  SHOWRUNNER_SPEECH_MODEL  a speech model that clones (Hugging Face id or folder): it speaks the
                           lines of voices with a reference clip (empty: the embedded voices)
  FFMPEG_BINARY            the ffmpeg to run (default: imageio-ffmpeg's, else PATH's)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DTYPES = ("float16", "bfloat16", "float32")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ValueError(f"{name} {value!r} must be 1 (on) or empty (off)")
    return value in _TRUE


def _whole(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} {raw!r} must be a whole number from 1")
    return int(raw)


@dataclass(frozen=True)
class WorkerSettings:
    device: str = "cpu"  # from_env: "auto" when unset, which the actor resolves
    torch_threads: int | None = None
    max_models: int = 1
    dtype: str = ""  # empty: the engine's default for the device
    cpu_offload: bool = False
    vae_tiling: bool = False
    compile: bool = False
    ip_adapter: str = ""
    speech_model: str = ""
    ffmpeg_binary: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WorkerSettings:
        """Read and check every variable; a ValueError names the first bad one."""
        dtype = env.get("SHOWRUNNER_DTYPE", "").strip().lower()
        if dtype and dtype not in DTYPES:
            raise ValueError(f"SHOWRUNNER_DTYPE {dtype!r} must be one of {', '.join(DTYPES)}")
        return cls(
            device=env.get("SHOWRUNNER_DEVICE", "").strip() or "auto",
            torch_threads=_whole(env, "SHOWRUNNER_TORCH_THREADS", None),
            max_models=_whole(env, "SHOWRUNNER_MAX_MODELS", 1) or 1,
            dtype=dtype,
            cpu_offload=_flag(env, "SHOWRUNNER_CPU_OFFLOAD"),
            vae_tiling=_flag(env, "SHOWRUNNER_VAE_TILING"),
            compile=_flag(env, "SHOWRUNNER_COMPILE"),
            ip_adapter=env.get("SHOWRUNNER_IP_ADAPTER", "").strip(),
            speech_model=env.get("SHOWRUNNER_SPEECH_MODEL", "").strip(),
            ffmpeg_binary=env.get("FFMPEG_BINARY", "").strip(),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that give a worker process these settings (from_env reads them)."""
        flag = {True: "1", False: ""}
        return {
            "SHOWRUNNER_DEVICE": self.device,
            "SHOWRUNNER_TORCH_THREADS": str(self.torch_threads or ""),
            "SHOWRUNNER_MAX_MODELS": str(self.max_models),
            "SHOWRUNNER_DTYPE": self.dtype,
            "SHOWRUNNER_CPU_OFFLOAD": flag[self.cpu_offload],
            "SHOWRUNNER_VAE_TILING": flag[self.vae_tiling],
            "SHOWRUNNER_COMPILE": flag[self.compile],
            "SHOWRUNNER_IP_ADAPTER": self.ip_adapter,
            "SHOWRUNNER_SPEECH_MODEL": self.speech_model,
            "FFMPEG_BINARY": self.ffmpeg_binary,
        }
