"""The music model tier: with a music model (ACE-Step through diffusers, here a tiny one built
from configs) an episode's score is made on the workers, a piece per mood of its scenes,
while its shots render; the cut waits for the pieces and lays each under its scenes."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from pipeline import workflow
from pipeline.render.actors import RenderActorClient
from pipeline.render.queue import EngineChoice
from pipeline.render.scheduler import Scheduler, run_until_idle
from pipeline.sound.analysis import read_mono
from pipeline.sound.loudness import measure
from pipeline.sound.model_score import SCORE_LUFS, score_from_pieces
from pipeline.sound.music_jobs import MUSIC, mood_music, music_request, queue_score
from pipeline.sound.score import Cue
from pipeline.worker.engines import no_progress
from pipeline.worker.engines.music import MusicEngine, write_stereo_wav
from pipeline.worker.requests import RenderRequest
from pipeline.worker.settings import WorkerSettings
from storage import episodes, jobs, music, plan
from tests.builders import make_project


@pytest.fixture(scope="module")
def tiny_music_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.worker.tiny_models.music import make_tiny_music_model

    return make_tiny_music_model(tmp_path_factory.mktemp("models") / "tiny-ace-step")


def two_mood_episode(db):
    """An episode of two scenes, tense then tender, of two 1.5-second shots each."""
    project = make_project(db)
    scenes = tuple(
        plan.ScenePlan(
            heading,
            "",
            tuple(plan.ShotPlan(f"{heading} {i}", "wide", 1.5) for i in (1, 2)),
            mood=mood,
        )
        for heading, mood in (("Shore", "tense"), ("Hut", "tender"))
    )
    return project, plan.save_episode_plan(db, project.id, plan.EpisodePlan("Tide", "", scenes))


def tone(path: Path, frequency: float, seconds: float) -> Path:
    rate = 48000
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * frequency * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as written:
        written.setnchannels(2)
        written.setsampwidth(2)
        written.setframerate(rate)
        written.writeframes(np.repeat(samples, 2).tobytes())
    return path


def pitch_between(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    part = samples[int(start * rate) : int(end * rate)]
    spectrum = np.abs(np.fft.rfft(part))
    return float(np.fft.rfftfreq(part.size, 1 / rate)[spectrum.argmax()])


def test_the_model_makes_a_48k_stereo_piece_as_long_as_asked_in_the_moods_tempo_and_key(
    fresh_db, tmp_path: Path, tiny_music_model: Path
):
    _, episode = two_mood_episode(fresh_db)
    (tense, tender) = sorted(
        queue_score(fresh_db, episode.id, str(tiny_music_model)),
        key=lambda job: job.payload["mood"] != "tense",
    )
    request = music_request(tense)
    assert (request.extra, request.duration) == ({"bpm": 116, "key": "D minor"}, 10.0)
    engine = MusicEngine(WorkerSettings())
    engine.check_inputs(request)
    heard = []
    for job in (tense, tender):
        (take,) = engine.render(music_request(job), tmp_path, no_progress)
        with wave.open(take.media_path) as piece:
            assert (piece.getnchannels(), piece.getframerate()) == (2, 48000)
            assert piece.getnframes() / 48000 == pytest.approx(10.0, abs=0.05)
        heard.append(read_mono(Path(take.media_path))[0])
        assert take.parameters["music_model"] == str(tiny_music_model)
    assert np.abs(heard[0]).max() > 0.1  # music, not silence
    assert np.abs(heard[0] - heard[1]).mean() > 0.01  # each mood its own prompt and seed
    assert engine.loaded_models() == [str(tiny_music_model)]
    # nothing is made twice: both moods are being made already
    assert queue_score(fresh_db, episode.id, str(tiny_music_model)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": ""}, "model is empty"),
        ({"extra": {"bpm": 1000}}, "extra.bpm 1000 must be a whole number from 30 to 300"),
        ({"prompt": " "}, "prompt must be 1 to 500 characters"),
    ],
)
def test_a_bad_music_request_is_refused_naming_the_value(change, message):
    prompt, bpm, _ = mood_music("tense")
    values = {"job_id": "m1", "engine": MUSIC, "prompt": prompt, "seeds": (1,),
              "duration": 10.0, "model": "ACE-Step/Ace-Step1.5", "extra": {"bpm": bpm}}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        MusicEngine(WorkerSettings()).check_inputs(RenderRequest(**{**values, **change}))


async def test_the_score_lays_each_moods_piece_under_its_cue_looped_and_levelled(tmp_path):
    pieces = {"tense": tone(tmp_path / "tense.wav", 220, 3.0),
              "tender": tone(tmp_path / "tender.wav", 440, 3.0)}  # fmt: skip
    cues = [Cue(0.0, 5.0, "tense"), Cue(5.0, 3.0, "tender")]
    wav = await score_from_pieces(cues, pieces, tmp_path / "score.wav")
    samples, rate = read_mono(wav)
    assert samples.size / rate == pytest.approx(8.0, abs=0.05)
    assert pitch_between(samples, rate, 0.6, 2.4) == pytest.approx(220, abs=5)
    assert pitch_between(samples, rate, 3.2, 4.4) == pytest.approx(220, abs=5)  # looped
    assert pitch_between(samples, rate, 5.6, 7.4) == pytest.approx(440, abs=5)
    assert (await measure(wav)).integrated == pytest.approx(SCORE_LUFS, abs=1.0)


async def test_a_cue_whose_mood_has_no_piece_plays_the_composed_score(tmp_path):
    composed = tone(tmp_path / "composed.wav", 330, 8.0)
    pieces = {"tense": tone(tmp_path / "tense.wav", 220, 3.0)}
    cues = [Cue(0.0, 5.0, "tense"), Cue(5.0, 3.0, "tender")]
    wav = await score_from_pieces(cues, pieces, tmp_path / "score.wav", composed)
    samples, rate = read_mono(wav)
    assert samples.size / rate == pytest.approx(8.0, abs=0.05)
    assert pitch_between(samples, rate, 0.6, 4.4) == pytest.approx(220, abs=5)
    assert pitch_between(samples, rate, 5.6, 7.4) == pytest.approx(330, abs=5)


def test_no_music_is_made_for_a_project_whose_music_bed_is_its_music(fresh_db, tmp_path):
    project, episode = two_mood_episode(fresh_db)
    fresh_db.table("projects").update(project.id, {"music_path": "music/bed.mp3"})
    assert queue_score(fresh_db, episode.id, "ACE-Step/Ace-Step1.5") == []
    assert jobs.jobs_for_episode(fresh_db, episode.id, MUSIC) == []


async def test_an_episodes_cut_waits_for_the_models_music_and_plays_it(
    fresh_db, tmp_path: Path, tiny_music_model: Path, shared_worker: RenderActorClient
):
    _, episode = two_mood_episode(fresh_db)
    # the music model is named by each request: the run's shared render actor makes it
    scheduler = Scheduler(fresh_db, [shared_worker], tmp_path / "media")
    workflow.render_episode(fresh_db, episode.id, EngineChoice())
    await run_until_idle(scheduler, timeout=300)
    # pieces still being made when the last approval queues the cut, which is ahead
    # of them in the queue (a music model set while the team votes)
    made = queue_score(fresh_db, episode.id, str(tiny_music_model))
    cut = workflow.approve_first_takes(fresh_db, episode.id)
    assert len(made) == 2 and cut is not None and cut.priority > made[0].priority
    await run_until_idle(scheduler, timeout=300)
    pieces = music.episode_music(fresh_db, episode.id)
    assert sorted(pieces) == ["tender", "tense"]
    assert all(Path(piece.media_path).is_file() for piece in pieces.values())
    made = jobs.jobs_for_episode(fresh_db, episode.id, MUSIC)
    assert max(job.finished_at or "" for job in made) <= jobs.get_job(fresh_db, cut.id).started_at
    assert [job.attempts for job in made] == [1, 1]  # each piece made on its first try
    cut_path = Path(episodes.get_episode(fresh_db, episode.id).cut_path)
    music_stem = cut_path.with_name(f"{cut_path.stem}.music.wav")
    stem, rate = read_mono(music_stem)
    # the model's tense piece is what plays under the first scene
    tense, _ = read_mono(Path(pieces["tense"].media_path))
    assert np.abs(stem[rate : 2 * rate]).max() > 0.01
    window = slice(int(1.5 * rate), int(2.5 * rate))
    level = np.abs(stem[window]).mean() / np.abs(tense[window]).mean()
    assert np.corrcoef(stem[window], tense[window] * level)[0, 1] > 0.8


def test_music_that_overflowed_is_refused_with_what_to_change(tmp_path: Path):
    # float16 overflows in these models (the tiny ones on the CPU and on an H200): NaN
    # written as silence would be a silent score nobody is told about
    # a ValueError: the worker fails it once instead of retrying what would fail again
    with pytest.raises(ValueError, match="SHOWRUNNER_DTYPE=bfloat16 or float32"):
        write_stereo_wav(np.full((2, 4800), np.nan), 48000, tmp_path / "nan.wav")
    assert not (tmp_path / "nan.wav").exists()
