"""A bed file ridden to one level over time, as heard in the mix: a burst in the recording does
not stand out of the pause it falls in, and a quiet stretch is not buried."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from audioguide.audio import SAMPLE_RATE, Samples, to_samples
from audioguide.cues import Speech, Timeline
from audioguide.model import Bed, SoundFile
from audioguide.options import TARGET_LUFS
from audioguide.sound.beds import _loop, _pink, shaped_noise
from audioguide.sound.meter import clip_loudness
from audioguide.sound.mix import mix
from audioguide.voices.fake import FakeVoice
from test_sounds import write_wav

VOICE = FakeVoice()
Floats = npt.NDArray[np.float64]
BURST_S = (29.0, 31.0)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    _loop.cache_clear()


def pink(seconds: float, seed: int = 5) -> Floats:
    return 0.05 * shaped_noise(to_samples(seconds), _pink, seed=seed)


def with_a_pause(bed_file: Path, level_db: float) -> Timeline:
    """A line at 5 s and one at 45 s: the pause between holds the burst, far from either."""
    text = "Welcome. Lie on your back."
    n = len(VOICE.synthesize(text))
    cues = (Speech(to_samples(5), n, text), Speech(to_samples(45), n, text))
    return Timeline("T", "", to_samples(55), cues, (), Bed(SoundFile(bed_file), level_db))


def bed_in_mix(timeline: Timeline) -> Samples:
    return mix(timeline, VOICE) - mix(dataclasses.replace(timeline, bed=None), VOICE)


def windows(x: Samples, lo_s: float, hi_s: float, size_s: float, hop_s: float) -> list[float]:
    size, hop = to_samples(size_s), to_samples(hop_s)
    return [
        clip_loudness(x[i : i + size])
        for i in range(to_samples(lo_s), to_samples(hi_s) - size + 1, hop)
    ]


@pytest.mark.parametrize("level_db", [-18.0, -24.0])
def test_a_burst_in_a_bed_file_stays_under_the_asked_level(tmp_path: Path, level_db: float) -> None:
    noise = pink(60.0)
    lo, hi = (to_samples(s) for s in BURST_S)
    noise[lo:hi] *= 10  # a door, a car: 20 dB over the body of the file for 2 s
    wav = write_wav(tmp_path / "street.wav", noise, SAMPLE_RATE, 2)
    bed = bed_in_mix(with_a_pause(wav, level_db))
    asked = TARGET_LUFS + level_db
    # In the pause (past the release, before the next attack), every 3 s holds the level...
    short = windows(bed, 8.0, 44.0, 3.0, 0.5)
    assert max(abs(s - asked) for s in short) <= 3.0
    # ...the bed dips only briefly around the burst, as the guard's ramps take it down...
    assert min(windows(bed, 8.0, 44.0, 0.4, 0.1)) > asked - 8.0
    # ...and the burst is no louder than the rest: under the level against the voice.
    assert clip_loudness(bed[lo:hi]) < asked + 0.5
    assert max(windows(bed, *BURST_S, 0.4, 0.1)) < asked + 1.0


def test_a_quiet_stretch_of_a_bed_file_is_brought_up(tmp_path: Path) -> None:
    noise = pink(60.0)
    noise[: to_samples(30)] *= 10 ** (-12 / 20)  # the first half recorded 12 dB quieter
    wav = write_wav(tmp_path / "stream.wav", noise, SAMPLE_RATE, 2)
    bed = bed_in_mix(with_a_pause(wav, -18.0))
    short = windows(bed, 8.0, 44.0, 3.0, 0.5)
    assert max(abs(s - (TARGET_LUFS - 18.0)) for s in short) <= 3.0
