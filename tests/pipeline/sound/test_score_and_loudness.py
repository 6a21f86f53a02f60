"""The score composed in code and rendered by fluidsynth, and the cut's audio at the
platforms' loudness: real MIDI, the real fluidsynth and soundfont, ffmpeg's EBU R128 meter."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from pipeline.cut.assemble import CutShot, cut_episode
from pipeline.cut.cards import Card
from pipeline.ffmpeg import probe, run_ffmpeg
from pipeline.sound.loudness import MAX_TRUE_PEAK, TARGET_LUFS, measure
from pipeline.sound.mix import cues_on_timeline, to_platform_loudness
from pipeline.sound.score import MOODS, Cue, compose, render_score, why_no_score
from tests.media import clips

needs_fluidsynth = pytest.mark.skipif(bool(why_no_score()), reason=why_no_score())


def test_cues_follow_the_scenes_moods_and_the_cards_take_their_neighbours():
    cues, stingers = cues_on_timeline(
        ["tense", "tense", "tender", "", "weird"], [2.0, 2.0, 3.0, 1.0, 1.0], 1.5, 2.5
    )
    # the opening card joins the first cue, the closing card the last; unknown moods: tense
    assert cues == [Cue(0.0, 5.5, "tense"), Cue(5.5, 3.0, "tender"), Cue(8.5, 4.5, "tense")]
    assert stingers == [0.0, 10.5]  # on the hook, and on the cliffhanger's card


def test_each_mood_has_its_own_tempo_key_and_instruments():
    def onsets(mood: str) -> tuple[float, set[int], int]:
        music = compose([Cue(0.0, 8.0, mood)])
        bass = min(music.instruments, key=lambda part: min(n.pitch for n in part.notes))
        starts = sorted({note.start for note in bass.notes})
        programs = {part.program for part in music.instruments}
        return starts[1] - starts[0], programs, min(n.pitch for n in bass.notes)

    tense, tender = onsets("tense"), onsets("tender")
    assert tense[0] == pytest.approx(60 / MOODS["tense"].tempo)  # a bass note each beat
    assert tender[0] == pytest.approx(60 / MOODS["tender"].tempo)
    assert tense[0] < tender[0] and tense[1] != tender[1] and tense[2] != tender[2]
    assert compose([Cue(0.0, 8.0, "tense")]).get_end_time() == pytest.approx(8.0, abs=0.05)


@needs_fluidsynth
async def test_a_rendered_score_is_48k_stereo_music_of_the_episode_length(tmp_path: Path):
    wav = await render_score([Cue(0.0, 6.0, "triumphant")], 6.0, tmp_path / "s.wav", [0.0])
    with wave.open(str(wav)) as read:
        rate, channels, seconds = read.getframerate(), read.getnchannels(), read.getnframes()
    assert (rate, channels) == (48000, 2)
    assert seconds / rate >= 6.0  # fluidsynth adds its release tail; the mix trims it
    loudness = await measure(wav)
    assert not loudness.silent and loudness.integrated > -40


@needs_fluidsynth
async def test_a_cut_with_a_score_is_at_platform_loudness(tmp_path: Path):
    shots = [
        CutShot(path, 2.0, f"Line {i}" if i % 2 else "", f"Shot {i}", mood)
        for i, (path, mood) in enumerate(
            zip(clips(tmp_path / "takes", 4), ["tense", "tense", "tender", "hopeful"], strict=True)
        )
    ]
    out = await cut_episode(
        shots, tmp_path / "ep.mp4", width=180, height=320, fps=12, score=True,
        end=Card(2.5, "Next: Episode 2", ("The wave breaks",)),
    )  # fmt: skip
    loudness = await measure(out)
    assert abs(loudness.integrated - TARGET_LUFS) <= 1.0, loudness
    assert loudness.true_peak <= MAX_TRUE_PEAK, loudness
    assert probe(out).audio_codec == "aac"


async def test_without_fluidsynth_the_cut_is_silent_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth to be found (ffmpeg is bundled)
    assert why_no_score() == "fluidsynth is not installed (Debian package fluidsynth)"
    takes = clips(tmp_path / "takes", 2)
    out = await cut_episode(
        [CutShot(path, 1.0, mood="tense") for path in takes], tmp_path / "ep.mp4",
        width=180, height=320, fps=12, score=True,
    )  # fmt: skip
    assert (await measure(out)).silent
    assert os.environ["PATH"] == str(tmp_path)


@needs_fluidsynth
async def test_a_score_fluidsynth_cannot_render_leaves_the_cut_silent_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    broken = tmp_path / "bin" / "fluidsynth"  # a fluidsynth that crashes
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken.parent}{os.pathsep}{os.environ['PATH']}")
    takes = clips(tmp_path / "takes", 2)
    out = await cut_episode(
        [CutShot(path, 1.5, mood="tense") for path in takes], tmp_path / "ep.mp4",
        width=180, height=320, fps=12, score=True,
    )  # fmt: skip
    assert out.is_file() and (await measure(out)).silent
    assert "no score for ep.mp4: fluidsynth failed (139)" in caplog.text


async def test_clicks_that_the_encode_pushes_over_the_peak_limit_are_brought_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # a quiet tone with loud clicks: +16 dB to the target drives the limiter hard, and with its
    # ceiling at -0.2 dBTP the AAC encode lands over -1 dBTP (as a score's stingers once did)
    clicks = "0.05*sin(2*PI*220*t)+if(lt(mod(t\\,0.5)\\,0.004)\\,0.95*sin(2*PI*3000*t)\\,0)"
    picture, mix = tmp_path / "picture.mp4", tmp_path / "clicks.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=180x320:rate=12:duration=6",
                "-c:v", "libx264", str(picture)])  # fmt: skip
    run_ffmpeg(["-f", "lavfi", "-i", f"aevalsrc={clicks}|0.05*sin(2*PI*220*t):s=48000:d=6",
                "-c:a", "pcm_f32le", str(mix)])  # fmt: skip
    monkeypatch.setattr("pipeline.sound.mix.LIMITER_CEILING", -0.2)
    await to_platform_loudness(picture, mix, tmp_path / "out.mp4")
    after = await measure(tmp_path / "out.mp4")
    assert after.true_peak <= MAX_TRUE_PEAK and abs(after.integrated - TARGET_LUFS) <= 1.0, after
