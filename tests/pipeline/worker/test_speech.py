"""Lines spoken by the embedded speech engines (Piper's joe voice, Debian's espeak-ng) in the
cast's voices, measured as a listener would: pitch, length, silence or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sound.analysis import median_pitch, spoken_seconds
from pipeline.worker.engines.speech import MAX_LINE_CHARS, speak, why_no_speech
from storage import voices
from storage.models import Voice

pytestmark = pytest.mark.skipif(bool(why_no_speech()), reason=why_no_speech())
LINE = "The storm is coming, and we have nowhere left to hide tonight."


def test_two_characters_speaking_one_line_are_told_apart_by_pitch_and_pace(tmp_path: Path):
    low, high, slow = voices.PALETTE[0], voices.PALETTE[1], voices.PALETTE[2]
    heard = {
        voice.name: speak(LINE, voice, tmp_path / f"{voice.name}.wav")
        for voice in (low, high, slow)
    }
    pitch = {name: median_pitch(line.path) for name, line in heard.items()}
    assert 70 <= pitch["m3"] <= 140 and 160 <= pitch["f2"] <= 320, pitch
    assert pitch["f2"] > 1.5 * pitch["m3"]
    # the same voice at 120 words a minute instead of 160 takes a third longer
    slower = speak(LINE, Voice("espeak", "m3", 38, 120), tmp_path / "slower.wav")
    assert spoken_seconds(slower.path) > 1.2 * spoken_seconds(heard["m3"].path)
    assert {line.engine for line in heard.values()} == {"espeak"}


def test_the_narrator_reads_english_with_piper_and_its_rate_sets_its_pace(tmp_path: Path):
    usual = speak(LINE, voices.NARRATOR, tmp_path / "usual.wav")
    # Piper's durations are drawn with noise (1.14x measured once for 160 -> 120 wpm, 1.33x
    # asked): a slower rate that its noise cannot hide
    slower = speak(LINE, Voice("piper", "joe", 50, 100), tmp_path / "slower.wav")
    assert usual.engine == "piper" and 2.0 <= usual.seconds <= 5.0
    assert 80 <= median_pitch(usual.path) <= 170  # a man's voice
    assert spoken_seconds(slower.path) > 1.15 * spoken_seconds(usual.path)


def test_a_chinese_line_is_spoken_in_mandarin_in_the_characters_own_voice(tmp_path: Path):
    narrator_line = speak("暴风雨要来了，我们今晚无处可躲。", voices.NARRATOR, tmp_path / "n.wav")
    high_line = speak("暴风雨要来了，我们今晚无处可躲。", voices.PALETTE[1], tmp_path / "h.wav")
    assert narrator_line.engine == high_line.engine == "espeak"  # Piper speaks English only
    assert spoken_seconds(high_line.path) >= 2.0
    assert median_pitch(high_line.path) > 1.5 * median_pitch(narrator_line.path)


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "no line to speak"), ("x" * (MAX_LINE_CHARS + 1), "at most 600 characters")],
)
def test_a_line_no_engine_can_speak_is_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        speak(text, voices.PALETTE[0], tmp_path / "none.wav")
    assert not (tmp_path / "none.wav").exists()
