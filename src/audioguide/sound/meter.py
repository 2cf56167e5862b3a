"""Loudness, measured in-process: the ITU-R BS.1770-4 meter (K-weighted, gated).

It streams: the K-weighting's tail and the partial 100 ms step are carried between blocks, so a
track is measured a block at a time in bounded memory, and the result does not depend on where
the blocks are cut.

The K-weighting is applied as a convolution with its impulse response (by FFT), not as the two
recursive filters, so that measuring needs numpy alone: scipy.signal took 0.7 s and 45 MB to
import, and a cold build measures every new line (that import was a third of what it added).
"""

from __future__ import annotations

import bisect
import functools
import math
from array import array
from typing import Final

import numpy as np
import numpy.typing as npt

from ..audio import (
    SAMPLE_RATE,
    Float64s,
    Samples,
    as_frames,
    channels_of,
    check_channels,
)

# ---------------------------------------------------------------------------- constants

_LOUDNESS_OFFSET_DB: Final = -0.691
"""BS.1770-4 eq. 2: the constant that makes a 997 Hz sine read its RMS level through the
K-weighting (a -20 dBFS peak sine, -23 dB RMS, reads -23.0 LUFS)."""
_ABSOLUTE_GATE_LUFS: Final = -70.0
"""BS.1770-4 2.2: blocks at or below this are silence, kept out of the relative threshold."""
_RELATIVE_GATE_LU: Final = -10.0
"""BS.1770-4 2.2: blocks this far under the loudness of the blocks above the absolute gate are
pauses and breaths, kept out of the integrated figure."""
_STEP_SAMPLES: Final = SAMPLE_RATE // 10
"""Gating blocks start every 100 ms (75% overlap, BS.1770-4 2.1): 4410 samples exactly here."""
_STEPS_PER_BLOCK: Final = 4
"""Steps per gating block: 400 ms blocks overlapping by 75%."""
_BLOCK_SAMPLES: Final = _STEP_SAMPLES * _STEPS_PER_BLOCK
"""A gating block, and the momentary window, is 400 ms."""

# The K-weighting as an analog prototype (a high shelf, then a high-pass), reverse-engineered
# from the 48 kHz table of BS.1770-4 by libebur128 and used by ffmpeg's ebur128 filter: the
# bilinear transform of it at the actual rate is what those meters apply at 44.1 kHz (the 48 kHz
# coefficients used at 44.1 kHz put the shelf and the high-pass at the wrong frequencies).
_SHELF_HZ: Final = 1681.974450955533
"""Centre of the head's high-frequency shelf."""
_SHELF_GAIN_DB: Final = 3.999843853973347
"""The shelf's boost: about +4 dB above 2 kHz."""
_SHELF_Q: Final = 0.7071752369554196
"""The shelf's slope: almost exactly Butterworth (1/sqrt 2)."""
_SHELF_MID_EXPONENT: Final = 0.4996667741545416
"""The shelf's gain at its centre, as a power of its full gain (almost the geometric mean)."""
_HIGHPASS_HZ: Final = 38.13547087602444
"""The RLB curve's low cut: bass counts for less than it measures."""
_HIGHPASS_Q: Final = 0.5003270373238773
"""Almost critically damped (1/2): the low cut has no bump."""


def _k_weighting_sos(rate: int) -> Float64s:
    """The two K-weighting biquads for `rate`, as scipy second-order sections."""
    k = math.tan(math.pi * _SHELF_HZ / rate)
    vh = 10 ** (_SHELF_GAIN_DB / 20)
    vb = vh**_SHELF_MID_EXPONENT
    a0 = 1 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2 * (k * k - 1) / a0,
        (1 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_HZ / rate)
    a0 = 1 + k / _HIGHPASS_Q + k * k
    # The numerator stays [1, -2, 1], unnormalised, as in the standard's table (and ffmpeg).
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass])


_K_WEIGHTING: Final = _k_weighting_sos(SAMPLE_RATE)
"""The K-weighting at the pipeline's one rate."""
_IMPULSE_SAMPLES: Final = 8192
"""How much of the K-weighting's impulse response is applied (0.19 s): what follows is under
1e-20 of its first sample, so far under float64's rounding that the convolution is the filter
(the high-pass at 38 Hz is what rings longest)."""


@functools.lru_cache(maxsize=4)
def _impulse_response(sos: bytes) -> Float64s:
    """The response of the biquads `sos` (as bytes, to be a cache key) to a unit impulse."""
    response = [1.0] + [0.0] * (_IMPULSE_SAMPLES - 1)
    for b0, b1, b2, _, a1, a2 in np.frombuffer(sos).reshape(-1, 6).tolist():
        x1 = x2 = y1 = y2 = 0.0
        for n, x in enumerate(response):
            y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            response[n], x1, x2, y1, y2 = y, x, x1, y, y1
    return np.array(response)


@functools.lru_cache(maxsize=24)
def _spectrum(sos: bytes, size: int) -> npt.NDArray[np.complex128]:
    return np.fft.rfft(_impulse_response(sos), size)


class KWeighting:
    """The K-weighting over a stream of blocks of `channels` rows: overlap-add, the part of each
    block's response that reaches past its end carried into the next."""

    def __init__(self, channels: int = 1) -> None:
        self._tail = np.zeros((channels, _IMPULSE_SAMPLES - 1))

    def __call__(self, rows: npt.NDArray[np.floating]) -> Float64s:
        """The next samples, (channels, n) or (n,) for one channel, weighted: float64."""
        block = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        out = np.empty(block.shape)
        for start in range(0, block.shape[1], FILTER_STEP):
            part = block[:, start : start + FILTER_STEP]
            out[:, start : start + part.shape[1]] = self._filter(part)
        weighted: Float64s = out.reshape(np.shape(rows))
        return weighted

    def _filter(self, part: Float64s) -> Float64s:
        n, reach = part.shape[1], _IMPULSE_SAMPLES - 1
        size = _fft_size(n + reach)
        sos = _K_WEIGHTING.tobytes()  # read here, so a test may swap the filters
        out = np.fft.irfft(np.fft.rfft(part, size) * _spectrum(sos, size), size)[:, : n + reach]
        out[:, :reach] += self._tail
        self._tail = out[:, n:].copy()
        return out[:, :n]


FILTER_STEP: Final = (1 << 17) - _IMPULSE_SAMPLES + 1
"""New samples filtered per FFT, at most: 122,881, the rest of its 2^17 the response's reach
(so a long stretch is filtered at 94% efficiency, and its temporaries stay near 2 MB)."""


_FFT_SIZES: Final = sorted(eighths << octave for eighths in (8, 10, 12, 14) for octave in range(15))
"""The FFT lengths used: 8, 10, 12 and 14 times a power of two, lengths numpy's FFT is fast at,
four to an octave (at most a quarter over what is needed, and few enough that the response's
spectrum at each is kept: a power of two took a 2-second line's 1.4x its length)."""


def _fft_size(n: int) -> int:
    """The shortest FFT of _FFT_SIZES that holds n samples."""
    return _FFT_SIZES[bisect.bisect_left(_FFT_SIZES, n)]


def _lufs(mean_square: float) -> float:
    return _LOUDNESS_OFFSET_DB + 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


def _energy(lufs: float) -> float:
    return float(10 ** ((lufs - _LOUDNESS_OFFSET_DB) / 10))


# ---------------------------------------------------------------------------- loudness


class Meter:
    """Streaming ITU-R BS.1770-4 loudness: feed blocks of any size, read the result at any time.

    The K-weighting runs in float64 with its state carried from block to block; the weighted
    squares are summed per 100 ms step, and each run of four steps is a 400 ms gating block (and a
    momentary reading). Memory is one float per 100 ms (290 KB per hour), and short blocks wait to
    be filtered together (up to FILTER_STEP samples, copied: the caller may reuse its buffer)."""

    def __init__(self, channels: int = 1) -> None:
        check_channels(channels)
        self._channels = channels
        self._weighting = KWeighting(channels)
        self._partial_energy = 0.0
        self._partial_samples = 0
        self._steps = array("d")
        self._pending: list[Samples] = []
        self._pending_samples = 0

    def add(self, block: Samples) -> None:
        """Measure the next samples: (n,) for mono, (n, 2) for stereo; any n, including 0."""
        frames = as_frames(block, self._channels)
        # Short blocks wait (copied) and are filtered together, when enough have come or a
        # reading is asked for: each filtering is an FFT over the response's reach (8,192) too.
        if len(frames) < FILTER_STEP:
            self._pending.append(frames.copy())
            self._pending_samples += len(frames)
            if self._pending_samples >= FILTER_STEP:
                self._catch_up()
            return
        self._catch_up()
        for start in range(0, len(frames), FILTER_STEP):
            self._add(frames[start : start + FILTER_STEP])

    def _catch_up(self) -> None:
        """Filter the blocks still waiting."""
        if self._pending:
            waiting = np.concatenate(self._pending)
            self._pending, self._pending_samples = [], 0
            for start in range(0, len(waiting), FILTER_STEP):
                self._add(waiting[start : start + FILTER_STEP])

    def _add(self, frames: Samples) -> None:
        weighted = self._weighting(frames.T)
        n = weighted.shape[1]
        head = min(n, _STEP_SAMPLES - self._partial_samples)
        self._partial_energy += _sum_squares(weighted[:, :head])
        self._partial_samples += head
        if self._partial_samples < _STEP_SAMPLES:
            return
        self._steps.append(self._partial_energy)
        whole = (n - head) // _STEP_SAMPLES
        if whole:
            rows = weighted[:, head : head + whole * _STEP_SAMPLES].reshape(
                self._channels, whole, _STEP_SAMPLES
            )
            self._steps.extend(np.einsum("cks,cks->k", rows, rows).tolist())
        tail = weighted[:, head + whole * _STEP_SAMPLES :]
        self._partial_energy = _sum_squares(tail)
        self._partial_samples = tail.shape[1]

    def _block_energies(self) -> Float64s:
        """The mean square of every complete 400 ms block so far, in order."""
        self._catch_up()
        steps = np.frombuffer(self._steps, dtype=np.float64)
        if len(steps) < _STEPS_PER_BLOCK:
            return np.zeros(0)
        sums = steps[: len(steps) - _STEPS_PER_BLOCK + 1].copy()
        for offset in range(1, _STEPS_PER_BLOCK):
            sums += steps[offset : len(steps) - _STEPS_PER_BLOCK + 1 + offset]
        return sums / _BLOCK_SAMPLES

    @property
    def integrated(self) -> float:
        """Gated integrated loudness, LUFS: -inf for silence or under 400 ms of input."""
        energies = self._block_energies()
        audible = energies[energies > _energy(_ABSOLUTE_GATE_LUFS)]
        if len(audible) == 0:
            return -math.inf
        threshold = float(audible.mean()) * 10 ** (_RELATIVE_GATE_LU / 10)
        return _lufs(float(audible[audible > threshold].mean()))

    @property
    def max_momentary(self) -> float:
        """The highest 400 ms (momentary) loudness seen, LUFS: -inf if none."""
        energies = self._block_energies()
        return _lufs(float(energies.max())) if len(energies) else -math.inf


def _sum_squares(weighted: Float64s) -> float:
    # einsum, not dot: OpenBLAS would thread a long dot product (see _STACK_ROWS).
    flat = weighted.reshape(-1)
    return float(np.einsum("i,i->", flat, flat))


def integrated_loudness(samples: Samples) -> float:
    """Gated integrated loudness (BS.1770-4) of mono (n,) or stereo (n, 2) samples, LUFS."""
    meter = Meter(channels_of(samples))
    meter.add(samples)
    return meter.integrated


def weighted_energies(samples: Samples, step: int) -> Float64s:
    """The K-weighted mean square of mono `samples` over each run of `step` samples (a partial
    run at the end left out): a loudness profile, as energies (lufs_of reads them in LUFS)."""
    runs = len(samples) // step
    out = np.zeros(runs)
    chunk = max(1, FILTER_STEP // step) * step
    weighting = KWeighting()
    for lo in range(0, runs * step, chunk):
        weighted = weighting(samples[lo : min(lo + chunk, runs * step)])
        out[lo // step : lo // step + len(weighted) // step] = np.mean(
            weighted.reshape(-1, step) ** 2, axis=1
        )
    return out


def lufs_of(energies: Float64s) -> Float64s:
    """K-weighted mean squares in LUFS (-inf for silence)."""
    with np.errstate(divide="ignore"):
        out: Float64s = _LOUDNESS_OFFSET_DB + 10 * np.log10(energies)
    return out


def clip_loudness(samples: Samples) -> float:
    """Loudness of a short clip (a spoken cue, a bell), LUFS: the gated integrated loudness when
    the clip is at least 400 ms long; for a shorter clip, the K-weighted mean square over the
    whole clip (ungated), so a 0.3 s spoken "3" still gets a sensible figure. -inf for digital
    silence."""
    if len(samples) >= _BLOCK_SAMPLES:
        return integrated_loudness(samples)
    frames = as_frames(samples, channels_of(samples))
    if len(frames) == 0:
        return -math.inf
    weighted = KWeighting(frames.shape[1])(frames.T)
    return _lufs(_sum_squares(weighted) / len(frames))
