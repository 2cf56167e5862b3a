"""The bed under the voice: its loop tiled under the whole track, faded in and out, and ducked
under every cue that sounds. Its gain follows the timeline and, inside each cue, the bed's own
loudness, as a sidechain would: both are known before a sample is mixed, so nothing is detected
late and the dip is down before a wave crests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, assert_never

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from ..audio import SAMPLE_RATE, Samples, to_samples
from ..cues import (
    BreathCue,
    Cue,
    HoldCue,
    RestCue,
    SilenceCue,
    SoundCue,
    Speech,
    Timeline,
    WorkCue,
)
from ..model import Bed
from .beds import bed_loop
from .levels import Clips, gain_for, sound_identity
from .meter import clip_loudness, lufs_of, weighted_energies
from .peaks import true_peak_db

BED_UNDER_SPEECH_DB: Final = 24.0
"""How far the bed sits under each spoken clip, in every 400 ms of the clip: WCAG 1.4.7 asks for
20 dB; 4 more leave room for the encoder."""
BED_UNDER_CUE_DB: Final = 14.0
"""Under a pacer, a work tone or a sound, in every 400 ms of it, against that cue's own loudness:
12 so a breath can be followed over a noise bed (the breath pacer's exhale is noise too), 2 for
the encoder (as speech has 4); not so far that the bed drops out at every breath."""
DUCK_ATTACK_S: Final = 0.3
"""The bed starts down this long before a cue, so it is fully down when the first word starts."""
DUCK_RELEASE_S: Final = 1.0
DUCK_HOLD_S: Final = 3.0
"""A gap between two cues of up to this is held down, following the bed as under the cues:
a teacher's pause between sentences runs to about 3 s, and a bed that rose and fell again in it
would swell at every sentence (it did, by 7 dB, in gaps of 1.3 to 3 s); a longer pause is a
space the bed is meant to fill."""
SIDECHAIN_S: Final = 0.15
"""Inside a cue, the dip follows the bed's loudness on ramps of twice this (an attack and a
release of 0.3 s), down before a wave crests: the bed is known ahead, nothing is detected late."""
TICK: Final = 441
"""The dip is worked out on a 10 ms grid and interpolated between: smooth at every sample."""
_WINDOW_TICKS: Final = 40
"""A 400 ms (momentary) reading of the bed: the span the bar is measured over."""
BED_FADE_IN_S: Final = 3.0
"""The longest fade in; it ends before the first cue, so the bed is not rising under a word."""
BED_FADE_OUT_S: Final = 4.0


# ---------------------------------------------------------------------------- the bed


@dataclass(frozen=True)
class _Duck:
    start: int
    end: int
    first_tick: int
    depth_db: npt.NDArray[np.float64]
    """How far under its level between cues the bed goes, at each tick from first_tick: over
    [start, end), and on from there as the sidechain's ramps reach."""

    def depth_at(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        centres = (self.first_tick + np.arange(len(self.depth_db)) + 0.5) * TICK
        out: npt.NDArray[np.float64] = np.interp(t, centres, self.depth_db)
        return out


class BedLayer:
    """The bed's loop tiled under the whole track at bed.level_db against the voice, faded in and
    out, ducked under every cue that sounds; its gain follows the timeline (we know where every
    cue is) and the bed's own loudness inside each cue (we know the bed), on raised-cosine ramps
    and a smoothed sidechain, so it never steps."""

    def __init__(self, timeline: Timeline, clips: Clips, bed: Bed) -> None:
        self.loop = bed_loop(bed.sound)
        self.total = timeline.total_samples
        # The loop measures BED_RMS_DBFS; its loudness sets the gain, as the voice's does.
        loudness = clips.measured(f"bed:{sound_identity(bed.sound)}", lambda: self.loop)
        self.level = gain_for(loudness, clips.target_lufs + bed.level_db)
        self.loop_peak = 10 ** (true_peak_db(self.loop) / 20)
        profile = _Profile(self.loop, loudness - bed.level_db)
        self.ducks = _ducks(timeline, clips, profile)
        attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
        self.reach_lo = np.array([d.start - attack for d in self.ducks], dtype=np.int64)
        self.reach_hi = np.array([d.end + release for d in self.ducks], dtype=np.int64)
        first = min((d.start for d in self.ducks), default=self.total)
        self.fade_in = max(1, min(to_samples(BED_FADE_IN_S), self.total // 3, first - attack))

    def block(self, lo: int, hi: int) -> tuple[Samples, float]:
        near = [self.ducks[i] for i in np.flatnonzero((self.reach_lo < hi) & (self.reach_hi > lo))]
        gain = self.level * _bed_gain(lo, hi, self.total, self.fade_in, near)
        layer = (_tiled(self.loop, lo, hi - lo) * gain).astype(np.float32)
        return layer, self.loop_peak * float(gain.max(initial=0.0))


class _Profile:
    """The bed's loudness against the voice at its level, 400 ms at a time, anywhere in the track:
    the loop's K-weighted energy on the 10 ms grid, read around the loop."""

    def __init__(self, loop: Samples, voice_lufs: float) -> None:
        warm = min(len(loop) // TICK, 100) * TICK  # the filters run in from the loop's end
        ticks = weighted_energies(np.concatenate([loop[len(loop) - warm :], loop]), TICK)
        self.ticks = ticks[warm // TICK :]
        self.loop_len = len(loop)
        self.voice_lufs = voice_lufs

    def against_voice(self, first: int, n: int) -> npt.NDArray[np.float64]:
        """The bed's loudness, LU against the voice, in the 400 ms centred on each of n ticks."""
        k = np.arange(first - _WINDOW_TICKS // 2, first + n + _WINDOW_TICKS // 2)
        where = np.minimum((k * TICK) % self.loop_len // TICK, len(self.ticks) - 1)
        windows = np.convolve(self.ticks[where], np.ones(_WINDOW_TICKS) / _WINDOW_TICKS, "valid")
        return lufs_of(windows[:n]) - self.voice_lufs


def _ducks(timeline: Timeline, clips: Clips, profile: _Profile) -> list[_Duck]:
    """Where the bed goes down, and how far: under each cue, until every 400 ms of the bed there
    is BED_UNDER_*_DB under the cue. A gap between two cues shorter than DUCK_HOLD_S is held down
    too, by the shallower of the two rules, so the bed does not swell between sentences."""
    hold = to_samples(DUCK_HOLD_S)
    loudness: dict[tuple[int, int], tuple[Samples, int, float]] = {}
    ducks: list[_Duck] = []
    last: tuple[int, float] | None = None
    for cue in sorted(timeline.cues, key=lambda c: c.start_sample):
        heard = _heard(cue, clips, loudness)
        if heard is None:
            continue
        n, highest_db = heard
        end = cue.start_sample + n
        if last is not None and 0 < cue.start_sample - last[0] <= hold:
            gap_rule = max(last[1], highest_db)
            ducks.append(_dip(profile, last[0], cue.start_sample, gap_rule))
        ducks.append(_dip(profile, cue.start_sample, end, highest_db))
        last = (end, highest_db) if last is None or end > last[0] else last
    return [d for d in ducks if d.depth_db.max(initial=0.0) > 0]


def _dip(profile: _Profile, start: int, end: int, highest_db: float) -> _Duck:
    """The sidechain over [start, end): deep enough at every tick that each 400 ms of the bed
    around it is `highest_db` against the voice or under, its ramps reaching out around."""
    ramp = round(SIDECHAIN_S * SAMPLE_RATE / TICK)
    pad = _WINDOW_TICKS // 2 + 2 * ramp + 2
    first, last = start // TICK, -(-end // TICK)
    need = np.zeros(last - first + 2 * pad)
    need[pad:-pad] = np.maximum(profile.against_voice(first, last - first) - highest_db, 0.0)
    # Every 400 ms that holds a tick asks for the tick's dip: held over a window's width.
    held = maximum_filter1d(need, size=_WINDOW_TICKS + 2 * ramp + 3, mode="nearest")
    depth = uniform_filter1d(held, size=2 * ramp + 1, mode="nearest")
    return _Duck(start, end, first - pad, depth)


def _heard(
    cue: Cue, clips: Clips, memo: dict[tuple[int, int], tuple[Samples, int, float]]
) -> tuple[int, float] | None:
    """How long a cue sounds (all of a spoken clip; up to its last sound for a bell, a tone or a
    pacer phase), and the highest the bed may be there against the voice; None for silence."""
    match cue:
        case Speech():
            return (cue.n_samples, -BED_UNDER_SPEECH_DB) if cue.n_samples else None
        case SoundCue() | WorkCue() | BreathCue():
            pass
        case HoldCue() | RestCue() | SilenceCue():
            return None
        case _:
            assert_never(cue)
    samples = clips.of(cue).samples[: cue.n_samples]
    key = (id(samples.base), len(samples))
    if key not in memo:  # a pacer's phases are the same few clips, hundreds of times
        sounding = np.flatnonzero(samples)
        n = int(sounding[-1]) + 1 if len(sounding) else 0
        # The array is kept with its figures, so its id is not reused while the memo lives.
        memo[key] = (samples, n, clip_loudness(samples[:n]) if n else -math.inf)
    _, n, loudness = memo[key]
    if n == 0:
        return None
    return n, loudness - clips.target_lufs - BED_UNDER_CUE_DB


def _bed_gain(
    lo: int, hi: int, n_total: int, fade_in: int, ducks: list[_Duck]
) -> npt.NDArray[np.float64]:
    """The bed's gain over [lo, hi), relative to its level between cues: the fades at the ends
    of the track times the deepest duck at each sample."""
    t = np.arange(lo, hi, dtype=np.float64)
    fade_out_n = max(1, min(to_samples(BED_FADE_OUT_S), n_total // 3))
    gain = _raised(np.minimum(t / fade_in, (n_total - 1 - t) / fade_out_n))
    attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
    depth = np.zeros(hi - lo)
    for d in ducks:
        a, b = max(lo, d.start - attack), min(hi, d.end + release)
        at = t[a - lo : b - lo]
        ramp = np.minimum((at - (d.start - attack)) / attack, (d.end + release - at) / release)
        np.maximum(
            depth[a - lo : b - lo], d.depth_at(at) * _raised(ramp), out=depth[a - lo : b - lo]
        )
    gain *= 10 ** (-depth / 20)
    return gain


def _raised(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Raised-cosine ramp: 0 for u <= 0, 1 for u >= 1, smooth between."""
    out: npt.NDArray[np.float64] = 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))
    return out


def _pieces(loop_len: int, start: int, n: int) -> Iterator[tuple[int, int, int]]:
    """(position in the stretch, offset in the loop, length) of each run of the loop tiled from
    track sample 0, over the stretch [start, start + n)."""
    done = 0
    while done < n:
        offset = (start + done) % loop_len
        take = min(loop_len - offset, n - done)
        yield done, offset, take
        done += take


def _tiled(loop: Samples, start: int, n: int) -> Samples:
    out = np.empty(n, dtype=np.float32)
    for at, offset, take in _pieces(len(loop), start, n):
        out[at : at + take] = loop[offset : offset + take]
    return out
