"""The bed as an engineer would ride it under the voice, measured on the mix with and without it:
every 400 ms of it under a spoken line at least 20 LU under the voice, no swell in the pauses
between sentences, a pacer you can follow over it, and a tone pacer with no hole where the
breath turns."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from audioguide.audio import Samples, to_samples
from audioguide.cues import BreathCue, Cue, Speech, Timeline
from audioguide.model import Bed, BuiltinSound, PacerStyle
from audioguide.sound.meter import clip_loudness
from audioguide.sound.mix import mix
from audioguide.voices.fake import FakeVoice

VOICE = FakeVoice()
TEXTS = (
    "Welcome. Lie on your back.",
    "Press your lower back into the floor.",
    "Slowly release.",
    "Now the other side, and breathe out as you let go.",
)
GAPS_S = (1.3, 2.0, 2.9, 3.0, 6.0, 0.5)
"""Pauses between sentences, and one long enough for the bed to come up."""


def lines(bed: Bed, count: int = 20) -> Timeline:
    cues: list[Cue] = []
    t = to_samples(1.0)
    for i in range(count):
        text = TEXTS[i % len(TEXTS)]
        n = len(VOICE.synthesize(text))
        cues.append(Speech(t, n, text))
        t += n + to_samples(GAPS_S[i % len(GAPS_S)])
    return Timeline("T", "", t + to_samples(4.0), tuple(cues), (), bed)


def alone(timeline: Timeline) -> tuple[Samples, Samples]:
    """(the bed, the rest): the mix with and without the bed, and the difference."""
    rest = mix(dataclasses.replace(timeline, bed=None), VOICE)
    return mix(timeline, VOICE) - rest, rest


def loudest_400ms(x: Samples) -> float:
    size, hop = to_samples(0.4), to_samples(0.05)
    if len(x) <= size:
        return clip_loudness(x)
    return max(clip_loudness(x[i : i + size]) for i in range(0, len(x) - size + 1, hop))


@pytest.mark.parametrize("level_db", [-18.0, -10.0])
@pytest.mark.parametrize("name", ["ocean", "rain", "brown"])
def test_every_400_ms_of_the_bed_under_a_line_is_20_lu_under_the_voice(
    name: str, level_db: float
) -> None:
    timeline = lines(Bed(BuiltinSound(name), level_db))
    bed, voice = alone(timeline)
    for cue in timeline.cues:
        span = slice(cue.start_sample, cue.end_sample)
        assert loudest_400ms(bed[span]) <= clip_loudness(voice[span]) - 20.0, cue


@pytest.mark.parametrize("name", ["ocean", "rain", "brown"])
def test_pauses_between_sentences_do_not_swell(name: str) -> None:
    timeline = lines(Bed(BuiltinSound(name), -18.0))
    bed, _ = alone(timeline)
    cues = timeline.cues
    swells = []
    for before, after in itertools.pairwise(cues):
        gap_s = (after.start_sample - before.end_sample) / to_samples(1.0)
        if not 1.3 <= gap_s <= 3.0:
            continue
        under = max(loudest_400ms(bed[c.start_sample : c.end_sample]) for c in (before, after))
        swells.append(loudest_400ms(bed[before.end_sample : after.start_sample]) - under)
    assert len(swells) >= 10
    assert max(swells) < 3.0


def breaths(bed: Bed | None, pacer: PacerStyle, seconds: float = 5.0, count: int = 6) -> Timeline:
    cues: list[Cue] = []
    t = to_samples(2.0)
    for _ in range(count):
        for phase in ("inhale", "exhale"):
            cues.append(BreathCue(t, to_samples(seconds), phase, pacer))
            t += to_samples(seconds)
    return Timeline("T", "", t + to_samples(3.0), tuple(cues), (), bed)


@pytest.mark.parametrize("level_db", [-22.0, -18.0])
def test_the_bed_stays_12_lu_under_the_pacer(level_db: float) -> None:
    timeline = breaths(Bed(BuiltinSound("rain"), level_db), "breath")
    bed, pacer = alone(timeline)
    for cue in timeline.cues:
        span = slice(cue.start_sample, cue.end_sample)
        assert clip_loudness(pacer[span]) - clip_loudness(bed[span]) >= 12.0, cue


@pytest.mark.parametrize("seconds", [3.0, 5.0])
def test_the_tone_pacer_has_no_hole_where_the_breath_turns(seconds: float) -> None:
    timeline = breaths(None, "tone", seconds, count=2)
    out = mix(timeline, VOICE).astype(np.float64)
    first, last = timeline.cues[0], timeline.cues[-1]
    size, hop = to_samples(0.1), to_samples(0.01)
    # Every 100 ms from the first inhale's second 100 ms to the last exhale's last but one,
    # wherever it starts, against the 100 ms before and after it.
    span = out[first.start_sample + size : last.end_sample - size]
    squares = np.concatenate([[0.0], np.cumsum(span**2)])
    starts = np.arange(0, len(span) - size + 1, hop)
    db = 10 * np.log10((squares[starts + size] - squares[starts]) / size + 1e-20)
    k = size // hop
    neighbours = np.maximum(db[: -2 * k], db[2 * k :])
    dips = neighbours - db[k:-k]
    assert dips.max() <= 20.0  # the bar; the tone dips 4.5 dB at most (19.5 where it was)
    assert dips.max() < 8.0
    # At the top of each breath, where the inhale turns into the exhale, hardly a dip at all.
    for cue in timeline.cues[1::2]:
        turn = (cue.start_sample - first.start_sample - size) // hop
        assert dips[turn - 2 * k : turn + k].max() < 3.0
