"""The speech model tier: a character with a reference clip is spoken by the worker's speech
model (VibeVoice through transformers, here a tiny one built from configs), cloned from the
clip the request carries; the rest of the cast, and any line the model fails, keep the
embedded voices."""

from __future__ import annotations

import base64
import dataclasses
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline.sound.clips import CLONE_SECONDS, clip_for_request, store_clip
from pipeline.sound.mix import LINE_PAD
from pipeline.worker.engines import no_progress
from pipeline.worker.engines.speech import SpeechEngine, why_no_speech
from pipeline.worker.engines.speech_model import FRAMES_PER_SECOND, most_seconds
from pipeline.worker.requests import RenderRequest
from pipeline.worker.settings import WorkerSettings
from storage import characters, lines, plan, voices
from storage.models import Voice
from tests.pipeline.sound.test_spoken_lines import episode_with_lines, render_all
from tests.pipeline.sound.test_voice_clips import recording
from tests.ray_cluster import render_actors

LINE = "The storm is coming, and we have nowhere left to hide."
CHINESE_LINE = "暴风雨要来了，我们无处可躲。"


@pytest.fixture(scope="module")
def tiny_speech_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.worker.tiny_models.speech import make_tiny_speech_model

    return make_tiny_speech_model(tmp_path_factory.mktemp("models") / "tiny-vibevoice")


async def kept_clip(folder: Path, seconds: float, frequency: int = 180) -> str:
    """A director's upload (a tone at `frequency`), kept as the pipeline keeps one."""
    upload = recording(folder / f"voice{frequency}-{seconds}.m4a", seconds, frequency)
    return str(await store_clip(upload, "`voice`", folder / "voices"))


def speech_request(job_id: str, text: str, voice: Voice, clip: str = "") -> RenderRequest:
    extra: dict = {"voice": dataclasses.asdict(voice)}
    if clip:
        extra["voice_clip"] = clip
    return RenderRequest(
        job_id=job_id, engine="speech", prompt=text, seeds=(0,), duration=60.0, extra=extra
    )


def samples(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path) as spoken:
        data = spoken.readframes(spoken.getnframes())
        return np.frombuffer(data, dtype="<i2"), spoken.getframerate()


async def test_a_voice_with_a_clip_is_spoken_by_the_model_in_english_and_chinese(
    tmp_path: Path, tiny_speech_model: Path
):
    engine = SpeechEngine(WorkerSettings(speech_model=str(tiny_speech_model)))
    clip = clip_for_request(await kept_clip(tmp_path, 4.0))
    voice = Voice("espeak", "m3", 38, 160, clip="voices/lin.wav")
    for job_id, text in (("en", LINE), ("zh", CHINESE_LINE)):
        request = speech_request(job_id, text, voice, clip)
        engine.check_inputs(request)
        (take,) = engine.render(request, tmp_path, no_progress)
        assert take.parameters["speech_engine"] == str(tiny_speech_model)
        audio, rate = samples(take.media_path)
        assert rate == 24000 and np.abs(audio).max() > 1000  # heard, not silence
        # the tiny model never stops by itself: the line's bound stops it, as it would stop a
        # real model that runs away
        frames = math.ceil(most_seconds(text) * FRAMES_PER_SECOND)
        assert take.parameters["seconds"] == pytest.approx(frames / FRAMES_PER_SECOND, abs=0.01)
    assert engine.loaded_models() == [str(tiny_speech_model)]


async def test_the_clip_is_what_the_model_clones_from(tmp_path: Path, tiny_speech_model: Path):
    engine = SpeechEngine(WorkerSettings(speech_model=str(tiny_speech_model)))
    voice = Voice("espeak", "m3", 38, 160, clip="clip.wav")
    heard = []
    for frequency in (180, 320):
        clip = clip_for_request(await kept_clip(tmp_path, 3.0, frequency))
        request = speech_request(f"f{frequency}", LINE, voice, clip)
        (take,) = engine.render(request, tmp_path, no_progress)
        heard.append(samples(take.media_path)[0])
    # same line, same seed: only the reference voice differs, and so does the speech
    assert heard[0].shape == heard[1].shape
    assert np.abs(heard[0].astype(float) - heard[1]).mean() > 100


@pytest.mark.skipif(bool(why_no_speech()), reason=why_no_speech())
async def test_without_a_clip_or_a_loadable_model_the_embedded_voices_speak(
    tmp_path: Path, tiny_speech_model: Path
):
    clip = clip_for_request(await kept_clip(tmp_path, 3.0))
    with_model = SpeechEngine(WorkerSettings(speech_model=str(tiny_speech_model)))
    (take,) = with_model.render(speech_request("plain", LINE, voices.PALETTE[0]), tmp_path,
                                no_progress)  # fmt: skip
    assert take.parameters["speech_engine"] == "espeak"
    assert with_model.loaded_models() == []  # the model is not even loaded for it
    # a model that is not there (not downloaded, a wrong id): the line is still spoken
    missing = SpeechEngine(WorkerSettings(speech_model=str(tmp_path / "no-such-model")))
    for job_id in ("missing", "missing-again"):
        (take,) = missing.render(speech_request(job_id, LINE, voices.PALETTE[0], clip),
                                 tmp_path, no_progress)  # fmt: skip
        assert take.parameters["speech_engine"] == "espeak" and take.parameters["seconds"] > 2.0
        assert "no-such-model" in take.parameters["speech_model_error"]  # why, for the bot


async def test_a_request_carries_at_most_the_first_seconds_of_a_clip(tmp_path: Path):
    kept = await kept_clip(tmp_path, 60.0)
    carried = base64.b64decode(clip_for_request(kept))
    (tmp_path / "carried.wav").write_bytes(carried)
    audio, rate = samples(str(tmp_path / "carried.wav"))
    assert audio.size / rate == pytest.approx(CLONE_SECONDS)
    assert clip_for_request(str(tmp_path / "gone.wav")) == "" and clip_for_request("") == ""


def test_a_clip_that_is_not_base64_is_refused_by_name(tiny_speech_model: Path):
    engine = SpeechEngine(WorkerSettings(speech_model=str(tiny_speech_model)))
    request = speech_request("bad", LINE, voices.PALETTE[0], "not base64 !!")
    with pytest.raises(ValueError, match=r"extra\.voice_clip is not base64"):
        engine.check_inputs(request)


@pytest.mark.skipif(bool(why_no_speech()), reason=why_no_speech())
async def test_a_cast_member_with_a_clip_is_heard_through_the_workers_model(
    fresh_db, tmp_path: Path, tiny_speech_model: Path
):
    project, episode = episode_with_lines(
        fresh_db, (LINE, ("Mei",)), ("Nobody comes back from the sea.", ())
    )
    mei = characters.get_character(fresh_db, project.id, "Mei")
    cast = voices.cast_voice(fresh_db, mei.id)
    clip = await kept_clip(tmp_path, 4.0)
    voices.set_voice(fresh_db, mei, dataclasses.replace(cast, clip=clip), reason="voice clip")
    # a render actor of its own: the speech model is one of its settings
    async with render_actors(1, SHOWRUNNER_SPEECH_MODEL=str(tiny_speech_model)) as workers:
        await render_all(fresh_db, episode.id, workers, tmp_path / "m")
    first, second = plan.list_shots(fresh_db, episode.id)
    cloned, narrated = lines.current_line(fresh_db, first), lines.current_line(fresh_db, second)
    assert cloned is not None and cloned.engine == str(tiny_speech_model)
    assert cloned.voice.clip == clip and cloned.seconds > 4.0
    assert narrated is not None and narrated.engine == "piper"  # no clip: the embedded voice
    assert first.duration >= cloned.seconds + LINE_PAD  # the model's line sets the shot's length
