"""Measuring audio in tests: decode with a real decoder, then look at numbers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Final

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


# --- a built track, measured against its plan ----------------------------------------------------

Span = tuple[int, int]


def spans(plan: dict[str, Any], kind: str) -> list[Span]:
    """The [start, end) samples of every cue of `kind` in a `plan --json` document."""
    return [
        (round(c["start_s"] * SAMPLE_RATE), round(c["end_s"] * SAMPLE_RATE))
        for c in plan["cues"]
        if c["kind"] == kind
    ]


def joined(audio: Samples, where: list[Span]) -> Samples:
    return np.concatenate([audio[a:b] for a, b in where]) if where else audio[:0]


def crest_db(samples: Samples) -> float:
    """Peak over RMS, in dB: how much a limiter or a pumping bed has flattened the voice."""
    peak = float(np.abs(samples).max())
    return 20 * np.log10(peak) - rms_db(samples)


def quiet_gaps(plan: dict[str, Any], total: int, margin_s: float = 1.5) -> list[Span]:
    """Stretches where nothing but the bed sounds: outside every cue that makes sound (holds
    and rests are silent windows), at least `margin_s` from any, so the bed is fully back up."""
    loud = sorted(
        (round(c["start_s"] * SAMPLE_RATE), round(c["end_s"] * SAMPLE_RATE))
        for c in plan["cues"]
        if c["kind"] in ("speech", "sound", "breath", "work")
    )
    margin = round(margin_s * SAMPLE_RATE)
    gaps, at = [], round(3 * SAMPLE_RATE)  # past the bed's fade-in
    for start, end in loud:
        if start - margin > at + margin:
            gaps.append((at + margin, start - margin))
        at = max(at, end)
    last = total - round(4 * SAMPLE_RATE)  # before its fade-out
    if last - margin > at + margin:
        gaps.append((at + margin, last - margin))
    return gaps


def clicks(
    audio: Samples, edges: list[int], *, step: float = 0.05, ratio: float = 4.0
) -> list[int]:
    """Samples where the signal jumps by more than `step` of full scale and more than `ratio`
    times the 99th percentile of the jumps in the 50 ms around it, away (10 ms) from the cue
    edges in `edges`: a click, not a word's own attack."""
    mono = audio if audio.ndim == 1 else audio.max(axis=1)
    jumps = np.abs(np.diff(mono.astype(np.float64)))
    suspects = np.flatnonzero(jumps > step)
    if len(suspects) == 0:
        return []
    near = round(0.010 * SAMPLE_RATE)
    fences = np.array(sorted(edges), dtype=np.int64)
    found = []
    half = round(0.025 * SAMPLE_RATE)
    for i in suspects:
        k = np.searchsorted(fences, i)
        if any(abs(int(fences[j]) - int(i)) <= near for j in (k - 1, k) if 0 <= j < len(fences)):
            continue
        local = jumps[max(0, i - half) : i + half]
        if jumps[i] > ratio * float(np.percentile(local, 99)):
            found.append(int(i))
    return found
