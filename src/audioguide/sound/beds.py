"""Background beds: ambience laid under a whole session (rain, ocean, brown noise, a drone, or a
user's audio file), as a seamless loop that render tiles across the track.

Built-in beds are synthesised, seeded so every run gives the same samples, and periodic in their
loop length by construction: noise is made in the frequency domain and every tone fits a whole
number of cycles into the loop, so tiling leaves no seam at all. A file is ridden to one
level over time (riding.py), then made seamless by an equal-power crossfade of its tail into its
head.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Final, assert_never

import numpy as np
import numpy.typing as npt

from ..audio import SAMPLE_RATE, Samples, mean_square, to_samples
from ..errors import SoundError
from ..model import BuiltinSound, SoundFile, SoundRef, sound_label
from .sounds import decode_file, shaped_noise, sound_stamp

BED_RMS_DBFS: Final = -30.0
"""Every loop, built-in or file, is normalised to this RMS; render sets its level in the mix."""
BED_LOOP_S: Final = 75.0
"""Long enough that no wave, gust or swirl of a noise bed comes back within a minute (at 30 s a
20-minute session heard the same ocean wave 160 times), short enough to cache (13 MB)."""
OCEAN_SWELL_S: Final = 7.5
"""The mean time between wave crests (a calm sea)."""
OCEAN_SWELL_RANGE: Final = (0.7, 1.35)
"""Each wave's time to the next, as a fraction of OCEAN_SWELL_S, drawn at random: waves that
came at one steady beat sounded like a machine (its envelope correlated 0.93 with itself a wave
later)."""
DRONE_PARTIALS: Final = (
    (110.0, 1.0),
    (110.2, 0.6),
    (165.0, 0.5),
    (165.13, 0.3),
    (220.0, 0.2),
    (220.1, 0.12),
)
"""(Hz, amplitude): an open fifth on A2 (A2, E3, A3), each note with a quiet twin a little above
it, so it beats slowly (every 5, 7.5 and 10 s). Each is rounded to whole cycles per loop."""
MIN_BED_FILE_S: Final = 2.0
MAX_BED_FILE_S: Final = 1800.0
BED_CROSSFADE_S: Final = 3.0
"""How much of a file's tail is crossfaded into its head; a quarter of the file if that is less."""

_Floats = npt.NDArray[np.float64]
_Shape = Callable[[_Floats], _Floats]


def bed_loop(ref: SoundRef) -> Samples:
    """The bed: a mono loop at BED_RMS_DBFS that joins end to start seamlessly; cached (a file
    as it is now: edited, it is read again), so callers must not write to it."""
    return _loop(ref, sound_stamp(ref))


@functools.lru_cache(maxsize=4)
def _loop(ref: SoundRef, stamp: object) -> Samples:
    loop: npt.NDArray[np.floating]
    match ref:
        case BuiltinSound(name=name):
            loop = _SYNTHS[name]()
        case SoundFile(path=path):
            loop = _file_loop(path)
        case _:
            assert_never(ref)
    power = mean_square(loop)
    if power == 0.0:
        raise SoundError(
            f"bed file {sound_label(ref)} is silent; pick a recording with sound in it"
        )
    out: Samples = (loop * (10 ** (BED_RMS_DBFS / 20) / math.sqrt(power))).astype(np.float32)
    out.flags.writeable = False
    return out


# ---------------------------------------------------------------------------- built-ins


def _rain() -> _Floats:
    n = to_samples(BED_LOOP_S)
    hiss = shaped_noise(n, _product(_pink, _highpass(500), _lowpass(6000, 3)), seed=11)
    patter = shaped_noise(n, _product(_highpass(2500), _lowpass(8000, 3)), seed=12)
    # Texture comes from slowly varying loudness (gusts under 0.5 Hz, the flutter of many drops
    # at 3-12 Hz), never from single droplets: a sharp drop would sound like a click.
    gusts = shaped_noise(n, _lowpass(0.5, 4), seed=13)
    flutter = shaped_noise(n, _product(_highpass(3), _lowpass(12, 4)), seed=14)
    # Each bounded softly at 2.5 standard deviations: a longer loop draws rarer extremes, and a
    # 10 ms flurry 6 dB over the rest would stand out like a drop.
    gusts, flutter = (2.5 * np.tanh(x / 2.5) for x in (gusts, flutter))
    rain: _Floats = hiss * np.exp(0.2 * gusts) + 0.3 * patter * np.exp(0.5 * flutter)
    return rain


def _ocean() -> _Floats:
    n = to_samples(BED_LOOP_S)
    rumble = shaped_noise(n, _product(_brown, _highpass(40), _lowpass(500)), seed=21)
    wash = shaped_noise(n, _product(_pink, _highpass(300), _lowpass(3000)), seed=22)
    swell = _waves(n, np.random.default_rng(23))
    # The breaking crest brings in the brighter wash; the trough keeps a low rumble.
    ocean: _Floats = rumble * (0.3 + 0.7 * swell) + 0.6 * wash * swell**2
    return ocean


def _waves(n: int, rng: np.random.Generator) -> _Floats:
    """The sea's swell over n samples: waves of random length, height and shape, their lengths
    scaled to fill the loop exactly. A wave builds for most of its length and breaks in the rest
    (where depends on its shape); it is 0 with zero slope where one meets the next."""
    lo, hi = OCEAN_SWELL_RANGE
    count = round(n / to_samples(OCEAN_SWELL_S))
    lengths = rng.uniform(lo, hi, count)
    edges = np.round(np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum() * n).astype(int)
    swell = np.zeros(n)
    for a, b, height, build in zip(
        edges[:-1],
        edges[1:],
        rng.uniform(0.5, 1.0, count),
        rng.uniform(1.3, 2.0, count),
        strict=True,
    ):
        phase = np.arange(b - a) / (b - a)
        swell[a:b] = height * (0.5 - 0.5 * np.cos(2 * np.pi * phase**build))
    return swell


def _brown_noise() -> _Floats:
    # 1/f amplitude is 1/f^2 power; the high-pass at 20 Hz removes DC and inaudible rumble.
    return shaped_noise(to_samples(BED_LOOP_S), _product(_brown, _highpass(20)), seed=31)


def _drone() -> _Floats:
    n = to_samples(BED_LOOP_S)
    index = np.arange(n, dtype=np.int64)
    phases = np.random.default_rng(41).random(len(DRONE_PARTIALS))
    drone = np.zeros(n)
    for (hz, gain), phase in zip(DRONE_PARTIALS, phases, strict=True):
        cycles = round(hz * BED_LOOP_S)
        # Integer arithmetic modulo the loop keeps the phase exact, so the loop closes exactly.
        drone += gain * np.sin(2 * np.pi * ((index * cycles % n) / n + phase))
    return drone


def _pink(freqs: _Floats) -> _Floats:
    out: _Floats = 1 / np.sqrt(np.maximum(freqs, 1.0))
    return out


def _brown(freqs: _Floats) -> _Floats:
    out: _Floats = 1 / np.maximum(freqs, 1.0)
    return out


def _highpass(hz: float, order: int = 2) -> _Shape:
    """A Butterworth high-pass's magnitude response."""
    return lambda f: 1 / np.sqrt(1 + (hz / np.maximum(f, 1e-9)) ** (2 * order))


def _lowpass(hz: float, order: int = 2) -> _Shape:
    return lambda f: 1 / np.sqrt(1 + (f / hz) ** (2 * order))


def _product(*shapes: _Shape) -> _Shape:
    return lambda f: functools.reduce(np.multiply, (shape(f) for shape in shapes))


_SYNTHS: Final[dict[str, Callable[[], _Floats]]] = {
    "rain": _rain,
    "ocean": _ocean,
    "brown": _brown_noise,
    "drone": _drone,
}


# ---------------------------------------------------------------------------- files


def _file_loop(path: Path) -> Samples:
    """The file, mono, with its last few seconds crossfaded into its first: the loop's end then
    runs on into where the tail left off, and its start grows into the head."""
    clip = decode_file(
        path, max_s=MAX_BED_FILE_S, too_long="a bed loops, so a few minutes is plenty: trim it"
    )
    if len(clip) < to_samples(MIN_BED_FILE_S):
        raise SoundError(
            f"bed file {path} is {len(clip) / SAMPLE_RATE:.1f} s long, too short to loop: use a "
            f"recording of at least {MIN_BED_FILE_S:g} s (a minute or more repeats less audibly)"
        )
    # Levelled before it is looped, so the crossfade joins two stretches at one level.
    from .riding import ride  # scipy's filters: only for a file, not a plan

    clip = ride(clip)
    n = min(to_samples(BED_CROSSFADE_S), len(clip) // 4)
    # Equal power, because head and tail are unrelated sounds whose powers add.
    angle = np.arange(n) / n * (np.pi / 2)
    joined = clip[-n:] * np.cos(angle) + clip[:n] * np.sin(angle)
    return np.concatenate([joined.astype(np.float32), clip[n:-n]])
