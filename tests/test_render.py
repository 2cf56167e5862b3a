"""The mix, measured before encoding: levels set against the voice, panning, start tones and
pacers, the ducked bed, clicks, the streamed blocks and their memory."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest

from audioguide.audio import Samples, to_samples
from audioguide.cues import BreathCue, Cue, SoundCue, Speech, Timeline, WorkCue
from audioguide.model import Bed, BuiltinSound, PacerStyle
from audioguide.options import DEFAULT_BITRATE_KBPS, TARGET_LUFS
from audioguide.sound.beds import BED_RMS_DBFS, bed_loop
from audioguide.sound.ducking import (
    BED_UNDER_CUE_DB,
    BED_UNDER_SPEECH_DB,
    DUCK_ATTACK_S,
    DUCK_HOLD_S,
    DUCK_RELEASE_S,
)
from audioguide.sound.levels import (
    PACER_LEVEL_LU,
    SOUND_LEVEL_LU,
    SPEECH_PEAK_DBTP,
    TONE_LEVEL_LU,
    Clips,
    peak_ceiling_dbtp,
)
from audioguide.sound.meter import clip_loudness, integrated_loudness
from audioguide.sound.mix import BLOCK_SAMPLES, mix, pan_gains, render, render_blocks
from audioguide.sound.peaks import true_peak_db
from audioguide.sound.sounds import sound_samples, sound_step
from audioguide.voices.fake import FakeVoice
from audiotools import rms_db

GAP_S = 6.0
TEXTS = (
    "Welcome. Lie on your back.",
    "quiet: Press your lower back into the floor.",
    "Slowly release.",
    "loud: Now the other side.",
)


class UnevenVoice(FakeVoice):
    """The fake voice, 20 dB quieter or 12 dB louder (clipping) for some texts: TTS lines differ."""

    def synthesize(self, text: str) -> Samples:
        clip = super().synthesize(text)
        if text.startswith("quiet"):
            return clip * np.float32(0.1)
        if text.startswith("loud"):
            return np.clip(clip * np.float32(4.0), -1, 1)
        return clip


VOICE = UnevenVoice()


def session(
    pans: tuple[float, ...] = (0.0,), bed: Bed | None = None, pacer: PacerStyle = "breath"
) -> Timeline:
    """Speech cues with long gaps between them, a breath cycle after each, a bell, and a work
    period whose start tone (a 4 s gong) is cut short by its 1 s window."""
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
    cues.append(SoundCue(t, to_samples(2.5), BuiltinSound("bell")))
    t += to_samples(2.5 + GAP_S)
    cues.append(WorkCue(t, to_samples(1.0), "squats", BuiltinSound("gong")))
    t += to_samples(GAP_S)
    return Timeline("Test", "", t, tuple(cues), (), bed)


def speech_cues(timeline: Timeline) -> list[Speech]:
    return [c for c in timeline.cues if isinstance(c, Speech)]


def window(samples: Samples, cue: Cue) -> Samples:
    return samples[cue.start_sample : cue.end_sample]


def bed_alone(timeline: Timeline) -> Samples:
    """What the bed adds to the mix: the same timeline mixed with and without it."""
    return mix(timeline, VOICE) - mix(dataclasses.replace(timeline, bed=None), VOICE)


def tiled(loop: Samples, n: int) -> Samples:
    return np.tile(loop, n // len(loop) + 1)[:n]


def channel_db(samples: Samples, cue: Cue, channel: int) -> float:
    return rms_db(window(samples, cue)[:, channel])


# ---------------------------------------------------------------------------- levels


def test_every_spoken_clip_is_levelled_to_the_target_with_its_peaks_limited() -> None:
    out = mix(session(), VOICE)
    raw = [clip_loudness(VOICE.synthesize(c.text)) for c in speech_cues(session())]
    assert max(raw) - min(raw) > 20  # as uneven as TTS gets, and worse
    for cue in speech_cues(session()):
        assert abs(clip_loudness(window(out, cue)) - TARGET_LUFS) <= 0.2, cue.text
        assert true_peak_db(window(out, cue)) <= SPEECH_PEAK_DBTP + 0.05


@pytest.mark.parametrize("target", [-16.0, -19.0, -23.0])
def test_the_voice_measures_the_target_with_or_without_a_bed(target: float) -> None:
    for bed in (None, Bed(BuiltinSound("rain"), level_db=-6)):
        timeline = session(bed=bed)
        out = render(timeline, VOICE, target_lufs=target)
        speech = np.concatenate([window(out, c) for c in speech_cues(timeline)])
        assert abs(integrated_loudness(speech) - target) <= 0.3
        assert true_peak_db(out) <= peak_ceiling_dbtp(DEFAULT_BITRATE_KBPS, 1) + 0.05


def test_sounds_tones_and_the_pacer_sit_at_their_levels_under_the_voice() -> None:
    timeline = session(pacer="tone")
    out = mix(timeline, VOICE)
    bell = next(c for c in timeline.cues if isinstance(c, SoundCue))
    assert abs(clip_loudness(window(out, bell)) - (TARGET_LUFS + SOUND_LEVEL_LU)) <= 0.2
    work = next(c for c in timeline.cues if isinstance(c, WorkCue))
    gong = Clips(VOICE).of(dataclasses.replace(work, n_samples=to_samples(4.0))).samples
    assert abs(clip_loudness(gong) - (TARGET_LUFS + TONE_LEVEL_LU)) <= 0.2
    inhale = next(c for c in timeline.cues if isinstance(c, BreathCue))
    # The pacer is levelled on a 4-second inhale; this one lasts 3.
    assert abs(clip_loudness(window(out, inhale)) - (TARGET_LUFS + PACER_LEVEL_LU)) <= 1.0


# ---------------------------------------------------------------------------- channels and pan


def test_mono_unless_a_cue_is_panned() -> None:
    assert render(session(), VOICE).ndim == 1
    assert render(session(pans=(0.0, -0.6)), VOICE).shape[1] == 2
    assert render(session(bed=Bed(BuiltinSound("rain"))), VOICE).ndim == 1


@pytest.mark.parametrize("pan", np.linspace(-1, 1, 9))
def test_pan_law_is_constant_power(pan: float) -> None:
    left, right = pan_gains(pan)
    assert left**2 + right**2 == pytest.approx(1.0)
    assert (left >= right) == (pan <= 0)


def test_pan_law_end_points() -> None:
    assert pan_gains(0.0) == (math.sqrt(0.5), math.sqrt(0.5))
    assert pan_gains(-1.0) == pytest.approx((1.0, 0.0))
    assert pan_gains(1.0) == pytest.approx((0.0, 1.0))


def test_a_stereo_track_is_as_loud_as_a_mono_one() -> None:
    mono, stereo = render(session(), VOICE), render(session(pans=(0.0, -0.6, 0.6)), VOICE)
    assert integrated_loudness(stereo) == pytest.approx(integrated_loudness(mono), abs=0.1)


@pytest.mark.parametrize("bed", [None, Bed(BuiltinSound("ocean"))])
def test_sides_come_from_their_side_and_centre_from_both(bed: Bed | None) -> None:
    timeline = session(pans=(0.0, -0.6, 0.6), bed=bed)
    out = mix(timeline, VOICE)
    centre, left, right = speech_cues(timeline)[:3]
    assert abs(channel_db(out, centre, 0) - channel_db(out, centre, 1)) < 0.5
    assert channel_db(out, left, 0) - channel_db(out, left, 1) > 8
    assert channel_db(out, right, 1) - channel_db(out, right, 0) > 8


def test_work_cue_plays_its_start_tone_cut_and_faded_to_the_window() -> None:
    timeline = session()
    work = timeline.cues[-1]
    played = window(mix(timeline, VOICE), work)
    assert played[0] == 0.0 and played[-1] == 0.0  # faded in by the sound, out by the cut
    assert rms_db(played[: to_samples(0.5)]) > -60
    assert not mix(dataclasses.replace(timeline, cues=(WorkCue(0, 100, "plank"),)), VOICE).any()


# ---------------------------------------------------------------------------- the bed


@pytest.mark.parametrize("pans", [(0.0,), (-0.6, 0.6)])
@pytest.mark.parametrize("name", ["ocean", "rain", "drone"])
def test_bed_is_ducked_24_db_under_every_speech_cue(name: str, pans: tuple[float, ...]) -> None:
    # Loud between cues (6 dB under the voice), so that without ducking it would fail by far.
    timeline = session(pans=pans, bed=Bed(BuiltinSound(name), level_db=-6))
    bed, out = bed_alone(timeline), mix(timeline, VOICE)
    speech = mix(dataclasses.replace(timeline, bed=None), VOICE)
    # In loudness (LU, both ears together), as the levels are set: a drone is bass, which
    # counts for less than it measures in RMS.
    for cue in speech_cues(timeline):
        spoken, under = window(speech, cue), window(bed, cue)
        assert clip_loudness(under) <= clip_loudness(spoken) - BED_UNDER_SPEECH_DB + 0.5
        assert clip_loudness(window(out, cue)) >= clip_loudness(window(bed, cue)) + 20


def test_bed_is_ducked_under_the_pacer_and_tones() -> None:
    timeline = session(bed=Bed(BuiltinSound("brown"), level_db=-6), pacer="tone")
    bed, alone = bed_alone(timeline), mix(dataclasses.replace(timeline, bed=None), VOICE)
    heard = [c for c in timeline.cues if isinstance(c, BreathCue) and c.phase != "hold"]
    for cue in [*heard, timeline.cues[-1]]:
        sounding = window(alone, cue)
        sounding = sounding[: int(np.flatnonzero(sounding)[-1]) + 1]
        under = window(bed, cue)[: len(sounding)]
        # The pacer is set on a 4-second inhale (1 LU from this one) and the duck on its level.
        assert clip_loudness(under) <= clip_loudness(sounding) - BED_UNDER_CUE_DB + 1.5


@pytest.mark.parametrize("level_db", [-30.0, -18.0, -6.0])
def test_bed_sits_at_its_level_against_the_voice_between_cues(level_db: float) -> None:
    timeline = session(bed=Bed(BuiltinSound("brown"), level_db=level_db))
    bed = bed_alone(timeline)
    margin = to_samples(0.2)
    for cue in speech_cues(timeline):
        # The silent gap after each speech cue, past the release and before the next attack.
        lo = cue.end_sample + to_samples(DUCK_RELEASE_S) + margin
        hi = cue.end_sample + to_samples(GAP_S - DUCK_ATTACK_S) - margin
        assert abs(clip_loudness(bed[lo:hi]) - (TARGET_LUFS + level_db)) <= 1.0


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
    # Already fully down when each speech cue starts: the attack runs ahead of it. In gain (the
    # bed against its loop), which inside the cue follows the loop's own loudness.
    for cue in speech_cues(timeline):
        before = slice(cue.start_sample - to_samples(0.05), cue.start_sample)
        start = slice(cue.start_sample, cue.start_sample + to_samples(0.05))
        assert rms_db(bed[before]) - rms_db(loop[before]) <= (
            rms_db(bed[start]) - rms_db(loop[start]) + 1.5
        )


def test_bed_stays_down_between_sentences() -> None:
    first, second = TEXTS[2], TEXTS[0]
    a = Speech(to_samples(5), len(VOICE.synthesize(first)), first)
    # The pause a teacher takes between two sentences: up to DUCK_HOLD_S.
    b = Speech(a.end_sample + to_samples(DUCK_HOLD_S), len(VOICE.synthesize(second)), second)
    timeline = Timeline(
        "T", "", b.end_sample + to_samples(10), (a, b), (), Bed(BuiltinSound("brown"), -6)
    )
    bed = bed_alone(timeline)

    def loudest(lo: int, hi: int) -> float:
        size = to_samples(0.4)
        return max(clip_loudness(bed[i : i + size]) for i in range(lo, hi - size, size // 4))

    under_speech = max(loudest(a.start_sample, a.end_sample), loudest(b.start_sample, b.end_sample))
    assert loudest(a.end_sample, b.start_sample) <= under_speech + 0.5
    after = loudest(b.end_sample + to_samples(2), b.end_sample + to_samples(4))
    assert after > under_speech + 5


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


def test_spoken_clips_start_and_end_at_zero() -> None:
    clips = Clips(VOICE)
    for text in TEXTS:
        samples = clips.speech(text).samples
        assert samples[0] == 0.0 and samples[-1] == 0.0
        # Faded over the first 15 ms, not cut in at full level after a few samples.
        assert np.abs(samples[:100]).max() < 0.1 * np.abs(samples).max()


class LateVoice(FakeVoice):
    """The fake voice after an engine's lead-in: 10 ms of digital zero (espeak-ng), then 7 ms of
    breath noise at -50 dB (Piper)."""

    def synthesize(self, text: str) -> Samples:
        clip = super().synthesize(text)
        noise = np.random.default_rng(1).normal(0, 10 ** (-50 / 20), to_samples(0.007))
        lead = np.concatenate([np.zeros(to_samples(0.010)), noise]).astype(np.float32)
        return np.concatenate([lead, clip * np.float32(0.05 / np.abs(clip).max())])


@pytest.mark.parametrize("voice", [VOICE, LateVoice()], ids=["fake", "late"])
def test_a_spoken_clip_starts_on_its_mark(voice: FakeVoice) -> None:
    for text in TEXTS:
        samples = Clips(voice).speech(text).samples
        onset = np.flatnonzero(np.abs(samples) >= np.abs(samples).max() * 10 ** (-40 / 20))[0]
        assert onset < to_samples(0.005), text


def test_a_bell_rings_on_under_what_follows_and_out_before_the_track_ends() -> None:
    bell = BuiltinSound("bell")
    step, ring = sound_step(bell), len(sound_samples(bell))
    said = Speech(to_samples(0.5) + step, len(VOICE.synthesize(TEXTS[0])), TEXTS[0])
    closing = SoundCue(said.end_sample + to_samples(1.0), step, bell)
    cues = (SoundCue(to_samples(0.5), step, bell), said, closing)
    timeline = Timeline("T", "", closing.end_sample + to_samples(1.5), cues, (), None)
    out = mix(timeline, VOICE)
    alone = mix(dataclasses.replace(timeline, cues=cues[:1]), VOICE)
    # Under the spoken line, the first bell is still there, quietly; the closing bell's ring
    # (its step and the 1.5 s a track ends on) is whole, and the track ends at 0.
    under = window(alone, said)
    assert np.abs(under).max() > 0 and clip_loudness(under) < TARGET_LUFS - 20
    assert np.array_equal(out[closing.start_sample :], mix_clip(closing, VOICE))
    assert closing.start_sample + ring == timeline.total_samples and out[-1] == 0.0


def mix_clip(cue: SoundCue, voice: FakeVoice) -> Samples:
    return Clips(voice).of(cue).samples


# ---------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("extra", [0, 1, BLOCK_SAMPLES - 1, BLOCK_SAMPLES + 7])
def test_the_blocks_add_up_to_the_plan_exactly(extra: int) -> None:
    timeline = session()
    timeline = dataclasses.replace(timeline, total_samples=timeline.total_samples + extra)
    blocks = list(render_blocks(timeline, VOICE))
    assert sum(len(b) for b in blocks) == timeline.total_samples
    assert all(len(b) <= BLOCK_SAMPLES + 1000 for b in blocks)


def test_the_limiter_only_meets_what_sounds_add_together() -> None:
    # Alone, every clip is under the ceiling, so the streamed mix is the mix itself.
    timeline = session(bed=Bed(BuiltinSound("rain"), level_db=-18))
    assert np.allclose(render(timeline, VOICE), mix(timeline, VOICE), atol=1e-6)


def test_rendering_memory_does_not_grow_with_the_session() -> None:
    def peak(minutes: int) -> int:
        cues = tuple(
            Speech(to_samples(s), len(VOICE.synthesize(TEXTS[s % 3])), TEXTS[s % 3])
            for s in range(1, minutes * 60 - 5, 10)
        )
        timeline = Timeline(
            "Long", "", to_samples(minutes * 60), cues, (), Bed(BuiltinSound("ocean"))
        )
        bed_loop(BuiltinSound("ocean"))  # the cached loop is not the mix's memory
        tracemalloc.start()
        try:
            for _ in render_blocks(timeline, VOICE):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak(2), peak(20)
    # Twenty minutes as a whole would be 212 MB of float32 alone.
    assert long < 40e6 and long < 1.5 * short + 5e6
