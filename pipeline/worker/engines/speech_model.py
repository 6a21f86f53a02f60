"""Speech from a model that clones a voice: VibeVoice through transformers
(`vibevoice/VibeVoice-1.5B-hf`, `-7B-hf`, or a local folder of that layout).

Why VibeVoice: of the speech models transformers runs (CSM, Dia, VITS, VibeVoice), it is the
one that both clones a voice from a short recording and speaks Mandarin as well as English, and
its conversation format holds up to four speakers, so a cast keeps apart. CSM and Dia clone
but speak English; VITS checkpoints speak one language in fixed voices.

The reference clip comes with the request (24 kHz mono, pipeline.sound.clips); without one,
a line is spoken in the model's own voice. How long it may speak is bounded by the line's length (a
runaway model stops at twice its expected length), and its pace is its own: a voice's rate
moves the embedded voices only. Worker side: imports torch.
"""

from __future__ import annotations

import io
import logging
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.worker.engines.model_cache import MemoryOptions, ModelCache, write_pcm16
from pipeline.worker.engines.speech import CJK
from pipeline.worker.settings import WorkerSettings

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 7.5  # the model's speech frames (3200 samples at 24 kHz each)
WORDS_PER_SECOND, CHINESE_CHARACTERS_PER_SECOND = 2.5, 4.0  # a slow reader, to bound a line
MIN_SECONDS, MAX_SECONDS = 2.0, 60.0
PEAK = 0.9  # speech is written at this peak: the models' own level varies


@dataclass(frozen=True)
class LoadedSpeechModel:
    processor: Any
    model: Any
    sample_rate: int


def most_seconds(text: str) -> float:
    """How long the line may run: twice a slow reader's time, 2 s to 60 s."""
    chinese = len(CJK.findall(text))
    words = len(CJK.sub(" ", text).split())
    expected = chinese / CHINESE_CHARACTERS_PER_SECOND + words / WORDS_PER_SECOND
    return min(MAX_SECONDS, max(MIN_SECONDS, 2 * expected))


class SpeechModels:
    """Speech models loaded on the worker's device, the least recently used dropped first."""

    def __init__(self, settings: WorkerSettings) -> None:
        # bfloat16 on CUDA: the checkpoints are published in it
        self.memory = MemoryOptions.of(settings, cuda_default="bfloat16")
        self.cache = ModelCache(settings.device, self.memory, self._load)

    def _load(self, model_id: str) -> LoadedSpeechModel:
        from transformers import AutoModelForTextToWaveform, AutoProcessor

        processor = AutoProcessor.from_pretrained(model_id)
        model = AutoModelForTextToWaveform.from_pretrained(model_id, dtype=self.memory.dtype)
        model.to(self.cache.device).eval()
        rate = int(processor.feature_extractor.sampling_rate)
        return LoadedSpeechModel(processor, model, rate)

    def loaded(self) -> list[str]:
        return self.cache.loaded()

    def speak(self, model_id: str, text: str, clip: bytes, out: Path, seed: int) -> float:
        """`text` spoken by the model in the voice of `clip` (a WAV; b"": the model's own
        voice) to the WAV `out`; returns its length in seconds."""
        loaded = self.cache.get(model_id)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        clips = []
        clip = _clip_samples(clip, loaded.sample_rate)
        if clip is not None:
            content.append({"type": "audio", "audio": clip})
            clips.append(clip)
        prompt = loaded.processor.apply_chat_template(
            [{"role": "0", "content": content}], tokenize=False
        )
        inputs = loaded.processor(text=[prompt], audio=clips or None, return_tensors="pt")
        inputs = inputs.to(self.cache.device)
        if "input_values" in inputs:
            inputs["input_values"] = inputs["input_values"].to(self.memory.dtype)
        frames = math.ceil(most_seconds(text) * FRAMES_PER_SECOND)
        torch.manual_seed(seed)
        with torch.inference_mode():
            audio = loaded.model.generate(**inputs, max_new_tokens=frames)
        samples = audio[0].detach().float().cpu().numpy().reshape(-1)
        if samples.size == 0:
            raise RuntimeError(f"{model_id} spoke nothing for this line")
        peak = float(np.abs(samples).max())
        scale = PEAK / peak if peak > 0 else 1.0  # a NaN peak leaves NaN for write_pcm16
        write_pcm16(samples[np.newaxis] * scale, loaded.sample_rate, out)
        return samples.size / loaded.sample_rate


def _clip_samples(data: bytes, sample_rate: int) -> np.ndarray | None:
    """A reference clip as float samples (kept as 16-bit mono WAV at the models' rate, see
    pipeline.sound.clips); None without one, or one unreadable (the line is spoken uncloned)."""
    if not data:
        return None
    try:
        with wave.open(io.BytesIO(data)) as clip:
            if clip.getframerate() != sample_rate or clip.getnchannels() != 1:
                raise ValueError(f"{clip.getframerate()} Hz, {clip.getnchannels()} channels")
            data = clip.readframes(clip.getnframes())
    except (OSError, EOFError, wave.Error, ValueError) as error:
        log.warning("voice clip not used: %s", error)
        return None
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
