"""What the diffusers engines share: loaded pipelines on one device, least recently used
evicted first, and how they spend device memory. Each engine keeps its own cache (the video
engine one for keyframe pipelines, through its keyframe engine, and one for video pipelines).

Worker side only (imports torch). The memory settings are the worker's (pipeline.worker.settings).
"""

from __future__ import annotations

import gc
import logging
import threading
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.utils import is_accelerate_available

from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class NotANumber(ValueError):
    """An audio model's output overflowed (float16 does, in the speech and music models): the
    same request would again (a ValueError: the worker does not retry it)."""

    def __init__(self) -> None:
        super().__init__(
            "the model's output is not a number: try SHOWRUNNER_DTYPE=bfloat16 or float32"
        )


def write_pcm16(audio: np.ndarray, sample_rate: int, out: Path) -> None:
    """An audio model's output (channels x samples, -1..1) as a 16-bit WAV; NotANumber when
    it overflowed (written as is, NaN would be silence nobody is told about)."""
    if not np.isfinite(audio).all():
        raise NotANumber
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(out), "wb") as written:
        written.setnchannels(audio.shape[0])
        written.setsampwidth(2)
        written.setframerate(sample_rate)
        written.writeframes(pcm.T.tobytes())


_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


class RenderOutOfMemory(ValueError):
    """Even one take at a time did not fit on the GPU; the message says what to change."""


@dataclass(frozen=True)
class MemoryOptions:
    """How an engine spends device memory (WorkerSettings, with torch's dtype)."""

    max_models: int
    dtype: torch.dtype
    cpu_offload: bool = False
    vae_tiling: bool = False
    compile: bool = False

    @classmethod
    def of(cls, settings: WorkerSettings, cuda_default: str = "float16") -> MemoryOptions:
        """The worker's memory settings; without a dtype, cuda_default on CUDA, else float32."""
        default = cuda_default if settings.device.startswith("cuda") else "float32"
        return cls(
            max_models=settings.max_models,
            dtype=_DTYPES[settings.dtype or default],
            cpu_offload=settings.cpu_offload,
            vae_tiling=settings.vae_tiling,
            compile=settings.compile,
        )


class ModelCache:
    """Pipelines loaded by `load(model)`, kept on `device` while recently used (at most
    memory.max_models; the least recently used is dropped first)."""

    def __init__(self, device: str, memory: MemoryOptions, load: Callable[[str], Any]) -> None:
        self.device = device
        self.memory = memory
        self._load = load
        self._pipelines: OrderedDict[str, Any] = OrderedDict()
        # the worker reads loaded() from its event loop while a render thread loads
        self._lock = threading.Lock()

    def loaded(self) -> list[str]:
        """The models kept loaded, least recently used (the next to be evicted) first."""
        with self._lock:
            return list(self._pipelines)

    def get(self, model: str) -> Any:
        """The loaded pipeline for model, loaded on first use."""
        with self._lock:
            if model in self._pipelines:
                self._pipelines.move_to_end(model)
                return self._pipelines[model]
        self._evict(keep=self.memory.max_models - 1)
        pipe = self._load(model)
        with self._lock:
            self._pipelines[model] = pipe
        return pipe

    def _evict(self, keep: int) -> None:
        """Drop least recently used pipelines until at most keep are loaded."""
        evicted = []
        with self._lock:
            while len(self._pipelines) > keep:
                evicted.append(self._pipelines.popitem(last=False)[0])
        if evicted:
            log.info("unloaded %s", ", ".join(evicted))
            free_memory(self.device)

    def place(self, pipe: Any) -> None:
        """Move pipe to the device, or let accelerate move each model in only while it runs."""
        if not self.memory.cpu_offload:
            pipe.to(self.device)
        elif not self.device.startswith("cuda"):
            log.info("SHOWRUNNER_CPU_OFFLOAD ignored on %s: it only helps on CUDA", self.device)
            pipe.to(self.device)
        elif not is_accelerate_available():
            log.warning("SHOWRUNNER_CPU_OFFLOAD ignored: it needs the accelerate package")
            pipe.to(self.device)
        else:
            pipe.enable_model_cpu_offload(device=self.device)

    def generator(self, seed: int) -> torch.Generator:
        # MPS generators are not reproducible across runs; the CPU one is
        device = "cpu" if self.device.startswith("mps") else self.device
        return torch.Generator(device).manual_seed(seed)


def _halvings(count: int) -> Iterator[int]:
    """Batch sizes to try: count, then halved (rounding up) down to 1, e.g. 5, 3, 2, 1."""
    while True:
        yield count
        if count == 1:
            return
        count = (count + 1) // 2


def render_in_batches(
    count: int, run: Callable[[int, int], list[Any]], device: str, what: str, failure: str
) -> list[Any]:
    """run(first, size) renders items first..first+size-1 in one pipeline call; all count items
    go in one call, then in halved batches while the GPU runs out of memory. `failure` is the
    message when even one at a time does not fit."""
    for batch in _halvings(count):
        items: list[Any] = []
        try:
            for first in range(0, count, batch):
                items.extend(run(first, min(batch, count - first)))
            return items
        except torch.OutOfMemoryError:
            log.warning("out of GPU memory with %d %s per batch", batch, what)
        # out of the except block, so the error's traceback no longer holds its tensors
        del items
        free_memory(device)
    raise RenderOutOfMemory(failure)


def free_memory(device: str) -> None:
    # collect first: a dropped pipeline or a failed batch may sit in reference cycles
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def enable_vae_tiling(pipe: Any) -> None:
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    else:
        log.info("SHOWRUNNER_VAE_TILING ignored: this pipeline's VAE cannot tile")


def compile_denoiser(pipe: Any) -> None:
    for name in ("unet", "transformer"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        try:
            setattr(pipe, name, torch.compile(module))
        except Exception as error:  # compiling is an optimisation: render uncompiled instead
            log.warning("SHOWRUNNER_COMPILE ignored: torch.compile(%s) failed: %s", name, error)
        return
