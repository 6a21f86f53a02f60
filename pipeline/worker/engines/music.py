"""Music from a text-to-music model: ACE-Step through diffusers (`AceStepPipeline`; a Hugging
Face id of that layout or a local folder, e.g. one written by `showrunner make-tiny-model
--music`). A request's prompt is the cue's description, its duration the cue's length, its
`extra` the tempo (`bpm`) and key (`key`, "D minor"); the one "take" is a 48 kHz stereo WAV,
instrumental. Why ACE-Step: it takes tempo and key as its own inputs, so a scene's mood keeps
the score's tempo and key, and it renders a minute of music in seconds on a GPU.

Worker side: imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.worker.engines import ProgressCallback, check_request_basics
from pipeline.worker.engines.model_cache import MemoryOptions, ModelCache, write_pcm16
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)

INSTRUMENTAL = "[Instrumental]"  # ACE-Step's lyrics for music without a voice
MAX_PROMPT_CHARS = 500
MAX_STEPS = 100


class MusicEngine:
    name = "music"

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.memory = MemoryOptions.of(settings, cuda_default="bfloat16")
        self.cache = ModelCache(settings.device, self.memory, self._load)

    def _load(self, model: str) -> Any:
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(model, dtype=self.memory.dtype)
        if not hasattr(pipe, "latents_per_second"):
            raise ValueError(f"model {model!r} is a {type(pipe).__name__}, not ACE-Step music")
        self.cache.place(pipe)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def loaded_models(self) -> list[str]:
        return self.cache.loaded()

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)
        if not request.model:
            raise ValueError("model is empty: the music engine needs a text-to-music model")
        if not request.prompt.strip() or len(request.prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt must be 1 to {MAX_PROMPT_CHARS} characters")
        if not 1 <= request.steps <= MAX_STEPS:
            raise ValueError(f"steps {request.steps} must be from 1 to {MAX_STEPS}")
        bpm = request.extra.get("bpm")
        if bpm is not None and not (isinstance(bpm, int) and 30 <= bpm <= 300):
            raise ValueError(f"extra.bpm {bpm!r} must be a whole number from 30 to 300")
        key = request.extra.get("key", "")
        if not isinstance(key, str) or len(key) > 20:
            raise ValueError(f"extra.key {key!r} must be a key such as 'D minor'")

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        progress(0.0, "music")
        pipe = self.cache.get(request.model)
        steps = request.steps

        def step_done(_pipe: Any, step: int, _timestep: Any, values: dict) -> dict:
            progress((step + 1) / steps, "music")
            return values

        seed = request.seeds[0]
        with torch.inference_mode():
            result = pipe(
                prompt=request.prompt,
                lyrics=INSTRUMENTAL,
                audio_duration=request.duration,
                num_inference_steps=steps,
                generator=self.cache.generator(seed),
                bpm=request.extra.get("bpm"),
                keyscale=request.extra.get("key") or None,
                callback_on_step_end=step_done,
            )
        audio = result.audios[0].detach().float().cpu().numpy()  # (channels, samples)
        out = out_dir / f"{request.job_id}_music.wav"
        seconds = write_stereo_wav(audio, int(pipe.sample_rate), out)
        reported = {"seconds": round(seconds, 3), "music_model": request.model}
        return [RenderedTake(seed, str(out), "", reported)]


def write_stereo_wav(audio: np.ndarray, sample_rate: int, out: Path) -> float:
    """`audio` (channels x samples, -1..1) as a 16-bit stereo WAV; returns its seconds."""
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise RuntimeError(f"the model made no music (output shape {audio.shape})")
    stereo = audio if audio.shape[0] == 2 else np.repeat(audio[:1], 2, axis=0)
    write_pcm16(stereo, sample_rate, out)
    return stereo.shape[1] / sample_rate
