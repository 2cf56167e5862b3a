from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from click.testing import CliRunner
from scipy.signal import welch

from audioguide.audio import SAMPLE_RATE
from audioguide.cli import cli
from audioguide.errors import SoundError
from audioguide.language.reader import resolve_sound
from audioguide.model import BUILTIN_BEDS, BuiltinSound, SoundFile, SoundRef
from audioguide.sound.beds import (
    BED_CROSSFADE_S,
    BED_LOOP_S,
    BED_RMS_DBFS,
    DRONE_PARTIALS,
    OCEAN_SWELL_S,
    _loop,
    bed_loop,
)
from audiotools import rms_db
from test_sounds import write_wav

Floats = npt.NDArray[np.float64]


def resolve_bed(name: str, base_dir: Path) -> SoundRef:
    return resolve_sound(name, base_dir, None, builtins=BUILTIN_BEDS, what="bed")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    _loop.cache_clear()


def seam(loop: npt.NDArray[np.floating], window: int = 256) -> tuple[float, float]:
    """The loop tiled twice, measured at the join against everywhere else in the loop: (the jump
    between the two samples that meet there / the largest jump elsewhere, the energy of the
    second difference (a high-pass that a click or a seam lights up) in a window centred on the
    join / the largest in any window elsewhere). Both stay under 1 for a seamless loop."""
    n = len(loop)
    twice = np.concatenate([loop, loop]).astype(np.float64)
    jumps = np.abs(np.diff(twice))
    hiss = np.diff(twice, 2) ** 2  # hiss[i] spans twice[i : i + 3]
    at_join = hiss[n - 1 - window // 2 : n - 1 + window // 2].sum()
    elsewhere = hiss[: (n - 2) // window * window].reshape(-1, window).sum(axis=1)
    return float(jumps[n - 1] / jumps[: n - 1].max()), float(at_join / elsewhere.max())


def envelope(x: npt.NDArray[np.floating], frame_s: float = 0.25) -> Floats:
    """RMS in consecutive frames."""
    frame = round(frame_s * SAMPLE_RATE)
    frames = x[: len(x) // frame * frame].astype(np.float64).reshape(-1, frame)
    out: Floats = np.sqrt(np.mean(frames**2, axis=1))
    return out


def modulation_hz(env: Floats, frame_s: float = 0.25) -> float:
    """The strongest rate at which an envelope rises and falls."""
    spectrum = np.abs(np.fft.rfft(env - env.mean()))
    return float(np.fft.rfftfreq(len(env), frame_s)[spectrum.argmax()])


def centroid_hz(x: npt.NDArray[np.floating]) -> float:
    freqs, power = welch(x.astype(np.float64), SAMPLE_RATE, nperseg=8192)
    return float((freqs * power).sum() / power.sum())


# ---------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", BUILTIN_BEDS)
def test_builtin_bed_is_a_deterministic_read_only_loop_at_its_level(name: str) -> None:
    loop = bed_loop(BuiltinSound(name))
    assert loop.dtype == np.float32 and loop.ndim == 1
    assert len(loop) == round(BED_LOOP_S * SAMPLE_RATE)
    assert abs(rms_db(loop) - BED_RMS_DBFS) < 0.01
    assert np.abs(loop).max() < 0.5
    assert bed_loop(BuiltinSound(name)) is loop  # cached
    with pytest.raises(ValueError, match="read-only"):
        loop[0] = 0.0
    _loop.cache_clear()
    assert np.array_equal(bed_loop(BuiltinSound(name)), loop)  # bit-identical when made again


@pytest.mark.parametrize("name", BUILTIN_BEDS)
def test_builtin_bed_joins_end_to_start_without_a_seam(name: str) -> None:
    jump, burst = seam(bed_loop(BuiltinSound(name)))
    assert jump < 1.0 and burst < 1.0


def test_brown_noise_falls_6_db_an_octave_and_has_no_dc() -> None:
    loop = bed_loop(BuiltinSound("brown"))
    freqs, power = welch(loop.astype(np.float64), SAMPLE_RATE, nperseg=8192)
    band = (freqs > 100) & (freqs < 5000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert -2.1 < slope < -1.9  # 1/f^2 power
    # DC-free, and rolled off below 20 Hz rather than rising without end as 1/f^2 would.
    assert abs(float(loop.astype(np.float64).mean())) < 1e-6
    whole = np.abs(np.fft.rfft(loop.astype(np.float64))) ** 2
    assert whole[: round(5 * BED_LOOP_S)].sum() < 0.01 * whole.sum()  # under 5 Hz


def test_drone_is_its_chord_and_beats_slowly() -> None:
    loop = bed_loop(BuiltinSound("drone")).astype(np.float64)
    power = np.abs(np.fft.rfft(loop)) ** 2
    # One loop is a whole number of cycles of every partial: each falls exactly on an FFT bin
    # (bin k is k / BED_LOOP_S Hz), with nothing leaking around it.
    bins = [round(hz * BED_LOOP_S) for hz, _ in DRONE_PARTIALS]
    assert power[bins].sum() > 0.9999 * power.sum()
    assert int(power.argmax()) == round(110.0 * BED_LOOP_S)
    env = envelope(loop)
    assert 20 * np.log10(env.max() / env.min()) > 6
    assert modulation_hz(env) < 0.5


def test_ocean_is_low_and_swells_once_a_wave() -> None:
    loop = bed_loop(BuiltinSound("ocean"))
    assert centroid_hz(loop) < 400
    env = envelope(loop)
    assert abs(modulation_hz(env) - 1 / OCEAN_SWELL_S) < 0.01
    assert 20 * np.log10(np.percentile(env, 95) / np.percentile(env, 5)) > 8


@pytest.mark.parametrize("name", ["ocean", "rain", "brown"])
def test_no_wave_or_gust_comes_back_within_a_minute(name: str) -> None:
    loop = bed_loop(BuiltinSound(name))
    assert len(loop) >= 60 * SAMPLE_RATE  # the loop itself repeats no sooner
    env = envelope(loop)
    env -= env.mean()
    around = np.correlate(np.tile(env, 2), env, "valid")[: len(env)] / (env @ env)
    lags = np.arange(len(around)) * 0.25
    # Waves come at an uneven pace, each its own height and shape: one wave and the next are
    # alike (0.57 for the ocean, a wave later) but none is the same (it was 0.93 at 7.5 s).
    assert around[(lags >= 3) & (lags <= 60)].max() < 0.7


def test_rain_is_a_bright_hiss_without_droplet_clicks() -> None:
    loop = bed_loop(BuiltinSound("rain"))
    assert 1500 < centroid_hz(loop) < 5000
    # Its texture moves, but no 10 ms stretch stands out from the rest like a drop's click.
    env = envelope(loop, frame_s=0.01)
    assert 20 * np.log10(env.max()) < BED_RMS_DBFS + 6
    assert 20 * np.log10(env.std() / env.mean()) > -20  # not a flat, static hiss either


# ---------------------------------------------------------------------------- files


def drifting_tone(seconds: float, rate: int) -> Floats:
    """A 200 Hz tone over a slow swell that ends far from where it started: tiled as it is, the
    file jumps at the join."""
    t = np.arange(round(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * 200 * t) + 0.4 * np.sin(2 * np.pi * 0.37 * t + 0.5)


def test_user_wav_loops_with_a_crossfade(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "sea.wav", drifting_tone(12.0, 22_050), 22_050, 2, channels=2)
    key = resolve_bed("sea.wav", tmp_path)
    loop = bed_loop(key)
    assert key == SoundFile(wav.resolve())
    assert loop.dtype == np.float32 and loop.ndim == 1 and not loop.flags.writeable
    assert len(loop) == round((12.0 - BED_CROSSFADE_S) * SAMPLE_RATE)
    assert abs(rms_db(loop) - BED_RMS_DBFS) < 0.01
    raw = drifting_tone(12.0, SAMPLE_RATE)
    assert min(seam(raw)) > 5  # the file as it is would click at every repeat
    assert max(seam(loop)) < 1.0
    # Past the crossfade, the loop is the file itself (scaled).
    middle = slice(round(BED_CROSSFADE_S * SAMPLE_RATE), round(5 * SAMPLE_RATE))
    scale = np.dot(loop[middle], raw[middle]) / np.dot(raw[middle], raw[middle])
    assert np.allclose(loop[middle], scale * raw[middle], atol=1e-3 * scale)


def test_short_file_gets_a_short_crossfade(tmp_path: Path) -> None:
    write_wav(tmp_path / "short.wav", drifting_tone(4.0, SAMPLE_RATE), SAMPLE_RATE, 2)
    loop = bed_loop(resolve_bed("short.wav", tmp_path))
    assert len(loop) == 3 * SAMPLE_RATE  # a quarter of the file, not 3 s, is crossfaded
    assert max(seam(loop)) < 1.0


def test_file_too_short_to_loop_is_refused_in_one_line(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "blip.wav", drifting_tone(1.5, SAMPLE_RATE), SAMPLE_RATE, 2)
    with pytest.raises(SoundError) as e:
        bed_loop(resolve_bed("blip.wav", tmp_path))
    assert str(e.value) == (
        f"bed file {wav.resolve()} is 1.5 s long, too short to loop: use a recording of at least "
        "2 s (a minute or more repeats less audibly)"
    )


def test_silent_file_is_refused(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "quiet.wav", np.zeros(5 * SAMPLE_RATE), SAMPLE_RATE, 2)
    with pytest.raises(SoundError) as e:
        bed_loop(resolve_bed("quiet.wav", tmp_path))
    assert str(e.value) == f"bed file {wav.resolve()} is silent; pick a recording with sound in it"


def test_bed_may_be_longer_than_a_sound(tmp_path: Path) -> None:
    # 11 minutes at 1 kHz, 8-bit: past the 10 minutes a sound may last, small on disk.
    write_wav(tmp_path / "long.wav", drifting_tone(660, 1000), 1000, 1)
    assert len(bed_loop(resolve_bed("long.wav", tmp_path))) > 600 * SAMPLE_RATE


def test_resolve_bed_names() -> None:
    assert [resolve_bed(n, Path("/nowhere")) for n in BUILTIN_BEDS] == [
        BuiltinSound(n) for n in BUILTIN_BEDS
    ]
    assert resolve_bed(" Rain ", Path("/nowhere")) == BuiltinSound("rain")
    with pytest.raises(SoundError) as e:
        resolve_bed("rian", Path("/nowhere"))
    assert str(e.value) == (
        "unknown bed 'rian': did you mean 'rain'? Built-in beds: rain, ocean, brown, drone; or "
        "give a .wav file path"
    )
    with pytest.raises(SoundError, match=r"^bed file not found: .*sea\.wav; paths are relative"):
        resolve_bed("sea.wav", Path("/nowhere"))


def test_check_refuses_a_bed_file_that_build_would(tmp_path: Path) -> None:
    write_wav(tmp_path / "blip.wav", drifting_tone(1.0, SAMPLE_RATE), SAMPLE_RATE, 2)
    routine = tmp_path / "r.yaml"
    routine.write_text("title: T\nbed: blip.wav\nsteps: [Hello.]\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(routine), "--voice", "fake"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {routine}:2: bed file {tmp_path.resolve() / 'blip.wav'} is 1.0 s long, too short "
        "to loop: use a recording of at least 2 s (a minute or more repeats less audibly)\n"
    )
    by_option = CliRunner().invoke(
        cli, ["plan", str(routine), "--voice", "fake", "--bed", str(tmp_path / "blip.wav")]
    )
    assert by_option.exit_code == 1
    assert by_option.output.startswith("Error: --bed: bed file ")


def test_a_missing_bed_option_file_is_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routine = tmp_path / "r.yaml"
    routine.write_text("title: T\nsteps: [Hello.]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", str(routine), "--voice", "fake", "--bed", "x.wav"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: --bed: bed file not found: {tmp_path.resolve() / 'x.wav'}; paths are relative "
        f"to {tmp_path.resolve()}\n"
    )
