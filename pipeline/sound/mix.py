"""What the cut asks of sound: the spoken lines placed in their shots, the score's cues laid
out on the episode's timeline and ducked under the lines (sidechain), and the finished MP4's
audio brought to the platforms' loudness (video copied as it is)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ffmpeg

from pipeline.cut.segments import AUDIO_RATE
from pipeline.ffmpeg import run_ffmpeg_async
from pipeline.sound.loudness import (
    LIMITER_CEILING,
    MAX_TRUE_PEAK,
    SAMPLE_METER,
    TARGET_LUFS,
    Loudness,
    measure,
    normalising_filter,
    parse_ebur128,
)
from pipeline.sound.score import Cue, mood_of

SCORE_VOLUME = 0.5  # the score's gain under the takes' own sound, before the loudness pass
MAX_PASSES = 4
CLOSE_ENOUGH = 0.4  # LU from the target: the platforms' tolerance is 1
PEAK_MARGIN = 0.3  # dB under the true-peak limit when the encode overshot it
LIMITER_LOSS = 0.15  # LU lost per dB the limiter holds down (a first guess, then measured)
# LU gained per dB of gain, as a third pass assumes it from the first two: under a limiter at
# work it is well under 1 (0.5 on a scored episode), where assuming 1 missed by half each pass
SLOPES = (0.35, 1.0)
MIN_GAIN_STEP = 1.0  # dB between two passes for their slope to be read (ebur128 rounds to 0.1)
LINE_LEAD = 0.15  # seconds into its shot before a line is spoken
LINE_PAD = 0.3  # seconds a shot runs past its spoken line (the shot is lengthened to hold it)
# the music under a line: compressed 8:1 by how far the dialogue is above -36 dBFS (speech at
# -17 dBFS RMS takes it about 17 dB down on a syllable: 9 dB over a whole line, pauses
# included, measured by bench/sound_bench.py), back within 0.4 s after
DUCKING = {"threshold": 0.015, "ratio": 8, "attack": 15, "release": 400}


def cues_on_timeline(
    moods: Sequence[str], seconds: Sequence[float], opening: float, closing: float
) -> tuple[list[Cue], list[float]]:
    """One cue per run of consecutive shots in one mood (shots of `seconds` each, after an
    opening card of `opening` seconds, before a closing card of `closing`): the opening card
    takes the first shot's mood, the closing card the last's. And the stingers: on the hook
    (the start) and on the cliffhanger (the closing card)."""
    cues: list[Cue] = []
    time = 0.0
    for index, (mood, length) in enumerate(zip(moods, seconds, strict=True)):
        mood = mood_of(mood)
        length += opening if index == 0 else 0.0
        length += closing if index == len(moods) - 1 else 0.0
        if cues and cues[-1].mood == mood:
            last = cues[-1]
            cues[-1] = Cue(last.start, last.seconds + length, mood)
        else:
            cues.append(Cue(time, length, mood))
        time += length
    stingers = [0.0] + ([time - closing] if closing else [])
    return cues, stingers


def line_window(line_seconds: float, shot_seconds: float) -> tuple[float, float] | None:
    """When a spoken line is heard in its shot (seconds from the shot's start, its subtitle
    shown as long); None for a shot without a spoken line (its subtitle stays the whole
    shot)."""
    if line_seconds <= 0:
        return None
    start = min(LINE_LEAD, shot_seconds)
    return start, min(shot_seconds, start + line_seconds + LINE_PAD)


def dialogue_track(lines: Sequence[tuple[Path, float]]) -> ffmpeg.Stream | None:
    """The spoken lines (WAV, the second of the cut it starts at) as one stereo track."""
    voices = [
        ffmpeg.input(str(path))
        .audio.filter("aresample", AUDIO_RATE)
        .filter("aformat", sample_rates=AUDIO_RATE, channel_layouts="stereo")
        .filter("adelay", delays=round(at * 1000), all=1)
        for path, at in lines
    ]
    if len(voices) <= 1:
        return voices[0] if voices else None
    # lines never overlap (one per shot): a plain sum
    return ffmpeg.filter(voices, "amix", inputs=len(voices), duration="longest", normalize=0)


STEMS = ("dialogue", "music", "effects")  # the editors' stems, as the export names them


def _copies(stream: ffmpeg.Stream, count: int) -> list[ffmpeg.Stream]:
    if count == 1:
        return [stream]
    split = stream.filter_multi_output("asplit", count)
    return [split.stream(index) for index in range(count)]


def mix_under_dialogue(
    takes_audio: ffmpeg.Stream,
    dialogue: ffmpeg.Stream | None,
    bed: ffmpeg.Stream | None,
    total: float,
    *,
    stems: bool = False,
) -> tuple[ffmpeg.Stream, dict[str, ffmpeg.Stream]]:
    """The mix of `total` seconds: the takes' own sound, the dialogue on top, and the bed (the
    score or the uploaded music) ducked by the dialogue itself. With `stems`, each part as it
    goes into the mix too (dialogue, music after ducking, effects: the takes' sound), each
    `total` seconds long, so that they line up with the picture and sum to the mix."""
    copies = 2 if stems else 1
    effects = _copies(takes_audio, copies)
    parts, apart = [effects[0]], {"effects": effects[-1]} if stems else {}
    if dialogue is not None:
        # as long as the episode: the compressor stops where its sidechain ends
        dialogue = dialogue.filter("apad", whole_dur=f"{total:.3f}")
        voices = _copies(dialogue, copies + (bed is not None))
        parts.append(voices[0])
        apart |= {"dialogue": voices[1]} if stems else {}
        if bed is not None:
            bed = ffmpeg.filter([bed, voices[-1]], "sidechaincompress", **DUCKING)
    if bed is not None:
        music = _copies(bed, copies)
        parts.append(music[0])
        apart |= {"music": music[-1]} if stems else {}
    mix = parts[0]
    if len(parts) > 1:
        mix = ffmpeg.filter(parts, "amix", inputs=len(parts), duration="first", normalize=0)
    return mix, apart


async def to_platform_loudness(
    video: Path, mix: Path, out: Path, before: Loudness | None = None
) -> Loudness:
    """The MP4 `out`: `video`'s picture copied and `mix` (a WAV) at -14 LUFS with its true peak
    under -1 dBTP, as AAC; the mix's loudness before (measured here unless given: the cut
    measures its mix as it writes it). A silent mix is encoded as it is.

    The gain and the limiter are tried on a float WAV, measured there and made again while the
    limiter takes loudness away; then one AAC encode, measured for the peak it adds (lowering
    the limiter's ceiling by it when it went over). AAC encodes are what cost: one, as a rule."""
    before = before or await measure(mix)
    if before.silent:
        await _encode(video, mix, out)
        return before
    limited = mix.with_name(f"{mix.stem}.limited.wav")
    gain, ceiling = TARGET_LUFS - before.integrated, LIMITER_CEILING
    # a first guess at what the limiter will take away (the cut's stingers peak far above the
    # rest), so that one pass usually lands: each dB it limits costs about 0.15 LU
    gain += LIMITER_LOSS * max(0.0, before.true_peak + gain - ceiling)
    tried: tuple[float, float] | None = None  # the last pass's (gain, loudness) at this ceiling
    try:
        for attempt in range(1, MAX_PASSES + 1):
            limiting = f"{normalising_filter(gain, ceiling)},ebur128={_options(SAMPLE_METER)}"
            log = await run_ffmpeg_async(
                ["-nostats", "-i", str(mix), "-af", limiting, "-c:a", "pcm_f32le", str(limited)]
            )
            level = parse_ebur128(log)
            missed = TARGET_LUFS - level.integrated
            if abs(missed) > CLOSE_ENOUGH and attempt < MAX_PASSES:
                # 1 LU a dB at first, then the slope of the last two passes: what the limiter
                # takes away grows with the gain
                slope = 1.0
                if tried is not None and abs(gain - tried[0]) >= MIN_GAIN_STEP:
                    measured = (level.integrated - tried[1]) / (gain - tried[0])
                    slope = min(max(measured, SLOPES[0]), SLOPES[1])
                tried = (gain, level.integrated)
                gain += missed / slope
                continue
            await _encode(video, limited, out)
            after = await measure(out)
            if after.true_peak <= MAX_TRUE_PEAK:
                break
            ceiling -= after.true_peak - MAX_TRUE_PEAK + PEAK_MARGIN  # what the encode added
            tried = None
    finally:
        limited.unlink(missing_ok=True)
    return before


def _options(values: dict[str, str]) -> str:
    return ":".join(f"{key}={value}" for key, value in values.items())


async def _encode(video: Path, audio: Path, out: Path) -> None:
    # the fast coder: a third quicker than twoloop, and it overshoots the peak less
    await run_ffmpeg_async(
        ["-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
         "-c:a", "aac", "-aac_coder", "fast", "-b:a", "160k", "-ar", str(AUDIO_RATE), "-ac", "2",
         "-movflags", "+faststart", "-f", "mp4", str(out)]
    )  # fmt: skip
