"""The in-process loudness meter, true-peak meter and limiter (audioguide.sound.meter and peaks).

The meters are checked against ffmpeg's ebur128 filter, the maintained reference the project
used until now; the limiter against the true-peak meter, and against itself fed in other blocks.
All audio is generated here.
"""

from __future__ import annotations

import functools
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import butter, sosfilt

from audioguide.audio import SAMPLE_RATE, Samples, resample
from audioguide.sound import meter as loudness
from audioguide.sound import peaks
from audioguide.sound.meter import Meter, clip_loudness, integrated_loudness
from audioguide.sound.peaks import Limiter, limit, true_peak_db

CEILING_DB = -1.5
LOOKAHEAD_SAMPLES = 221  # the default 5 ms look-ahead, the gain's ramp

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


# ---------------------------------------------------------------------------- signals


def _seconds(s: float) -> int:
    return round(s * SAMPLE_RATE)


def _faded(x: npt.NDArray[np.floating], fade_s: float = 0.01) -> Samples:
    """Raised-cosine edges: an abrupt start rings in any interpolator, differently in each."""
    n = _seconds(fade_s)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    ramp = ramp if x.ndim == 1 else ramp[:, None]
    out = np.array(x, dtype=np.float64)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out.astype(np.float32)


def _sine(hz: float, seconds: float, peak_dbfs: float, phase: float = 0.0) -> Samples:
    t = np.arange(_seconds(seconds)) / SAMPLE_RATE
    return (10 ** (peak_dbfs / 20) * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def _colored_noise(seconds: float, exponent: float, seed: int) -> Samples:
    """Noise with power falling as 1/f^exponent (1: pink, 2: brown), peak-normalised to 0.5."""
    n = _seconds(seconds)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    y = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return _faded(0.5 * y / np.abs(y).max())


@functools.cache
def _speech_like_cached(seconds: float, seed: int) -> Samples:
    rng = np.random.default_rng(seed)
    n = _seconds(seconds)
    t = np.arange(n) / SAMPLE_RATE
    pitch = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.3 * t)) / SAMPLE_RATE
    voiced = sum(np.sin(k * pitch + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 16))
    envelope = np.zeros(n)
    pos = 0
    while pos < n:  # syllables of 0.1-0.3 s, short gaps, and now and then a pause
        length = min(int(rng.uniform(0.1, 0.3) * SAMPLE_RATE), n - pos)
        envelope[pos : pos + length] = np.sin(np.linspace(0, np.pi, length)) ** 2 * rng.uniform(
            0.2, 1.0
        )
        pos += length + int(rng.exponential(0.08) * SAMPLE_RATE)
        if rng.random() < 0.1:
            pos += int(rng.uniform(0.3, 1.0) * SAMPLE_RATE)
    # Fricatives: noise mostly under 8 kHz, as in speech, trailing each syllable.
    noise = sosfilt(butter(4, 8000, fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
    hiss = noise * 0.5 * np.roll(envelope, _seconds(0.05)) ** 3
    y = (0.7 * voiced + hiss) * envelope
    out: Samples = (y / np.abs(y).max()).astype(np.float32)
    out.flags.writeable = False
    return out


def _speech_like(seconds: float, seed: int = 0, peak_dbfs: float = 0.0) -> Samples:
    """Voiced harmonics and hiss under syllable envelopes with gaps and pauses: speech's peaks
    (15-20 dB over its loudness) and its silences, with a sample peak of `peak_dbfs`."""
    out: Samples = _speech_like_cached(seconds, seed) * np.float32(10 ** (peak_dbfs / 20))
    return out


def _scaled_to_true_peak(x: Samples, target_db: float) -> Samples:
    return (x * np.float32(10 ** ((target_db - true_peak_db(x)) / 20))).astype(np.float32)


# ---------------------------------------------------------------------------- ffmpeg


@dataclass(frozen=True)
class _Ebur128:
    integrated: float  # the last lavfi.r128.I: 3 decimals
    summary_integrated: float  # the last "I: ... LUFS" of the log: 1 decimal
    max_momentary: float
    true_peak_db: float


def _ffmpeg_ebur128(samples: Samples) -> _Ebur128:
    """ffmpeg's ebur128 filter on `samples`, piped as f32le. The log's "I:" has one decimal;
    the same figures injected as frame metadata (printed to stdout) have three."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats",
        "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", str(channels), "-i", "pipe:0",
        "-af", "ebur128=framelog=verbose:metadata=1:peak=true,ametadata=print:file=-",
        "-f", "null", "-",
    ]  # fmt: skip
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    proc = subprocess.run(command, input=data, capture_output=True, check=True)
    meta, log = proc.stdout.decode(), proc.stderr.decode()

    def values(key: str) -> list[float]:
        return [float(v) for v in re.findall(rf"lavfi\.r128\.{key}=(\S+)", meta)]

    true_peak = values("true_peak")[-1]  # a running maximum, linear
    return _Ebur128(
        integrated=values("I")[-1],
        summary_integrated=float(re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", log)[-1]),
        max_momentary=max(values("M")),
        true_peak_db=20 * math.log10(true_peak) if true_peak > 0 else -math.inf,
    )


def _gated_stretches() -> Samples:
    """Loud, silent, quiet and near-silent stretches: the -70 LUFS gate drops the near-silence,
    the -10 LU gate the quiet tone; the -26 dBFS tone stays in."""
    return np.concatenate(
        [
            _faded(_sine(997, 2.0, -20)),
            np.zeros(_seconds(3.0), np.float32),
            _faded(_sine(440, 2.0, -45)),  # about 22 LU under the rest
            _faded(_sine(997, 2.0, -75)),  # under -70 LUFS
            _faded(_sine(2500, 2.0, -26)),
            np.zeros(_seconds(1.0), np.float32),
        ]
    )


def _different_channels() -> Samples:
    left = _colored_noise(6.0, 1.0, seed=3)
    right = _faded(_sine(3000, 6.0, -12))
    return np.stack([left, right], axis=1)


def _bass_and_1khz() -> Samples:
    """30 Hz (on the K-weighting's high-pass slope) and 1 kHz: the 48 kHz coefficients applied
    at 44.1 kHz read them 0.9 dB and 0.2 dB high."""
    return _faded(_sine(30, 6.0, -10) + _sine(1000, 6.0, -16))


LOUDNESS_SIGNALS: dict[str, Callable[[], Samples]] = {
    "sine 997 Hz -20 dBFS mono": lambda: _faded(_sine(997, 5.0, -20)),
    "sine 997 Hz -20 dBFS stereo": lambda: np.repeat(_faded(_sine(997, 5.0, -20))[:, None], 2, 1),
    "pink noise": lambda: _colored_noise(8.0, 1.0, seed=1),
    "brown noise": lambda: _colored_noise(8.0, 2.0, seed=2),
    "silences and quiet stretches": _gated_stretches,
    "stereo, different per channel": _different_channels,
    "30 Hz + 1 kHz at 44.1 kHz": _bass_and_1khz,
    "speech-like": lambda: _speech_like(10.0, peak_dbfs=-3.0),
}


@needs_ffmpeg
@pytest.mark.parametrize("name", LOUDNESS_SIGNALS)
def test_meter_agrees_with_ffmpeg_ebur128(name: str) -> None:
    samples = LOUDNESS_SIGNALS[name]()
    ffmpeg = _ffmpeg_ebur128(samples)
    meter = Meter(1 if samples.ndim == 1 else 2)
    meter.add(samples)
    assert abs(ffmpeg.summary_integrated - ffmpeg.integrated) <= 0.05  # the same figure, rounded
    # ffmpeg bins block loudness in 0.01 LU steps (rounding down): agreement is to ~0.01 LU.
    assert meter.integrated == pytest.approx(ffmpeg.integrated, abs=0.1)
    assert meter.integrated == pytest.approx(ffmpeg.summary_integrated, abs=0.1)
    assert meter.max_momentary == pytest.approx(ffmpeg.max_momentary, abs=0.1)


def test_sine_at_minus_20_dbfs_reads_minus_23_lufs_mono_and_minus_20_stereo() -> None:
    # BS.1770-4: a 997 Hz sine reads its RMS (-23 dB) in one channel; two channels add 3 dB.
    sine = _faded(_sine(997, 5.0, -20))
    assert integrated_loudness(sine) == pytest.approx(-23.0, abs=0.02)
    assert integrated_loudness(np.stack([sine, sine], axis=1)) == pytest.approx(-20.0, abs=0.02)


def test_k_weighting_derived_for_48_khz_is_the_published_table() -> None:
    # BS.1770-4 table 1 (pre-filter) and table 2 (RLB), 48 kHz.
    published = [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241,
         0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]  # fmt: skip
    np.testing.assert_allclose(loudness._k_weighting_sos(48_000), published, atol=1e-8)


@pytest.mark.parametrize("channels", [1, 2])
def test_the_k_weighting_is_scipys_filters_as_a_stream(channels: int) -> None:
    # The meter applies the two biquads as a convolution with their impulse response (no
    # scipy.signal in a build): against sosfilt on the same stream, cut into uneven blocks.
    rng = np.random.default_rng(7)
    samples = rng.standard_normal((channels, 300_000)) * 0.2
    samples[:, 100_000:100_050] = 0.9  # a click: the response's long tail, carried over cuts
    expected = sosfilt(loudness._K_WEIGHTING, samples, axis=-1)
    weighting, got, at = loudness.KWeighting(channels), [], 0
    for size in (1, 5000, 8191, 8192, 140_000, 138_616):
        got.append(weighting(samples[:, at : at + size]))
        at += size
    assert at == samples.shape[1]
    np.testing.assert_allclose(np.concatenate(got, axis=1), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 32000, 48000])
def test_resampling_is_scipys_resample_poly(rate: int) -> None:
    from math import gcd

    from scipy.signal import resample_poly

    rng = np.random.default_rng(rate)
    g = gcd(rate, SAMPLE_RATE)
    for n in (1, 7, 1000, 50_001):
        clip = (rng.standard_normal(n) * 0.3).astype(np.float32)
        expected = resample_poly(clip, SAMPLE_RATE // g, rate // g).astype(np.float32)
        got = resample(clip, rate)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7)


@needs_ffmpeg
def test_the_44k1_filters_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 30 Hz + 1 kHz test signal tells the filters apart: with the 48 kHz table used at
    44.1 kHz, the meter would miss ffmpeg by far more than the tolerance."""
    samples = _bass_and_1khz()
    reference = _ffmpeg_ebur128(samples).integrated
    monkeypatch.setattr(loudness, "_K_WEIGHTING", loudness._k_weighting_sos(48_000))
    assert abs(integrated_loudness(samples) - reference) > 0.3


def test_gates_drop_the_silence_and_the_quiet_stretch() -> None:
    """The quiet and the near-silent stretches count for nothing (as if they were silence), and
    without the gates they would pull the figure down: the test signal exercises both gates."""
    samples = _gated_stretches()
    meter = Meter()
    meter.add(samples)
    blocks = meter._block_energies()
    silenced = samples.copy()
    silenced[_seconds(5.0) : _seconds(9.0)] = 0  # the -45 and -75 dBFS tones
    assert meter.integrated == pytest.approx(integrated_loudness(silenced), abs=0.01)
    ungated = -0.691 + 10 * math.log10(float(blocks.mean()))
    absolute_gate_only = -0.691 + 10 * math.log10(float(blocks[blocks > 10**-6.93].mean()))
    assert ungated < absolute_gate_only - 1 < meter.integrated - 2


@pytest.mark.parametrize("block", [1, 1000, 4410, 100_000])
def test_meter_does_not_depend_on_the_blocks(block: int) -> None:
    samples = _speech_like(1.3 if block == 1 else 12.0, seed=4, peak_dbfs=-6.0)
    whole = Meter()
    whole.add(samples)
    meter = Meter()
    for start in range(0, len(samples), block):
        meter.add(samples[start : start + block])
    assert meter.integrated == pytest.approx(whole.integrated, abs=1e-6)
    assert meter.max_momentary == pytest.approx(whole.max_momentary, abs=1e-6)


def test_meter_stereo_in_uneven_blocks_and_reading_midway() -> None:
    """A reading midway covers everything fed so far; a block may be reused once added."""
    samples = _different_channels()
    whole = Meter(2)
    whole.add(samples)
    meter = Meter(2)
    rng = np.random.default_rng(5)
    start = 0
    while start < len(samples):
        size = int(rng.integers(0, 9000))
        block = samples[start : start + size].copy()
        meter.add(block)
        block[:] = 1.0  # the caller's buffer, refilled
        start += size
        if rng.random() < 0.1:
            prefix = samples[:start]
            assert meter.integrated == pytest.approx(integrated_loudness(prefix), abs=1e-6)
            assert meter.max_momentary == pytest.approx(_max_momentary(prefix), abs=1e-6)
    assert meter.integrated == pytest.approx(whole.integrated, abs=1e-6)


def _max_momentary(samples: Samples) -> float:
    meter = Meter(1 if samples.ndim == 1 else 2)
    meter.add(samples)
    return meter.max_momentary


def test_silence_and_too_short_read_minus_infinity() -> None:
    meter = Meter()
    assert meter.integrated == -math.inf
    assert meter.max_momentary == -math.inf
    meter.add(np.zeros(0, np.float32))
    meter.add(_sine(997, 0.39, -20))  # under one 400 ms block
    assert meter.integrated == -math.inf
    assert integrated_loudness(np.zeros(_seconds(2.0), np.float32)) == -math.inf
    assert integrated_loudness(_sine(997, 2.0, -90)) == -math.inf  # under the absolute gate


def test_clip_loudness_of_short_and_long_clips() -> None:
    short = _faded(_sine(997, 0.3, -20), fade_s=0.005)
    # Ungated over the whole clip: the fades and the filters' start cost a little.
    assert clip_loudness(short) == pytest.approx(-23.0, abs=0.3)
    stereo = np.stack([short, short], axis=1)
    assert clip_loudness(stereo) == pytest.approx(clip_loudness(short) + 3.01, abs=0.01)
    long = _speech_like(2.0, seed=6, peak_dbfs=-3.0)
    assert clip_loudness(long) == integrated_loudness(long)
    assert clip_loudness(np.zeros(1000, np.float32)) == -math.inf
    assert clip_loudness(np.zeros(0, np.float32)) == -math.inf


def test_meter_refuses_the_wrong_shape() -> None:
    with pytest.raises(ValueError):
        Meter(3)
    with pytest.raises(ValueError):
        Meter(2).add(np.zeros(100, np.float32))
    with pytest.raises(ValueError):
        Meter(1).add(np.zeros((100, 2), np.float32))


# ---------------------------------------------------------------------------- true peak


def _isp_sine() -> Samples:
    """fs/4 at 45 degrees: every sample is at 0.707 of the wave's peak, reached between them."""
    return _faded(_sine(SAMPLE_RATE / 4, 3.0, -1.0, phase=np.pi / 4))


TRUE_PEAK_SIGNALS: dict[str, Callable[[], Samples]] = {
    "inter-sample peak sine": _isp_sine,
    "sine 997 Hz -3 dBFS": lambda: _faded(_sine(997, 3.0, -3)),
    "pink noise": lambda: _colored_noise(5.0, 1.0, seed=7) * np.float32(1.6),
    "speech-like": lambda: _speech_like(6.0, seed=8, peak_dbfs=-2.0),
    "stereo, louder right": lambda: np.stack(
        [_faded(_sine(997, 3.0, -12)), _faded(_sine(5000, 3.0, -4, phase=0.3))], axis=1
    ),
}


@needs_ffmpeg
@pytest.mark.parametrize("name", TRUE_PEAK_SIGNALS)
def test_true_peak_agrees_with_ffmpeg(name: str) -> None:
    samples = TRUE_PEAK_SIGNALS[name]()
    assert true_peak_db(samples) == pytest.approx(_ffmpeg_ebur128(samples).true_peak_db, abs=0.2)


def test_inter_sample_peak_is_found() -> None:
    samples = _isp_sine()
    sample_peak_db = 20 * math.log10(float(np.abs(samples).max()))
    assert sample_peak_db == pytest.approx(-4.01, abs=0.01)
    # The Annex 2 phases fall 1/8 sample either side of the wave's peak: cos(pi/16) is -0.17 dB,
    # and the filter's gain at fs/4 about +0.1.
    assert true_peak_db(samples) == pytest.approx(-1.0, abs=0.15)


def _reference_true_peak_db(samples: Samples) -> float:
    """The annex 2 procedure written out plainly: zero-stuff by 4, the 48-tap filter (the phases
    interleaved), in float64, silence either side; the larger of that and the sample peak."""
    taps = np.zeros(48)
    for phase in range(4):
        taps[phase::4] = peaks._TRUE_PEAK_PHASES[phase]
    columns = samples.reshape(len(samples), -1).astype(np.float64)
    peak = float(np.abs(columns).max())
    for channel in columns.T:
        stuffed = np.zeros(4 * len(channel))
        stuffed[::4] = channel
        peak = max(peak, float(np.abs(np.convolve(stuffed, taps)).max()))
    return 20 * math.log10(peak)


def _peaks_on_the_seams() -> Samples:
    """Quiet noise with spikes either side of the internal chunk and stack boundaries, and at
    both ends of the array."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(3 * peaks.CHUNK_SAMPLES + 777) * 0.01).astype(np.float32)
    for at in (0, peaks.CHUNK_SAMPLES - 1, 2 * peaks.CHUNK_SAMPLES + 3, 2048 * 7 - 6):
        x[at : at + 2] = [0.6, 0.62]  # two like samples: a peak between them
    x[-1] = -0.3
    return x


@pytest.mark.parametrize(
    "samples",
    [
        _peaks_on_the_seams(),
        _isp_sine()[:50_000],
        _speech_like(3.0, seed=10, peak_dbfs=-1.0),
        np.array([0.5], np.float32),
        np.array([0.5, -0.5], np.float32),
    ],
    ids=["peaks on the seams", "isp sine", "speech-like", "one sample", "two samples"],
)
def test_true_peak_matches_the_plain_annex_2_computation(samples: Samples) -> None:
    assert true_peak_db(samples) == pytest.approx(_reference_true_peak_db(samples), abs=1e-4)


@pytest.mark.parametrize("chunk", [997, 4096, 88_200])
def test_true_peak_does_not_depend_on_the_blocks(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = _peaks_on_the_seams()
    stereo = np.stack([samples, np.roll(samples, 5000) * np.float32(0.9)], axis=1)
    expected = true_peak_db(samples), true_peak_db(stereo)
    monkeypatch.setattr(peaks, "CHUNK_SAMPLES", chunk)
    assert true_peak_db(samples) == pytest.approx(expected[0], abs=1e-5)
    assert true_peak_db(stereo) == pytest.approx(expected[1], abs=1e-5)


def test_true_peak_of_silence_and_of_nothing() -> None:
    assert true_peak_db(np.zeros(1000, np.float32)) == -math.inf
    assert true_peak_db(np.zeros(0, np.float32)) == -math.inf
    assert true_peak_db(np.zeros((10, 2), np.float32)) == -math.inf


# ---------------------------------------------------------------------------- limiter


def _transients() -> Samples:
    """Clicks, square-wave and Nyquist bursts and steps, well over the ceiling."""
    rng = np.random.default_rng(11)
    x = np.zeros(_seconds(3.0))
    clicks = rng.integers(0, len(x), 40)
    x[clicks] = rng.uniform(-2.0, 2.0, 40)
    t = np.arange(_seconds(0.2))
    start = _seconds(0.5)
    x[start : start + len(t)] += 1.5 * np.sign(np.sin(2 * np.pi * 700 * t / SAMPLE_RATE))
    start = _seconds(1.2)
    x[start : start + 300] += 1.8 * (-1.0) ** np.arange(300)  # the worst case for inter-samples
    x[_seconds(1.8) : _seconds(2.2)] += 1.3  # a step up and down
    x[_seconds(2.5) : _seconds(2.9)] += rng.standard_normal(_seconds(0.4)) * 0.8
    return x.astype(np.float32)


LOUD_SIGNALS: dict[str, Callable[[], Samples]] = {
    "speech-like, peaks +6 dBFS": lambda: _speech_like(8.0, seed=12, peak_dbfs=6.0),
    "transients": _transients,
    "inter-sample peak sine +4 dBTP": lambda: _isp_sine() * np.float32(10 ** (5 / 20)),
    "near-Nyquist sine +6 dBFS": lambda: _faded(_sine(20_000, 2.0, 6.0)),
    "stereo, speech left, transients right": lambda: np.stack(
        [_speech_like(3.0, seed=13, peak_dbfs=3.0), _transients()[: _seconds(3.0)]], axis=1
    ),
}


@pytest.mark.parametrize("name", LOUD_SIGNALS)
def test_limit_keeps_the_true_peak_under_the_ceiling(name: str) -> None:
    samples = LOUD_SIGNALS[name]()
    assert true_peak_db(samples) > CEILING_DB + 3
    out = limit(samples, CEILING_DB)
    assert out.shape == samples.shape
    assert out.dtype == np.float32
    peak = true_peak_db(out)
    assert peak <= CEILING_DB + 0.05  # measured: at most 0.0005 dB over
    assert peak > CEILING_DB - 0.5  # and it limits to the ceiling, not far under it


@pytest.mark.parametrize(
    "samples",
    [
        _scaled_to_true_peak(_speech_like(6.0, seed=14), CEILING_DB - 0.1),
        _scaled_to_true_peak(_colored_noise(3.0, 1.0, seed=15), CEILING_DB - 0.01),
        np.stack([_speech_like(3.0, seed=16, peak_dbfs=-4.0), _isp_sine() * np.float32(0.7)], 1),
        np.zeros(5000, np.float32),
    ],
    ids=["speech-like", "pink noise just under", "stereo", "silence"],
)
def test_limit_passes_material_under_the_ceiling_bit_identical(samples: Samples) -> None:
    assert true_peak_db(samples) <= CEILING_DB
    np.testing.assert_array_equal(limit(samples, CEILING_DB), samples)


def _applied_gain(samples: Samples) -> tuple[Samples, npt.NDArray[np.float64]]:
    """Limit `samples` (mono) with a faint constant beside it in a second channel: the limiter
    gives both channels the same gain, so the pilot's output over its input is that gain."""
    pilot = np.float32(1e-3)
    stereo = np.stack([samples, np.full(len(samples), pilot, np.float32)], axis=1)
    out = limit(stereo, CEILING_DB)
    return out[:, 0], out[:, 1].astype(np.float64) / pilot


def test_the_gain_ramps_and_releases_smoothly() -> None:
    """A 1 kHz tone that jumps from -20 dBFS to +6 and back: the gain falls linearly over the
    5 ms look-ahead, holds, and recovers with the 0.1 s time constant (to 1e-6 in 1.3 s)."""
    quiet, loud = _sine(1000, 1.0, -20), _sine(1000, 1.0, 6.0)
    samples = np.concatenate([quiet, loud, quiet, quiet])
    out, gain = _applied_gain(samples)
    assert true_peak_db(out) <= CEILING_DB + 0.05
    depth = 1 - float(gain.min())
    assert depth == pytest.approx(1 - 10 ** ((CEILING_DB - 6.0) / 20), abs=0.01)  # 0.58
    steps = np.abs(np.diff(gain))
    # Down from 1 to 0.42 in equal steps over the look-ahead: 0.58 / 221 = 0.0026 a sample.
    assert float(steps.max()) <= depth / LOOKAHEAD_SAMPLES + 1e-6
    release = steps[len(quiet) + len(loud) :]
    # Up at most depth / (0.1 s * 44100) = 1.3e-4 a sample.
    assert float(release.max()) <= depth / (0.1 * SAMPLE_RATE) + 1e-6
    assert np.all(gain <= 1.0)
    np.testing.assert_array_equal(gain[: len(quiet) - 2 * LOOKAHEAD_SAMPLES], 1.0)
    released = len(quiet) + len(loud) + _seconds(1.4)
    np.testing.assert_array_equal(gain[released:], 1.0)  # exactly unity again
    np.testing.assert_array_equal(out[released:], samples[released:])


def _streamed(
    samples: Samples, blocks: list[int], bounds: list[float | None] | None = None
) -> Samples:
    """`samples` through one Limiter in blocks of the given sizes, the delay taken out."""
    limiter = Limiter(CEILING_DB, 1 if samples.ndim == 1 else 2)
    outputs, start = [], 0
    for i, size in enumerate(blocks):
        bound = None if bounds is None else bounds[i]
        outputs.append(limiter.process(samples[start : start + size], peak_bound=bound))
        start += size
    assert start == len(samples)
    outputs.append(limiter.flush())
    return np.concatenate(outputs)[limiter.latency :]


def _cut(n: int, size: int) -> list[int]:
    return [min(size, n - start) for start in range(0, n, size)]


def _spikes_on_block_edges() -> Samples:
    """Speech-like with spikes over the ceiling right at and across the edges of the blocks the
    tests cut it into (multiples of 997 and 4096)."""
    x = _speech_like(4.0, seed=17, peak_dbfs=4.0).copy()
    for at in (997 * 20, 997 * 20 - 1, 4096 * 11, 4096 * 11 - 5, 4096 * 30 + 3, 88_200 - 2):
        x[at] = 1.9 if at % 2 else -1.9
    return x


@pytest.mark.parametrize("block", [997, 4096, 88_200])
def test_limiter_does_not_depend_on_the_blocks(block: int) -> None:
    samples = _spikes_on_block_edges()
    whole = limit(samples, CEILING_DB)
    np.testing.assert_allclose(_streamed(samples, _cut(len(samples), block)), whole, atol=1e-6)
    np.testing.assert_allclose(_streamed(samples, [len(samples)]), whole, atol=1e-6)


def test_limiter_in_tiny_and_uneven_blocks() -> None:
    samples = np.stack([_spikes_on_block_edges(), _speech_like(4.0, seed=18)], axis=1)
    samples = samples[: _seconds(1.5)]
    rng = np.random.default_rng(19)
    sizes: list[int] = []
    while sum(sizes) < len(samples):
        sizes.append(
            min(int(rng.choice([0, 1, 2, 11, 12, 13, 500, 5000])), len(samples) - sum(sizes))
        )
    np.testing.assert_allclose(_streamed(samples, sizes), limit(samples, CEILING_DB), atol=1e-6)


def test_peak_bound_on_quiet_blocks_gives_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loud speech, then quiet (a release still under way as it starts), then loud: the quiet
    blocks carry their true peak as the bound, and so skip the oversampling."""
    loud = _speech_like(2.0, seed=20, peak_dbfs=3.0)
    quiet = _scaled_to_true_peak(_speech_like(4.0, seed=21), CEILING_DB - 3)
    samples = np.concatenate([loud, quiet, loud])
    blocks = _cut(len(samples), 4410)
    bounds: list[float | None] = []
    start = 0
    for size in blocks:
        in_quiet = len(loud) <= start and start + size <= len(loud) + len(quiet)
        part = samples[start : start + size]
        bounds.append(10 ** (true_peak_db(part) / 20) if in_quiet else None)
        start += size
    assert sum(b is not None for b in bounds) >= 35

    measured: list[int] = []
    window_peaks = peaks._window_peaks

    def counting(signal: Samples, start: int, stop: int, floor: float) -> npt.NDArray[np.float32]:
        measured.append(stop - start)
        return window_peaks(signal, start, stop, floor)

    without = _streamed(samples, blocks)
    monkeypatch.setattr(peaks, "_window_peaks", counting)
    with_bounds = _streamed(samples, blocks, bounds)
    np.testing.assert_array_equal(with_bounds, without)
    # A bounded block oversamples only the 13 windows that read the block before it.
    unbounded = sum(size + 1 for size, b in zip(blocks, bounds, strict=True) if b is None)
    bounded = sum(b is not None for b in bounds)
    flushed = Limiter(CEILING_DB).latency + 1
    assert sum(measured) == unbounded + 13 * bounded + flushed


def test_latency_alignment_and_flush() -> None:
    limiter = Limiter(CEILING_DB)
    latency = limiter.latency
    assert latency == LOOKAHEAD_SAMPLES + 6 + 5  # look-ahead, guard, interpolation: 5.3 ms
    impulse = np.zeros(1000, np.float32)
    impulse[10] = 0.5
    first = limiter.process(impulse)
    assert first.shape == impulse.shape
    assert limiter.process(np.zeros(0, np.float32)).shape == (0,)
    stream = np.concatenate([first, limiter.flush()])
    assert len(stream) == len(impulse) + latency
    assert np.flatnonzero(stream).tolist() == [10 + latency]
    np.testing.assert_array_equal(limit(impulse, CEILING_DB), impulse)
    # After flush() the limiter starts a new stream from silence.
    np.testing.assert_array_equal(limiter.process(impulse), first)
    assert limit(np.zeros(0, np.float32), CEILING_DB).shape == (0,)
    short = np.array([1.5, -1.5, 1.5], np.float32)
    assert true_peak_db(limit(short, CEILING_DB)) <= CEILING_DB + 0.05


def test_stereo_gets_one_gain_from_the_louder_channel() -> None:
    loud = _speech_like(3.0, seed=22, peak_dbfs=5.0)
    faint = _sine(300, 3.0, -30)
    out = limit(np.stack([loud, faint], axis=1), CEILING_DB)
    mirrored = limit(np.stack([faint, loud], axis=1), CEILING_DB)
    np.testing.assert_array_equal(mirrored, out[:, ::-1])
    _, gain = _applied_gain(loud)
    ratio = out[:, 1].astype(np.float64) / np.where(faint == 0, 1, faint)
    audible = np.abs(faint) > 1e-3
    np.testing.assert_allclose(ratio[audible], gain[audible], rtol=1e-5)
    assert float(gain.min()) < 0.7  # the faint channel was turned down with the loud one


def test_limiter_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Limiter(CEILING_DB, channels=3)
    with pytest.raises(ValueError):
        Limiter(CEILING_DB, lookahead_s=0)
    with pytest.raises(ValueError):
        Limiter(CEILING_DB, channels=2).process(np.zeros(10, np.float32))


def test_other_lookahead_and_release_times() -> None:
    samples = _transients()
    for lookahead_s, release_s in [(0.001, 0.01), (0.02, 1.0), (0.005, 0.0001)]:
        limiter = Limiter(CEILING_DB, lookahead_s=lookahead_s, release_s=release_s)
        out = np.concatenate([limiter.process(samples), limiter.flush()])[limiter.latency :]
        assert true_peak_db(out) <= CEILING_DB + 0.05


# ---------------------------------------------------------------------------- real speech


@pytest.mark.integration
@needs_ffmpeg
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_real_speech_from_espeak(tmp_path: Path) -> None:
    from scipy.io import wavfile

    wav = tmp_path / "speech.wav"
    text = "Breathe in slowly through your nose. Hold it. And now let it go, all the way out."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    rate, pcm = wavfile.read(wav)
    speech = resample(pcm.astype(np.float64) / 32768.0, rate)
    assert len(speech) > _seconds(3.0)
    ffmpeg = _ffmpeg_ebur128(speech)
    assert integrated_loudness(speech) == pytest.approx(ffmpeg.integrated, abs=0.1)
    assert integrated_loudness(speech) == pytest.approx(ffmpeg.summary_integrated, abs=0.1)
    assert true_peak_db(speech) == pytest.approx(ffmpeg.true_peak_db, abs=0.2)
    loud = speech * np.float32(10 ** ((6.0 - true_peak_db(speech)) / 20))
    limited = limit(loud, CEILING_DB)
    assert true_peak_db(limited) <= CEILING_DB + 0.05
    assert _ffmpeg_ebur128(limited).true_peak_db <= CEILING_DB + 0.2
