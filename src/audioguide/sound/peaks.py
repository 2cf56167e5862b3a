"""True peak and the limiter: the 4x-oversampled true peak of BS.1770-4 Annex 2, and a streaming
look-ahead limiter that holds a mix under a ceiling a block at a time.

The true peak is the larger of the sample peak and the Annex 2 interpolation (4 phases of 12
taps), computed as small matrix products, 16 samples to a row; a stretch of samples too small to
reach the level that matters (the ceiling, or the peak found so far) is never oversampled: an
interpolated value is at most the filter's absolute tap sum times the largest sample it reads.
The limiter's delay line and gain envelope carry across blocks.
"""

from __future__ import annotations

import functools
import math
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ..audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    Float64s,
    Samples,
    as_frames,
    channels_of,
    check_channels,
    to_samples,
)

_TRUE_PEAK_PHASES: Final = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
         -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
         0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
         -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
         0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
        [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000,
         -0.2003173828125, 0.7797851562500, 0.4650878906250, -0.1665039062500,
         0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
        [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750,
         -0.1022949218750, 0.9721679687500, 0.1373291015625, -0.0594482421875,
         0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
    ]
)  # fmt: skip
"""BS.1770-4 Annex 2, table 1: the 48-tap 4x interpolator as 4 phases of 12 taps; tap t
multiplies the sample t back. The phases fall 1/8, 3/8, 5/8 and 7/8 of the way between the
samples 6 and 5 back, so none is a sample itself: the sample peak is taken as well."""
_TAPS: Final = 12
"""Taps per phase of the interpolator: each interpolated value reads 12 samples."""
_LEAD_SAMPLES: Final = _TAPS // 2
"""How far past a sample the interpolation reads to place the peaks on either side of it."""
_INTERPOLATION_GAIN: Final = float(np.abs(_TRUE_PEAK_PHASES).sum(axis=1).max()) * 1.0001
"""No interpolated value exceeds the largest sample it reads by more than this (the largest
absolute tap sum, 2.02, so +6.1 dB), with a margin for float32 rounding: rows whose samples are
all under a level divided by this need no oversampling to know they stay under it."""

_ROW: Final = 16
"""Samples per row of the oversampling product (a 64x32 matrix times rows of 2x16 samples): of
16, 24 and 32, 16 measured fastest (1.0 s per hour of audio against 1.1-1.5)."""
_STACK_ROWS: Final = 128
"""Rows per matrix product. OpenBLAS runs a product of up to 2^18 multiply-adds on the calling
thread (64 x 32 by 32 x 128 is exactly that), and its worker threads cost far more than they save
here: with them, an hour of audio took 2.4 to 13 s, erratically (the threads spin between calls
and take the other core); without them, 1.1 s. A stack of rows is also the unit skipped."""
_STACK_SAMPLES: Final = _ROW * _STACK_ROWS
"""2048 samples (46 ms): oversampled, or skipped, as one."""

_GUARD_SAMPLES: Final = _TAPS // 2
"""The limiter holds its gain flat this far either side of a peak: every interpolated value
near the peak then reads only samples scaled by that same gain, so the gain that brings the
peak to the ceiling brings its interpolation there too."""
_RELEASE_SPAN: Final = 300.0
"""The release is computed through r^-k, which must stay finite: e^300 leaves room to spare."""
_RELEASE_FLOOR: Final = 1e-6
"""An attenuation under this (-0.00001 dB) is no attenuation: the release ends, so the gain is
exactly 1 again and quiet material after a loud passage passes bit-identical (the last 1e-6
step, spread over the smoothing window, is 5e-9 a sample)."""


# ---------------------------------------------------------------------------- true peak


def _phase_matrix() -> npt.NDArray[np.float32]:
    """The interpolator as one matrix: it times a column of 32 samples (the row of 16 before and
    a row of 16) gives the 4 phases of that row's 16 samples, laid out (phase, sample)."""
    matrix = np.zeros((4, _ROW, 2 * _ROW))
    for i in range(_ROW):
        for t in range(_TAPS):
            matrix[:, i, _ROW + i - t] = _TRUE_PEAK_PHASES[:, t]
    return matrix.reshape(4 * _ROW, 2 * _ROW).astype(np.float32)


_PHASE_MATRIX: Final = _phase_matrix()
"""Float32: its rounding (1e-7) is far under any tolerance, and the products ran 2.8x faster."""


def _window_peaks(signal: Samples, start: int, stop: int, floor: float) -> npt.NDArray[np.float32]:
    """For each k in [start, stop): the largest |interpolated value| between signal[k + 5] and
    signal[k + 6], from the 12 samples signal[k : k + 12] (zeros outside the 1-D `signal`);
    0 instead wherever it provably cannot exceed `floor`."""
    count = stop - start
    stacks = -(-count // _STACK_SAMPLES)
    # Five zeros first so that each row's outputs read that row and the one before it.
    offset = _ROW - _TAPS + 1
    padded = np.zeros(stacks * _STACK_SAMPLES + _ROW, dtype=np.float32)
    lo, hi = max(start, 0), min(stop + _TAPS - 1, len(signal))
    if hi > lo:
        padded[offset + lo - start : offset + hi - start] = signal[lo:hi]
    # A stack reads its own samples and the next stack's first row: bound it by both stacks.
    body = padded[: stacks * _STACK_SAMPLES].reshape(stacks, _STACK_SAMPLES)
    stack_peaks = np.append(
        np.maximum(body.max(axis=1), -body.min(axis=1)), np.abs(padded[-_ROW:]).max()
    )
    bound = np.maximum(stack_peaks[:-1], stack_peaks[1:]) * _INTERPOLATION_GAIN
    hot = np.flatnonzero(bound > floor)
    out = np.zeros((stacks, _STACK_SAMPLES), dtype=np.float32)
    if len(hot):
        pairs = sliding_window_view(padded, 2 * _ROW)[::_ROW].reshape(stacks, _STACK_ROWS, 2 * _ROW)
        # A gather (or a copy) makes the rows contiguous, which BLAS needs.
        rows = np.ascontiguousarray(pairs) if len(hot) == stacks else pairs[hot]
        # Phases as rows and samples as columns: the maxima below run over long contiguous runs.
        phases = _PHASE_MATRIX @ rows.transpose(0, 2, 1)
        np.abs(phases, out=phases)
        by_phase = phases.reshape(len(hot), 4, _STACK_SAMPLES)
        top = np.maximum(by_phase[:, 0], by_phase[:, 1])
        np.maximum(top, by_phase[:, 2], out=top)
        np.maximum(top, by_phase[:, 3], out=top)
        out[hot] = top.reshape(-1, _ROW, _STACK_ROWS).transpose(0, 2, 1).reshape(-1, _STACK_SAMPLES)
    peaks: npt.NDArray[np.float32] = out.reshape(-1)[:count]
    return peaks


def true_peak_db(samples: Samples) -> float:
    """True peak of mono (n,) or stereo (n, 2) samples, dBTP: the larger of the sample peak and
    the 4x oversampled peak (BS.1770-4 annex 2) of the louder channel, the signal taken as
    silence before and after (so a peak at either end is interpolated against the silence)."""
    frames = as_frames(samples, channels_of(samples))
    if frames.size == 0:
        return -math.inf
    peak = float(np.abs(frames).max())
    if peak == 0:
        return -math.inf
    for channel in range(frames.shape[1]):
        signal = frames[:, channel]
        # Window starts from the first that reads a sample to the last.
        for start in range(1 - _TAPS, len(signal), CHUNK_SAMPLES):
            stop = min(start + CHUNK_SAMPLES, len(signal))
            peak = max(peak, float(_window_peaks(signal, start, stop, peak).max()))
    return 20 * math.log10(peak)


def _sample_peaks(frames: Samples, floor: float) -> npt.NDArray[np.float32]:
    """For each sample but the first and last six of `frames` (n, channels): the true peak around
    it (the sample and the interpolation on either side), the louder channel's; values that
    cannot exceed `floor` may read as anything up to it."""
    count = len(frames) - 2 * _LEAD_SAMPLES
    peaks: npt.NDArray[np.float32] | None = None
    for channel in range(frames.shape[1]):
        signal = frames[:, channel]
        # Window k spans signal[k : k + 12] and peaks between k + 5 and k + 6: windows 0 .. count
        # give the peaks either side of samples 6 .. count + 5.
        windows = _window_peaks(signal, 0, count + 1, floor)
        around = np.abs(signal[_LEAD_SAMPLES : _LEAD_SAMPLES + count])
        np.maximum(around, windows[:-1], out=around)
        np.maximum(around, windows[1:], out=around)
        peaks = around if peaks is None else np.maximum(peaks, around, out=peaks)
    assert peaks is not None
    return peaks


# ---------------------------------------------------------------------------- limiter


class Limiter:
    """Look-ahead true-peak limiter that streams: output is delayed by `latency` samples; the gain
    never steps (smooth attack and release), and the result does not depend on how the input is cut
    into blocks.

    Each sample needs the gain that brings its true peak (the sample and the interpolation either
    side) to the ceiling. That need is held for the look-ahead plus a guard (a moving minimum),
    released towards 1 with the release time constant, and smoothed by a moving average as long
    as the look-ahead: the gain ramps down linearly over the look-ahead before a peak and is flat
    at the peak's need for `_GUARD_SAMPLES` either side of it, so no sample and no interpolated
    value comes out above the ceiling, and no change of gain is sudden. Stereo gets one gain for
    both channels, from the louder, so the image does not shift.

    `process(block)` returns exactly len(block) samples: the output stream, which is the input
    stream delayed by `latency` (its first `latency` samples are the delay's zeros); `flush()`
    returns the last `latency`, as if the input went on in silence, and readies the limiter for a
    new stream. `limit()` does this for a whole array and returns it realigned."""

    def __init__(
        self,
        ceiling_db: float,
        channels: int = 1,
        *,
        lookahead_s: float = 0.005,
        release_s: float = 0.1,
    ) -> None:
        check_channels(channels)
        if lookahead_s <= 0 or release_s <= 0:
            raise ValueError("the look-ahead and the release must be longer than 0 s")
        self._channels = channels
        self._ceiling = 10 ** (ceiling_db / 20)
        self._window = max(1, to_samples(lookahead_s))
        self._hold = self._window + 2 * _GUARD_SAMPLES
        self._release_per_sample = 1 / (release_s * SAMPLE_RATE)
        self._decay_per_sample = math.exp(-self._release_per_sample)
        # The gain for sample n is known once the input reaches n + 6 (its interpolation), and is
        # applied to sample n - (window - 1 + guard), so that its hold and average centre on it.
        self._latency = self._window + _GUARD_SAMPLES + _LEAD_SAMPLES - 1
        self._reset()

    def _reset(self) -> None:
        # The history is silence: the input before the stream is zeros, the gain unity.
        kept = self._latency + 2 * _LEAD_SAMPLES
        self._recent_input = np.zeros((kept, self._channels), dtype=np.float32)
        self._recent_need = np.ones(self._hold - 1)
        self._recent_depth = np.zeros(self._window - 1)
        self._depth = 0.0
        self._idle = True

    @property
    def latency(self) -> int:
        """Samples of delay: the look-ahead, the guard and the interpolation's reach."""
        return self._latency

    def process(self, block: Samples, *, peak_bound: float | None = None) -> Samples:
        """The next len(block) samples of the output stream (the input delayed by `latency`).

        `peak_bound`: the caller guarantees this block's true peak (linear) is at most this
        value. When it is under the ceiling the block is not oversampled: only the dozen samples
        where it meets the previous block are, and if the limiter is at unity gain the block
        passes through untouched. A bound that is not true lets its peaks through unlimited."""
        frames = as_frames(block, self._channels)
        if len(frames) <= CHUNK_SAMPLES:
            out = self._process(frames, peak_bound)
        else:
            out = np.empty_like(frames)
            for start in range(0, len(frames), CHUNK_SAMPLES):
                part = frames[start : start + CHUNK_SAMPLES]
                out[start : start + len(part)] = self._process(part, peak_bound)
        result: Samples = out.reshape(-1) if self._channels == 1 and block.ndim == 1 else out
        return result

    def flush(self) -> Samples:
        """The last `latency` samples of the output stream; the limiter then starts a new one."""
        silence = np.zeros((self._latency, self._channels), dtype=np.float32)
        out = self._process(silence, None)
        self._reset()
        return out.reshape(-1) if self._channels == 1 else out

    def _process(self, frames: Samples, peak_bound: float | None) -> Samples:
        n = len(frames)
        if n == 0:
            return frames.copy()
        lead = 2 * _LEAD_SAMPLES
        kept = len(self._recent_input)
        # extended[i] is input sample N - kept + i, N being this block's first: the delayed
        # output starts at `lead`, and `reach` holds what the peaks of N - 6 .. N + n - 7 read.
        extended = np.concatenate([self._recent_input, frames])
        self._recent_input = extended[-kept:].copy()
        delayed = extended[lead : lead + n]
        reach = extended[kept - lead :]
        if peak_bound is not None and peak_bound <= self._ceiling and n >= lead:
            # The bound covers what reads this block alone: only the first dozen peaks, whose
            # interpolation reads the previous block too, are measured.
            edge = self._need(_sample_peaks(reach[: 2 * lead], self._ceiling))
            if self._idle and edge.min() == 1.0:
                return delayed
            need = np.ones(n)
            need[:lead] = edge
        else:
            need = self._need(_sample_peaks(reach, self._ceiling))
            if self._idle and need.min() == 1.0:
                return delayed
        # In place: `extended` is this call's own, and float64 products round once to float32.
        np.multiply(delayed, self._gain(need)[:, None], out=delayed, casting="same_kind")
        return delayed

    def _need(self, peaks: npt.NDArray[np.float32]) -> Float64s:
        """The gain each sample needs: 1, or what brings its true peak to the ceiling."""
        need = np.ones(len(peaks))
        over = peaks > self._ceiling
        if over.any():
            need[over] = self._ceiling / peaks[over].astype(np.float64)
        return need

    def _gain(self, need: Float64s) -> Float64s:
        """The gain applied to the delayed samples of a block, from the need of its new samples;
        carries the hold, release and average state to the next block."""
        n, hold, window = len(need), self._hold, self._window
        held_in = np.concatenate([self._recent_need, need])
        self._recent_need = held_in[n:].copy()
        from scipy.ndimage import minimum_filter1d

        # minimum_filter1d centres its window: a shift makes it the trailing one.
        held = minimum_filter1d(held_in, hold)[hold // 2 : hold // 2 + n]
        # The attenuations after the previous block's last window - 1, summed with a leading 0:
        # each moving average is then the difference of two sums.
        averaged_in = np.empty(window - 1 + n)
        averaged_in[: window - 1] = self._recent_depth
        depth = averaged_in[window - 1 :]
        np.subtract(1.0, held, out=depth)
        self._release(depth)
        self._recent_depth = averaged_in[n:].copy()
        sums = np.empty(window + n)
        sums[0] = 0.0
        np.cumsum(averaged_in, out=sums[1:])
        # A window of zeros differences to exactly 0, so the gain is exactly 1 after a release.
        gain: Float64s = np.subtract(sums[window:], sums[:n])
        gain *= -1.0 / window
        gain += 1.0
        self._idle = (
            self._depth == 0.0
            and not self._recent_depth.any()
            and bool(self._recent_need.min() == 1)
        )
        return gain

    def _release(self, depth: Float64s) -> None:
        """Turn the attenuation (1 - gain) each sample needs into one that follows it up at once
        and decays back to 0 with the release time constant, in place: d[n] = max(needed[n],
        d[n - 1] * r). That is the running maximum of needed[k] * r^-k, times r^n: vectorised,
        with no loop over samples and no logarithms."""
        if self._depth == 0.0 and not depth.any():
            return
        # r^-k must stay finite: a very short release is done a few thousand samples at a time.
        span = max(1, int(_RELEASE_SPAN / self._release_per_sample))
        for start in range(0, len(depth), span):
            part = depth[start : start + span]
            growth, decay = _release_curves(self._release_per_sample, len(part))
            decayed = part * growth
            decayed[0] = max(decayed[0], self._depth * self._decay_per_sample)
            np.maximum.accumulate(decayed, out=decayed)
            decayed *= decay
            # The product can round under the need itself, which is the bound the output keeps.
            np.maximum(decayed, part, out=part)
            np.putmask(part, part < _RELEASE_FLOOR, 0.0)
            self._depth = float(part[-1])


@functools.lru_cache(maxsize=4)
def _release_curve(per_sample: float, n: int) -> tuple[Float64s, Float64s]:
    exponent = per_sample * np.arange(n)
    growth, decay = np.exp(exponent), np.exp(-exponent)
    growth.flags.writeable = decay.flags.writeable = False
    return growth, decay


def _release_curves(per_sample: float, n: int) -> tuple[Float64s, Float64s]:
    """r^-k and r^k for k = 0 .. n - 1, r = e^-per_sample: made once per release time and kept
    (a cold build limits each new line two or three times, each time with a new Limiter)."""
    longest = int(_RELEASE_SPAN / per_sample)
    growth, decay = _release_curve(per_sample, max(n, min(CHUNK_SAMPLES, longest)))
    return growth[:n], decay[:n]


def limit(samples: Samples, ceiling_db: float) -> Samples:
    """`samples` (mono (n,) or stereo (n, 2)) through a Limiter: a new array of the same shape,
    aligned with the input (the limiter's delay taken out), its true peak under `ceiling_db`."""
    limiter = Limiter(ceiling_db, channels_of(samples))
    out = np.empty_like(np.asarray(samples, dtype=np.float32))
    delay = limiter.latency
    written = 0  # samples of the delayed stream so far

    def take(delayed: Samples) -> None:
        nonlocal written
        skip = min(len(delayed), max(0, delay - written))
        if skip < len(delayed):
            start = written + skip - delay
            out[start : start + len(delayed) - skip] = delayed[skip:]
        written += len(delayed)

    for start in range(0, len(samples), CHUNK_SAMPLES):
        take(limiter.process(samples[start : start + CHUNK_SAMPLES]))
    take(limiter.flush()[: max(0, len(samples) + delay - written)])
    return out
