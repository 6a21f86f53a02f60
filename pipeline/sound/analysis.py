"""What a listener would measure of a voice: its median pitch (F0) and how long it speaks.
For describing voices (an audition, the closing note of a bench) and for checking them."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

FRAME, HOP = 0.04, 0.01  # seconds
LOWEST_HZ, HIGHEST_HZ = 60.0, 400.0
VOICED = 0.5  # normalised autocorrelation a frame needs to count as voiced


def read_mono(wav: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV's samples as floats in -1..1 (channels averaged), and its rate."""
    with wave.open(str(wav)) as read:
        rate, channels = read.getframerate(), read.getnchannels()
        samples = np.frombuffer(read.readframes(read.getnframes()), dtype=np.int16)
    mono = samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples
    return mono.astype(np.float64) / 32768.0, rate


def median_pitch(wav: Path) -> float:
    """The median F0 in Hz over the voiced frames (0.0 when none is voiced)."""
    samples, rate = read_mono(wav)
    size, hop = int(FRAME * rate), int(HOP * rate)
    loud = 0.3 * float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    low, high = int(rate / HIGHEST_HZ), int(rate / LOWEST_HZ)
    pitches = []
    for start in range(0, samples.size - size, hop):
        frame = samples[start : start + size]
        if float(np.sqrt(np.mean(frame**2))) < loud:
            continue
        frame = frame - frame.mean()
        spectrum = np.fft.rfft(frame, 2 * size)
        correlation = np.fft.irfft(spectrum * np.conj(spectrum))[:size]
        if correlation[0] <= 0:
            continue
        correlation /= correlation[0]
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] >= VOICED:
            pitches.append(rate / lag)
    return float(np.median(pitches)) if pitches else 0.0


def spoken_seconds(wav: Path, floor: float = 0.02) -> float:
    """From the first to the last sample above `floor` (leading and trailing silence off)."""
    samples, rate = read_mono(wav)
    loud = np.flatnonzero(np.abs(samples) > floor)
    return float(loud[-1] - loud[0]) / rate if loud.size else 0.0
