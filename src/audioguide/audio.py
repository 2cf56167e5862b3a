"""The one canonical audio format inside the pipeline, and the one place seconds become samples.

Everything between the voice and the encoder is mono float32 in [-1, 1] at SAMPLE_RATE.
"""

from __future__ import annotations

import functools
import math
from typing import Final

import numpy as np
import numpy.typing as npt

from .model import SAMPLE_RATE as SAMPLE_RATE

FADE_S: Final = 0.005

Samples = npt.NDArray[np.float32]
Float64s = npt.NDArray[np.float64]
CHUNK_SAMPLES: Final = 1 << 16
"""Samples handled per step of a long array, so temporaries (the float64 filter output, the 4x
oversampled rows) stay small: for the oversampling 64 Ki measured fastest (2 Ki to 32 Ki pay
for the calls: 1.6 to 6 times as long; 128 Ki gains nothing)."""


def to_samples(seconds: float) -> int:
    """Seconds to a whole number of samples (round half up, so 0.5 s is 22,050 exactly)."""
    return int(seconds * SAMPLE_RATE + 0.5)


def to_seconds(samples: int) -> float:
    return samples / SAMPLE_RATE


def silence(n_samples: int) -> Samples:
    return np.zeros(n_samples, dtype=np.float32)


def fade_edges(clip: Samples, fade_s: float = FADE_S) -> Samples:
    """A short raised-cosine fade in and out, so no clip starts or stops with a click."""
    n = min(to_samples(fade_s), len(clip) // 2)
    if n == 0:
        return clip
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    out = clip.astype(np.float32, copy=True)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def resample(clip: npt.NDArray[np.floating], rate: int) -> Samples:
    """Band-limited resampling of a mono clip from `rate` to SAMPLE_RATE: scipy's resample_poly
    (its Kaiser-windowed filter, its alignment) written with numpy, within float32's rounding
    of it: scipy.signal took 0.7 s to import, and a cold build resamples every line spoken."""
    if rate == SAMPLE_RATE:
        return clip.astype(np.float32)
    g = math.gcd(rate, SAMPLE_RATE)
    up, down = SAMPLE_RATE // g, rate // g
    phases = _polyphase(up, down)
    taps = phases.shape[1]
    x = np.concatenate([np.zeros(taps), np.asarray(clip, np.float64), np.zeros(taps)])
    n_out = -(-len(clip) * up // down)
    # Output i is the filter centred on sample i * down of the input stuffed with up - 1 zeros
    # between samples: the filter's phase (i * down + half) % up, against `taps` input samples.
    half = _half(up, down)
    out = np.empty(n_out, np.float32)
    if down == 1:  # espeak-ng's and Piper's 22,050 Hz: each phase is a plain convolution
        for p in range(up):
            start = (p + half) // up + taps
            out[p::up] = np.convolve(x, phases[(p + half) % up])[start : start + len(out[p::up])]
        return out
    at = np.arange(n_out, dtype=np.int64) * down + half
    back = np.arange(taps)
    for lo in range(0, n_out, _RESAMPLE_ROWS):
        t = at[lo : lo + _RESAMPLE_ROWS]
        rows = x[(t // up)[:, None] - back + taps]
        out[lo : lo + len(t)] = np.einsum("iq,iq->i", rows, phases[t % up])
    return out


_RESAMPLE_ROWS: Final = 1 << 14
"""Output samples computed per step (their input rows: 16 Ki x about 20 taps, 2.6 MB)."""


def _half(up: int, down: int) -> int:
    return 10 * max(up, down)


@functools.cache
def _polyphase(up: int, down: int) -> Float64s:
    """scipy.signal.firwin's low-pass at the lower Nyquist (Kaiser window, beta 5, 20 zero
    crossings a side), times `up`, split into its `up` phases: row p holds taps p, p + up, ..."""
    half = _half(up, down)
    m = np.arange(2 * half + 1) - half
    cutoff = 1 / max(up, down)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half + 1, 5.0)
    h *= up / h.sum()
    taps = -(-len(h) // up)
    return np.concatenate([h, np.zeros(taps * up - len(h))]).reshape(taps, up).T.copy()


def float_to_pcm16(chunk: Samples, gain: np.float32) -> bytes:
    """Float in [-1, 1] times `gain` (32768, and for the encoder LAME's scale undone) to
    little-endian int16, rounded, clipping anything louder (interleaved if 2-D)."""
    if not np.isfinite(chunk).all():
        raise ValueError("samples contain NaN or infinity: the mix is broken upstream")
    scaled = np.multiply(chunk, gain, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype("<i2").tobytes()


def pcm16_to_float(data: bytes, channels: int = 1) -> Samples:
    """Little-endian 16-bit PCM to mono float32 (channels averaged)."""
    pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        pcm = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.float32)


def mean_square(samples: npt.NDArray[np.floating]) -> float:
    """Mean of the squared samples (all channels), summed in float64 a block at a time, so a long
    track is measured precisely without a float64 copy of it."""
    flat = samples.reshape(-1)
    if len(flat) == 0:
        return 0.0
    block = 1 << 20
    total = sum(
        float(np.dot(chunk, chunk))
        for chunk in (flat[i : i + block].astype(np.float64) for i in range(0, len(flat), block))
    )
    return total / len(flat)


def fade_out(clip: Samples, fade_s: float) -> Samples:
    """A copy of the clip that fades to exactly 0 over its last `fade_s` (raised cosine): for a
    sound cut short, whose start is already faded."""
    n = min(to_samples(fade_s), len(clip))
    out = clip.astype(np.float32, copy=True)
    if n:
        out[-n:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    return out


def as_frames(samples: Samples, channels: int) -> Samples:
    """`samples` as float32 (n, channels): a view when it already is."""
    block = np.asarray(samples, dtype=np.float32)
    if channels == 1 and block.ndim == 1:
        return block.reshape(-1, 1)
    if block.ndim == 2 and block.shape[1] == channels and channels > 1:
        return block
    wanted = "(n,)" if channels == 1 else f"(n, {channels})"
    raise ValueError(f"expected {wanted} samples for {channels} channel(s), got {block.shape}")


def channels_of(samples: Samples) -> int:
    return 1 if samples.ndim == 1 else int(samples.shape[1])


def check_channels(channels: int) -> None:
    if channels not in (1, 2):
        raise ValueError(f"mono or stereo only (the BS.1770 weights of both are 1), not {channels}")
