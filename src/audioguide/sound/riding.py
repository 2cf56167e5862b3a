"""A bed file ridden as a broadcast engineer rides a music bed: its short-term loudness held near
one level by a slow, smooth gain, so a quiet stretch is not buried under the voice and a door, a
bird or a car in the recording never stands out of it.

The file is read whole before a sample is played, so the rider looks ahead: its gain is down
before a burst starts, never catching it late. Two gains, in dB, on a 100 ms grid:

- the level: the file's loudness over a running 10 s (the median of its 400 ms readings, which a
  burst of under 5 s does not move) brought to the file's level as a whole, by at most
  RIDE_MAX_BOOST_DB up and RIDE_MAX_CUT_DB down, smoothed over 3 s;
- the guard: a 100 ms step that still stands over the file's level by twice what the file's own
  texture does (its 95th percentile, within RIDE_SPREAD_DB) is a burst, brought down to the
  level, on ramps of RIDE_GUARD_S that start before it (steps between are blended).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, uniform_filter1d

from ..audio import Float64s, Samples, to_samples
from .meter import lufs_of, weighted_energies

RIDE_STEP_S: Final = 0.1
RIDE_WINDOW_STEPS: Final = 4
"""A 400 ms reading: BS.1770's momentary loudness."""
RIDE_BODY_S: Final = 10.0
"""The running median's span: a burst shorter than half of it does not move the level."""
RIDE_SMOOTH_S: Final = 3.0
"""The level gain moves no faster than this: over the span of a short-term (3 s) reading."""
RIDE_MAX_BOOST_DB: Final = 10.0
"""A quiet stretch is raised at most this much: a near-silence is not made a hiss."""
RIDE_MAX_CUT_DB: Final = 30.0
RIDE_SPREAD_DB: Final = (1.5, 4.0)
"""How far a 100 ms step may stand over the file's level before the guard takes it down: the
file's own 95th percentile, at least 1.5 (steady noise) and at most 4 (the crest of a wave)."""
RIDE_GUARD_S: Final = 0.1
"""The guard's ramps: down over this before a burst, back up over this after it."""
SILENT_LUFS: Final = -70.0


def ride(clip: Samples) -> Samples:
    """The clip with its loudness held near the level of the whole (module docstring)."""
    step = to_samples(RIDE_STEP_S)
    gain_db = ride_gain_db(weighted_energies(clip, step))
    if gain_db is None:
        return clip
    centres = (np.arange(len(gain_db)) + 0.5) * step
    out = np.empty_like(clip)
    chunk = 1 << 20
    for lo in range(0, len(clip), chunk):
        hi = min(lo + chunk, len(clip))
        db = np.interp(np.arange(lo, hi, dtype=np.float64), centres, gain_db)
        out[lo:hi] = clip[lo:hi] * (10 ** (db / 20)).astype(np.float32)
    return out


def ride_gain_db(energies: Float64s) -> Float64s | None:
    """The rider's gain for each 100 ms step of a clip, from the K-weighted energy of each step;
    None when the clip is too short or too quiet to read."""
    if len(energies) < 2 * RIDE_WINDOW_STEPS:
        return None
    reading = _readings(energies)
    audible = reading > SILENT_LUFS
    if not audible.any():
        return None
    whole = float(np.median(reading[audible]))
    span = round(RIDE_BODY_S / RIDE_STEP_S)
    local = median_filter(np.where(audible, reading, whole), size=span, mode="nearest")
    level = np.clip(whole - local, -RIDE_MAX_CUT_DB, RIDE_MAX_BOOST_DB)
    level = uniform_filter1d(level, round(RIDE_SMOOTH_S / RIDE_STEP_S), mode="nearest")
    # The guard reads 100 ms steps, not 400 ms, so its dip reaches no further around a burst
    # than the ramps do (a 400 ms reading sees a burst up to 300 ms before it starts).
    after = lufs_of(energies) + level
    spread = float(np.clip(np.percentile(after[audible] - whole, 95), *RIDE_SPREAD_DB))
    cut = np.where(after > SILENT_LUFS, _burst_cut(after - whole, spread), 0.0)
    gain: Float64s = level - _held(cut, round(RIDE_GUARD_S / RIDE_STEP_S))
    return gain


def _readings(energies: Float64s) -> Float64s:
    """The 400 ms reading around each step (the step before it and the two after)."""
    windows = np.convolve(energies, np.ones(RIDE_WINDOW_STEPS) / RIDE_WINDOW_STEPS, "valid")
    return lufs_of(np.pad(windows, (1, RIDE_WINDOW_STEPS - 2), mode="edge"))


def _burst_cut(excess: Float64s, spread: float) -> Float64s:
    """How far to take each step down, from how far it stands over the file's level: nothing
    within the file's own spread; a step over twice the spread is a burst, brought down to the
    level itself (a listener hears the bed go on, not a door slammed quieter); between, a
    continuous blend of the two."""
    blend = 2 * (excess - spread)
    cut: Float64s = np.where(excess <= spread, 0.0, np.where(excess >= 2 * spread, excess, blend))
    return cut


def _held(need: Float64s, ramp: int) -> Float64s:
    """A smooth curve at or over `need` everywhere: its maximum over each span of 2 * ramp + 3
    steps, averaged over 2 * ramp + 1 (so it is at least `need` at a step and both its neighbours,
    whatever is interpolated between them), reaching out `ramp` steps before and after."""
    held = maximum_filter1d(need, size=2 * ramp + 3, mode="nearest")
    out: Float64s = uniform_filter1d(held, size=2 * ramp + 1, mode="nearest")
    return out
