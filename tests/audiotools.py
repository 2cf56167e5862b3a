"""Measuring audio in tests: decode with a real decoder, then look at numbers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final

import numpy as np

from audioguide.audio import SAMPLE_RATE, Samples

MP3_FRAME: Final = 1152
"""Samples per MPEG-1 Layer III frame: the granularity of an MP3's length."""


def decode_mp3(path: Path, channels: int = 1) -> Samples:
    """Decode with ffmpeg to float32 at SAMPLE_RATE: mono (n,) by downmix, or (n, 2) for 2."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "f32le",
            "-ac",
            str(channels),
            "-ar",
            str(SAMPLE_RATE),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(out, dtype="<f4").astype(np.float32)
    return samples.reshape(-1, channels) if channels > 1 else samples


def decoder_errors(path: Path) -> dict[str, str]:
    """What ffmpeg (-v error) and mpg123 (-q -t) print while decoding `path`: empty when clean."""
    ffmpeg = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    mpg123 = subprocess.run(["mpg123", "-q", "-t", str(path)], capture_output=True, text=True)
    return {
        "ffmpeg": f"exit {ffmpeg.returncode}: {ffmpeg.stderr}"
        if ffmpeg.returncode
        else ffmpeg.stderr,
        "mpg123": f"exit {mpg123.returncode}: {mpg123.stderr}"
        if mpg123.returncode
        else mpg123.stderr,
    }


def rms_db(samples: Samples) -> float:
    """RMS level in dB relative to full scale (a full-scale sine reads -3.01)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def onset_s(samples: Samples, threshold: float) -> float:
    """Time of the first sample whose magnitude reaches `threshold`."""
    above = np.flatnonzero(np.abs(samples) >= threshold)
    assert len(above), f"nothing reaches {threshold}"
    return float(above[0]) / SAMPLE_RATE


def tone(freq_hz: float, n_samples: int, amplitude: float = 0.5) -> Samples:
    """A cosine, so it starts at full amplitude and its onset is sharp."""
    t = np.arange(n_samples) / SAMPLE_RATE
    return (amplitude * np.cos(2 * np.pi * freq_hz * t)).astype(np.float32)
