"""The bed under the voice: its loop tiled under the whole track, faded in and out, and ducked
under every cue that sounds, its gain following the timeline (nothing is detected in the signal).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, assert_never

import numpy as np
import numpy.typing as npt

from ..audio import Samples, mean_square, to_samples
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
from .levels import (
    PACER_LEVEL_LU,
    SOUND_LEVEL_LU,
    TONE_LEVEL_LU,
    Clips,
    gain_for,
    sound_identity,
)
from .peaks import true_peak_db

BED_UNDER_SPEECH_DB: Final = 24.0
"""How far the bed sits under each spoken clip, over that clip: WCAG 1.4.7 asks for 20 dB; 4 more
leave room for the encoder and for a wave's crest."""
BED_UNDER_CUE_DB: Final = 10.0
"""Under a pacer, a work tone or a sound: down far enough to follow it, not so far that the bed
drops out at every breath."""
DUCK_ATTACK_S: Final = 0.3
"""The bed starts down this long before a cue, so it is fully down when the first word starts."""
DUCK_RELEASE_S: Final = 1.0
BED_FADE_IN_S: Final = 3.0
BED_FADE_OUT_S: Final = 4.0


# ---------------------------------------------------------------------------- the bed


@dataclass(frozen=True)
class _Duck:
    start: int
    end: int
    depth_db: float
    """How far under its level between cues the bed goes over [start, end)."""


class BedLayer:
    """The bed's loop tiled under the whole track at bed.level_db against the voice, faded in and
    out, ducked under every cue that sounds; its gain follows the timeline (we know where every
    cue is: nothing is detected in the signal), on raised-cosine ramps, so it never steps."""

    def __init__(self, timeline: Timeline, clips: Clips, bed: Bed) -> None:
        self.loop = bed_loop(bed.sound)
        self.total = timeline.total_samples
        # The loop measures BED_RMS_DBFS; its loudness sets the gain, as the voice's does.
        loudness = clips.measured(f"bed:{sound_identity(bed.sound)}", lambda: self.loop)
        self.level = gain_for(loudness, clips.target_lufs + bed.level_db)
        self.loop_peak = 10 ** (true_peak_db(self.loop) / 20)
        self.ducks = _ducks(timeline, clips, self.loop, bed.level_db)
        attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
        self.reach_lo = np.array([d.start - attack for d in self.ducks], dtype=np.int64)
        self.reach_hi = np.array([d.end + release for d in self.ducks], dtype=np.int64)

    def block(self, lo: int, hi: int) -> tuple[Samples, float]:
        near = [self.ducks[i] for i in np.flatnonzero((self.reach_lo < hi) & (self.reach_hi > lo))]
        gain = self.level * _bed_gain(lo, hi, self.total, near)
        layer = (_tiled(self.loop, lo, hi - lo) * gain).astype(np.float32)
        return layer, self.loop_peak * float(gain.max(initial=0.0))


def _ducks(timeline: Timeline, clips: Clips, loop: Samples, level_db: float) -> list[_Duck]:
    """Where the bed goes down, and how far: under each cue, to BED_UNDER_*_DB under that cue's
    level, measured over the cue's own stretch of the bed (a wave's crest may fall there). A gap
    between two ducks shorter than a release and an attack is held down too (at the shallower of
    the two), so the bed does not bob up for a moment between sentences."""
    hold = to_samples(DUCK_ATTACK_S) + to_samples(DUCK_RELEASE_S)
    loop_power = mean_square(loop)
    ducks: list[_Duck] = []
    last: _Duck | None = None
    for cue in sorted(timeline.cues, key=lambda c: c.start_sample):
        heard = _heard(cue, clips)
        if heard is None:
            continue
        n, highest_db = heard
        stretch_db = 10 * math.log10(_tiled_power(loop, cue.start_sample, n) / loop_power)
        # The bed's level over the stretch against the voice, brought down to the highest allowed.
        depth = level_db + stretch_db - highest_db
        duck = _Duck(cue.start_sample, cue.start_sample + n, depth)
        if last is not None and 0 < duck.start - last.end < hold:
            ducks.append(_Duck(last.end, duck.start, min(last.depth_db, duck.depth_db)))
        ducks.append(duck)
        last = duck if last is None or duck.end > last.end else last
    return [d for d in ducks if d.depth_db > 0]


def _heard(cue: Cue, clips: Clips) -> tuple[int, float] | None:
    """How long a cue sounds (all of a spoken clip; up to its last sound for a bell, a tone or a
    pacer phase), and the highest the bed may be there against the voice; None for silence."""
    match cue:
        case Speech():
            return (cue.n_samples, -BED_UNDER_SPEECH_DB) if cue.n_samples else None
        case SoundCue():
            level = SOUND_LEVEL_LU
        case WorkCue():
            level = TONE_LEVEL_LU
        case BreathCue():
            level = PACER_LEVEL_LU
        case HoldCue() | RestCue() | SilenceCue():
            return None
        case _:
            assert_never(cue)
    samples = clips.of(cue).samples[: cue.n_samples]
    sounding = np.flatnonzero(samples)
    if len(sounding) == 0:
        return None
    return int(sounding[-1]) + 1, level - BED_UNDER_CUE_DB


def _bed_gain(lo: int, hi: int, n_total: int, ducks: list[_Duck]) -> npt.NDArray[np.float64]:
    """The bed's gain over [lo, hi), relative to its level between cues: the fades at the ends
    of the track times the deepest duck at each sample."""
    t = np.arange(lo, hi, dtype=np.float64)
    fade_in = max(1, min(to_samples(BED_FADE_IN_S), n_total // 3))
    fade_out_n = max(1, min(to_samples(BED_FADE_OUT_S), n_total // 3))
    gain = _raised(np.minimum(t / fade_in, (n_total - 1 - t) / fade_out_n))
    attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
    depth = np.zeros(hi - lo)
    for d in ducks:
        a, b = max(lo, d.start - attack), min(hi, d.end + release)
        ramp = np.minimum(
            (t[a - lo : b - lo] - (d.start - attack)) / attack,
            (d.end + release - t[a - lo : b - lo]) / release,
        )
        np.maximum(depth[a - lo : b - lo], d.depth_db * _raised(ramp), out=depth[a - lo : b - lo])
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


def _tiled_power(loop: Samples, start: int, n: int) -> float:
    energy = sum(
        mean_square(loop[offset : offset + take]) * take
        for _, offset, take in _pieces(len(loop), start, n)
    )
    return energy / n
