"""The mix, measured: panning, start tones and pacers, the ducked bed, clicks and loudness."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest

from audioguide.audio import SAMPLE_RATE, Samples, to_samples
from audioguide.beds import BED_RMS_DBFS, bed_loop
from audioguide.model import (
    Bed,
    BreathCue,
    BuiltinSound,
    Cue,
    PacerStyle,
    Speech,
    Timeline,
    WorkCue,
)
from audioguide.render import (
    BED_UNDER_CUE_DB,
    BED_UNDER_SPEECH_DB,
    CUT_FADE_S,
    DUCK_ATTACK_S,
    DUCK_RELEASE_S,
    LOUDNESS_TOLERANCE_LU,
    TARGET_LUFS,
    integrated_loudness,
    limit,
    mix,
    pan_gains,
    render,
    true_peak_db,
)
from audioguide.sounds import breath_sound, sound_samples
from audioguide.voices import FakeVoice
from audiotools import rms_db

GAP_S = 6.0
TEXTS = (
    "Welcome. Lie on your back.",
    "quiet: Press your lower back into the floor.",
    "Slowly release.",
    "Now the other side.",
)


class ScaledVoice(FakeVoice):
    """The fake voice, 20 dB quieter for texts that start with "quiet", so cues differ in level."""

    def synthesize(self, text: str) -> Samples:
        clip = super().synthesize(text)
        return clip * np.float32(0.1) if text.startswith("quiet") else clip


VOICE = ScaledVoice()


def session(
    pans: tuple[float, ...] = (0.0,), bed: Bed | None = None, pacer: PacerStyle = "breath"
) -> Timeline:
    """Speech cues with long gaps between them, a breath cycle after each, and a work period whose
    start tone (a 4 s gong) is cut short by its 1 s window."""
    cues: list[Cue] = []
    t = to_samples(0.5)
    for i, text in enumerate(TEXTS):
        n = len(VOICE.synthesize(text))
        cues.append(Speech(t, n, text, pans[i % len(pans)]))
        t += n + to_samples(GAP_S)
        for phase, seconds in (("inhale", 3.0), ("hold", 1.0), ("exhale", 4.0)):
            n = to_samples(seconds)
            cues.append(BreathCue(t, n, phase, pacer))
            t += n
        t += to_samples(GAP_S)
    cues.append(WorkCue(t, to_samples(1.0), "squats", BuiltinSound("gong")))
    t += to_samples(GAP_S)
    return Timeline("Test", "", t, tuple(cues), (), bed)


def speech_cues(timeline: Timeline) -> list[Cue]:
    return [c for c in timeline.cues if isinstance(c, Speech)]


def window(samples: Samples, cue: Cue) -> Samples:
    return samples[cue.start_sample : cue.end_sample]


def bed_alone(timeline: Timeline) -> Samples:
    """What the bed adds to the mix: the same timeline mixed with and without it."""
    return mix(timeline, VOICE) - mix(dataclasses.replace(timeline, bed=None), VOICE)


def speech_reference_db(timeline: Timeline) -> float:
    """The RMS of all the speech clips together."""
    clips = [VOICE.synthesize(c.text or "") for c in speech_cues(timeline)]
    return rms_db(np.concatenate(clips))


def tiled(loop: Samples, n: int) -> Samples:
    return np.tile(loop, n // len(loop) + 1)[:n]


def channel_db(samples: Samples, cue: Cue, channel: int) -> float:
    return rms_db(window(samples, cue)[:, channel])


# ---------------------------------------------------------------------------- channels and pan


def test_mono_unless_a_cue_is_panned() -> None:
    assert mix(session(), VOICE).shape == (session().total_samples,)
    panned = session(pans=(0.0, -0.6))
    assert mix(panned, VOICE).shape == (panned.total_samples, 2)
    assert render(session(bed=Bed(BuiltinSound("rain"))), VOICE).ndim == 1


@pytest.mark.parametrize("pan", np.linspace(-1, 1, 9))
def test_pan_law_is_constant_power_with_unity_centre(pan: float) -> None:
    left, right = pan_gains(pan)
    assert math.isclose(left**2 + right**2, 2.0)
    assert left >= 0 and right >= 0
    assert (left > right) == (pan < 0) and (right > left) == (pan > 0)


def test_pan_law_end_points() -> None:
    assert pan_gains(0.0) == (1.0, 1.0)
    assert np.allclose(pan_gains(-1.0), (math.sqrt(2), 0.0))
    assert np.allclose(pan_gains(1.0), (0.0, math.sqrt(2)))


@pytest.mark.parametrize("bed", [None, Bed(BuiltinSound("ocean"))])
def test_sides_come_from_their_side_and_centre_from_both(bed: Bed | None) -> None:
    timeline = session(pans=(-0.6, 0.0, 0.6, 0.0), bed=bed)
    out = render(timeline, VOICE)
    assert out.shape == (timeline.total_samples, 2)
    left, centre, right, _ = speech_cues(timeline)
    assert channel_db(out, left, 0) >= channel_db(out, left, 1) + 6
    assert channel_db(out, right, 1) >= channel_db(out, right, 0) + 6
    assert np.array_equal(window(out, centre)[:, 0], window(out, centre)[:, 1])


# ---------------------------------------------------------------------------- tones and pacers


def test_work_cue_plays_its_start_tone_cut_and_faded_to_the_window() -> None:
    timeline = session()
    work = timeline.cues[-1]
    out = mix(timeline, VOICE)
    gong, played = sound_samples(BuiltinSound("gong")), window(out, work)
    fade = to_samples(CUT_FADE_S)
    assert np.array_equal(played[:-fade], gong[: work.n_samples - fade])
    assert played[-1] == 0.0 and not out[work.end_sample :].any()
    # The cut fades: no step bigger than the gong's own steps as it rings.
    assert np.abs(np.diff(played[-fade - 1 :])).max() <= np.abs(np.diff(gong)).max()


def test_work_cue_without_a_tone_is_silent() -> None:
    cue = WorkCue(100, SAMPLE_RATE, "plank")
    assert not mix(Timeline("T", "", 2 * SAMPLE_RATE, (cue,), ()), VOICE).any()


@pytest.mark.parametrize("style", ["tone", "breath", "bell", "none"])
def test_breath_cues_sound_in_their_pacer_style(style: PacerStyle) -> None:
    cue = BreathCue(1000, 3 * SAMPLE_RATE, "exhale", style)
    out = mix(Timeline("T", "", 4 * SAMPLE_RATE, (cue,), ()), VOICE)
    expected = breath_sound("exhale", cue.n_samples, style=style)
    assert np.array_equal(window(out, cue), expected)


# ---------------------------------------------------------------------------- the bed


@pytest.mark.parametrize("pans", [(0.0,), (-0.6, 0.6)])
@pytest.mark.parametrize("name", ["ocean", "rain", "drone"])
def test_bed_is_ducked_24_db_under_every_speech_cue(name: str, pans: tuple[float, ...]) -> None:
    # Loud between cues (6 dB under the voice), so that without ducking it would fail by far.
    timeline = session(pans=pans, bed=Bed(BuiltinSound(name), level_db=-6))
    bed, out = bed_alone(timeline), mix(timeline, VOICE)
    for cue in speech_cues(timeline):
        speech = VOICE.synthesize(cue.text or "")
        assert rms_db(window(bed, cue)) <= rms_db(speech) - BED_UNDER_SPEECH_DB + 0.01
        assert rms_db(window(out, cue)) >= rms_db(window(bed, cue)) + 20  # the mix itself


def test_bed_is_ducked_under_the_pacer_and_tones() -> None:
    timeline = session(bed=Bed(BuiltinSound("brown"), level_db=-6), pacer="tone")
    bed = bed_alone(timeline)
    heard = [c for c in timeline.cues if isinstance(c, BreathCue) and c.phase != "hold"]
    for cue in heard:
        pacer = breath_sound(cue.phase or "", cue.n_samples)
        assert rms_db(window(bed, cue)) <= rms_db(pacer) - BED_UNDER_CUE_DB + 0.01
    work = timeline.cues[-1]
    tone = window(mix(dataclasses.replace(timeline, bed=None), VOICE), work)
    assert rms_db(window(bed, work)) <= rms_db(tone) - BED_UNDER_CUE_DB + 0.01


@pytest.mark.parametrize("level_db", [-30.0, -18.0, -6.0])
def test_bed_sits_at_its_level_between_cues(level_db: float) -> None:
    timeline = session(bed=Bed(BuiltinSound("brown"), level_db=level_db))
    bed = bed_alone(timeline)
    reference = speech_reference_db(timeline)
    margin = to_samples(0.2)
    for cue in speech_cues(timeline):
        # The silent gap after each speech cue, past the release and before the next attack.
        lo = cue.end_sample + to_samples(DUCK_RELEASE_S) + margin
        hi = cue.end_sample + to_samples(GAP_S - DUCK_ATTACK_S) - margin
        assert abs(rms_db(bed[lo:hi]) - (reference + level_db)) <= 1.0


def test_bed_fades_in_and_out_and_ducks_on_smooth_ramps() -> None:
    timeline = session(bed=Bed(BuiltinSound("rain"), level_db=-6))
    bed, loop = bed_alone(timeline), tiled(bed_loop(BuiltinSound("rain")), timeline.total_samples)
    # The gain the bed was given, sample by sample, where the loop is loud enough to read it.
    readable = np.flatnonzero(np.abs(loop) > 10 ** (BED_RMS_DBFS / 20))
    gain = bed[readable] / loop[readable]
    full = np.percentile(gain, 99)
    slope = np.abs(np.diff(gain)) / np.diff(readable) / full
    # Ramps over 0.3 s or more move it by a few hundredths of a percent a sample; a step down
    # by the 18-38 dB these cues need would move it by most of its value in one.
    assert slope.max() < 1e-3
    assert bed[0] == 0.0 and bed[-1] == 0.0
    assert abs(rms_db(bed[: to_samples(0.5)])) > abs(rms_db(bed[to_samples(4) : to_samples(4.5)]))
    # Already fully down when each speech cue starts: the attack runs ahead of it.
    for cue in speech_cues(timeline):
        before = bed[cue.start_sample - to_samples(0.05) : cue.start_sample]
        assert rms_db(before) <= rms_db(window(bed, cue)) + 1.5


def test_bed_stays_down_between_sentences() -> None:
    first, second = TEXTS[2], TEXTS[3]
    a = Speech(to_samples(5), len(VOICE.synthesize(first)), first)
    # The pause a teacher takes between two sentences: shorter than a release and an attack.
    b = Speech(a.end_sample + to_samples(0.6), len(VOICE.synthesize(second)), second)
    timeline = Timeline(
        "T", "", b.end_sample + to_samples(10), (a, b), (), Bed(BuiltinSound("brown"), -6)
    )
    bed, loop = bed_alone(timeline), tiled(bed_loop(BuiltinSound("brown")), timeline.total_samples)

    def gain_db(lo: int, hi: int) -> float:
        return rms_db(bed[lo:hi]) - rms_db(loop[lo:hi])

    under_speech = max(gain_db(a.start_sample, a.end_sample), gain_db(b.start_sample, b.end_sample))
    assert gain_db(a.end_sample, b.start_sample) <= under_speech + 0.1
    assert gain_db(b.end_sample + to_samples(2), b.end_sample + to_samples(4)) > under_speech + 10


def test_no_clicks_at_any_cue_boundary() -> None:
    timeline = session(pans=(0.0, -0.6), bed=Bed(BuiltinSound("ocean"), level_db=-6), pacer="bell")
    out = render(timeline, VOICE)
    # The steepest the mix moves inside the speech (a 150 Hz voice with its harmonics): a click
    # at a boundary would jump by far more than that.
    inside = max(np.abs(np.diff(window(out, c), axis=0)).max() for c in speech_cues(timeline))
    for cue in timeline.cues:
        for edge in (cue.start_sample, cue.end_sample):
            around = out[max(0, edge - 64) : edge + 64]
            assert np.abs(np.diff(around, axis=0)).max() <= inside


# ---------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("pans", [(0.0,), (-0.6, 0.6)])
@pytest.mark.parametrize("bed", [None, Bed(BuiltinSound("rain"), level_db=-12)])
def test_render_meets_loudness_and_peak(pans: tuple[float, ...], bed: Bed | None) -> None:
    out = render(session(pans=pans, bed=bed), VOICE)
    assert abs(integrated_loudness(out) - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU
    assert true_peak_db(out) <= -1.5 + 1e-3
    assert np.abs(out).max() < 1.0


def test_loudness_and_peak_measure_both_channels() -> None:
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    mono = (0.25 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    both = np.stack([mono, mono], axis=1)
    # BS.1770 sums the channels' power: the same signal in both reads 3 dB louder.
    assert abs(integrated_loudness(both) - integrated_loudness(mono) - 3.0) <= 0.1
    assert true_peak_db(np.stack([0.5 * mono, mono], axis=1)) == pytest.approx(true_peak_db(mono))
    assert true_peak_db(np.stack([mono, 0.5 * mono], axis=1)) == pytest.approx(true_peak_db(mono))


def test_limiter_gives_both_channels_one_gain() -> None:
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    burst = np.where((t > 1) & (t < 1.2), 0.9, 0.1) * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([burst, 0.25 * burst], axis=1).astype(np.float32)
    limit(stereo, -6.0)
    assert true_peak_db(stereo) <= -6.0 + 1e-3
    loud = np.abs(stereo[:, 0]) > 1e-3
    # The image holds: right is still exactly a quarter of left, peaks included.
    assert np.allclose(stereo[loud, 1] / stereo[loud, 0], 0.25, rtol=1e-4)


def test_mixing_memory_is_the_output_buffer() -> None:
    cues = tuple(
        Speech(
            to_samples(s),
            len(VOICE.synthesize("Keep breathing.")),
            "Keep breathing.",
        )
        for s in range(1, 600, 10)
    )
    timeline = Timeline("Long", "", to_samples(600), cues, (), Bed(BuiltinSound("ocean")))
    bed_loop(BuiltinSound("ocean"))  # the cached loop is not the mix's memory
    tracemalloc.start()
    try:
        out = mix(timeline, VOICE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A full-length float64 array (8 bytes a sample) anywhere would add 200 MB.
    assert peak < out.nbytes + 30e6
