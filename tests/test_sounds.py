from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from audioguide.audio import SAMPLE_RATE, Samples
from audioguide.errors import SoundError
from audioguide.language import reader
from audioguide.model import BUILTIN_SOUNDS, PACER_STYLES, BuiltinSound, SoundFile, SoundRef
from audioguide.sound.sounds import (
    BREATH_LEVEL_DBFS,
    PACER_BELL_HZ,
    RING_OUT_DB,
    STEP_S,
    _samples,
    breath_sound,
    sound_samples,
    sound_step,
)


def resolve_sound(ref: str, base_dir: Path, allowed: tuple[Path, ...] | None = None) -> SoundRef:
    return reader.resolve_sound(ref, base_dir, allowed, builtins=BUILTIN_SOUNDS)


EXPECTED_LENGTH_S = {"bell": 4.0, "chime": 3.0, "gong": 5.5, "beep": 0.25, "tick": 0.05}


def dbfs(x: npt.NDArray[np.floating]) -> float:
    return float(20 * np.log10(np.abs(x).max()))


def rms_db(x: npt.NDArray[np.floating]) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def crossing_hz(x: npt.NDArray[np.floating]) -> float:
    """Frequency of a tone-like signal from its zero-crossing rate."""
    crossings = np.count_nonzero(np.diff(np.signbit(x)))
    return crossings / 2 / (len(x) / SAMPLE_RATE)


def spectral_peak_hz(x: npt.NDArray[np.floating], rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def write_wav(
    path: Path, signal: npt.NDArray[np.float64], rate: int, width: int, channels: int = 1
) -> Path:
    """Write `signal` (float in [-1, 1]) as integer PCM with the stdlib, duplicated per channel."""
    frames = np.repeat(signal, channels)
    if width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    else:
        ints = np.round(frames * (2 ** (8 * width - 1) - 1)).astype("<i4")
        # Little-endian int32 bytes, keeping the low `width` bytes of each sample.
        raw = ints.view(np.uint8).reshape(-1, 4)[:, :width].tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # File sounds are cached by path, and each test's tmp_path is new, but clear anyway so a test
    # measures a fresh decode, never a clip another test left behind.
    _samples.cache_clear()


# ---------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", BUILTIN_SOUNDS)
def test_builtin_length_peak_and_edges(name: str) -> None:
    clip = sound_samples(BuiltinSound(name))
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert len(clip) == round(EXPECTED_LENGTH_S[name] * SAMPLE_RATE)
    assert -7.0 <= dbfs(clip) <= -5.0
    # Faded: exactly silent at the very edges and still quiet a few samples in.
    assert clip[0] == 0.0 and clip[-1] == 0.0
    assert np.abs(clip[:8]).max() < 0.01
    assert np.abs(clip[-8:]).max() < 0.01


@pytest.mark.parametrize(("name", "tail_s"), [("bell", 0.4), ("chime", 0.3), ("gong", 0.8)])
def test_a_struck_sound_rings_out_past_its_step(name: str, tail_s: float) -> None:
    ref = BuiltinSound(name)
    clip = sound_samples(ref).astype(np.float64)
    assert sound_step(ref) == round(STEP_S[name] * SAMPLE_RATE) < len(clip)
    frame = round(0.05 * SAMPLE_RATE)
    env = 10 * np.log10(np.mean(clip[: len(clip) // frame * frame].reshape(-1, frame) ** 2, 1))
    # Still ringing where its step ends; faded only once it is under -50 dB (the bell faded out
    # at -24 dB when its clip was its step).
    assert env[sound_step(ref) // frame - 1] - env.max() > -40.0
    fade_starts = (len(clip) - round(tail_s * SAMPLE_RATE)) // frame - 1
    assert env[fade_starts] - env.max() <= RING_OUT_DB


@pytest.mark.parametrize("name", BUILTIN_SOUNDS)
def test_builtin_is_deterministic_and_read_only(name: str) -> None:
    first = sound_samples(BuiltinSound(name))
    assert sound_samples(BuiltinSound(name)) is first  # cached
    with pytest.raises(ValueError, match="read-only"):
        first[0] = 1.0
    _samples.cache_clear()
    assert np.array_equal(sound_samples(BuiltinSound(name)), first)


@pytest.mark.parametrize(
    ("name", "fundamental_hz"),
    [("bell", 523.25), ("chime", 1046.5), ("gong", 110.0), ("beep", 880.0), ("tick", 2000.0)],
)
def test_builtin_spectral_peak_is_its_fundamental(name: str, fundamental_hz: float) -> None:
    peak = spectral_peak_hz(sound_samples(BuiltinSound(name)))
    # The FFT bin width is 1 / duration: 20 Hz for the 50 ms tick, under 4 Hz for the others.
    assert abs(peak - fundamental_hz) <= SAMPLE_RATE / len(sound_samples(BuiltinSound(name)))


def test_bell_higher_partials_decay_faster() -> None:
    bell = sound_samples(BuiltinSound("bell")).astype(np.float64)
    early, late = bell[: SAMPLE_RATE // 4], bell[SAMPLE_RATE : SAMPLE_RATE + SAMPLE_RATE // 4]

    def share_above(x: npt.NDArray[np.float64], hz: float) -> float:
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
        return float(power[freqs > hz].sum() / power.sum())

    assert share_above(late, 2000) < share_above(early, 2000) / 2
    assert rms_db(late) < rms_db(early) - 6  # and it rings down


def test_gong_swells_before_it_decays() -> None:
    gong = sound_samples(BuiltinSound("gong"))
    window = SAMPLE_RATE // 20
    levels = [rms_db(gong[i : i + window]) for i in range(0, len(gong) - window, window)]
    loudest = int(np.argmax(levels))
    assert 0.1 <= loudest * window / SAMPLE_RATE <= 1.0  # a slow swell, not a strike
    assert levels[0] < levels[loudest] - 6
    assert levels[-1] < levels[loudest] - 30


# ---------------------------------------------------------------------------- breathing pacer


@pytest.mark.parametrize("seconds", [0.5, 4.0, 8.0])
def test_inhale_rises_in_pitch_and_swells(seconds: float) -> None:
    clip = breath_sound("inhale", round(seconds * SAMPLE_RATE))
    q = len(clip) // 4
    first, last = clip[:q], clip[-q:]
    assert 170 <= crossing_hz(first) <= 215
    assert 235 <= crossing_hz(last) <= 280
    assert rms_db(last) > rms_db(first) + 6


@pytest.mark.parametrize("seconds", [0.5, 4.0, 8.0])
def test_exhale_falls_in_pitch_and_recedes(seconds: float) -> None:
    clip = breath_sound("exhale", round(seconds * SAMPLE_RATE))
    q = len(clip) // 4
    first, last = clip[:q], clip[-q:]
    assert 235 <= crossing_hz(first) <= 280
    assert 170 <= crossing_hz(last) <= 215
    assert rms_db(first) > rms_db(last) + 6


@pytest.mark.parametrize("phase", ["inhale", "exhale"])
@pytest.mark.parametrize("n_samples", [1, 7, 1000, 3 * SAMPLE_RATE + 1])
def test_pacer_exact_length_level_and_no_clicks(phase: str, n_samples: int) -> None:
    clip = breath_sound(phase, n_samples)
    assert clip.dtype == np.float32 and len(clip) == n_samples
    assert clip[0] == 0.0 and clip[-1] == 0.0
    if n_samples >= 1000:
        assert abs(rms_db(clip) - (-26.0)) < 0.1
        # A 270 Hz tone (plus 15 % 2nd harmonic) at this peak moves at most ~0.006 per sample;
        # any discontinuity in phase or envelope would jump far more.
        slope_bound = 2 * np.pi * 270 * (1 + 2 * 0.15) * np.abs(clip).max() / SAMPLE_RATE
        assert np.abs(np.diff(clip)).max() <= slope_bound * 1.05


def test_pacer_level_follows_level_db() -> None:
    loud = breath_sound("inhale", SAMPLE_RATE, level_db=-14.0)
    assert abs(rms_db(loud) - (-14.0)) < 0.1
    assert np.abs(loud).max() < 1.0


@pytest.mark.parametrize("phase", ["hold", "hold-empty"])
def test_holds_are_silent(phase: str) -> None:
    clip = breath_sound(phase, 2 * SAMPLE_RATE)
    assert len(clip) == 2 * SAMPLE_RATE and not clip.any()


def test_zero_length_window_and_unknown_phase() -> None:
    assert len(breath_sound("inhale", 0)) == 0
    with pytest.raises(ValueError, match="unknown breath phase 'inhail'"):
        breath_sound("inhail", 100)


# ---------------------------------------------------------------------------- pacer styles

PHASES = ("inhale", "hold", "exhale", "hold-empty")
SOUNDING = ("tone", "breath", "bell")


def centroid_hz(x: npt.NDArray[np.floating]) -> float:
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    return float((np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE) * power).sum() / power.sum())


@pytest.mark.parametrize("style", PACER_STYLES)
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("n_samples", [0, 1, 7, 1000, SAMPLE_RATE // 2 + 1, 5 * SAMPLE_RATE])
def test_every_style_is_exact_in_length_zero_at_the_ends_and_deterministic(
    style: str, phase: str, n_samples: int
) -> None:
    clip = breath_sound(phase, n_samples, style=style)
    assert clip.dtype == np.float32 and clip.shape == (n_samples,)
    if n_samples:
        assert clip[0] == 0.0 and clip[-1] == 0.0
    assert np.array_equal(breath_sound(phase, n_samples, style=style), clip)
    assert np.abs(clip).max(initial=0.0) < 0.5


@pytest.mark.parametrize("style", SOUNDING)
@pytest.mark.parametrize("phase", ["inhale", "exhale", "hold"])
@pytest.mark.parametrize("seconds", [0.5, 1.0, 4.0])
def test_every_edge_is_faded(style: str, phase: str, seconds: float) -> None:
    clip = breath_sound(phase, round(seconds * SAMPLE_RATE), style=style)
    if not clip.any():
        return
    edge = round(0.002 * SAMPLE_RATE)
    # Within 2 ms of either end, still well under the clip's peak: a fade, not a cut.
    assert np.abs(clip[:edge]).max() < 0.2 * np.abs(clip).max()
    assert np.abs(clip[-edge:]).max() < 0.2 * np.abs(clip).max()


@pytest.mark.parametrize("style", ["tone", "breath"])
@pytest.mark.parametrize("phase", ["inhale", "exhale"])
def test_sustained_styles_sit_at_the_pacer_level(style: str, phase: str) -> None:
    clip = breath_sound(phase, 3 * SAMPLE_RATE, style=style)
    assert abs(rms_db(clip) - BREATH_LEVEL_DBFS) < 0.1
    assert abs(rms_db(breath_sound(phase, SAMPLE_RATE, style=style, level_db=-20)) + 20) < 0.1


def test_none_is_silent_and_holds_are_silent_but_for_the_bells_soft_tap() -> None:
    n = 2 * SAMPLE_RATE
    assert not any(breath_sound(p, n, style="none").any() for p in PHASES)
    for style in ("tone", "breath"):
        assert not breath_sound("hold", n, style=style).any()
        assert not breath_sound("hold-empty", n, style=style).any()
    tap, strike = breath_sound("hold", n, style="bell"), breath_sound("inhale", n, style="bell")
    assert dbfs(strike) - 13 < dbfs(tap) < dbfs(strike) - 11


def test_unknown_style() -> None:
    with pytest.raises(ValueError, match="unknown pacer style 'whale'"):
        breath_sound("inhale", 100, style="whale")


@pytest.mark.parametrize("seconds", [0.5, 2.0, 4.0, 8.0])
def test_breath_style_is_bright_and_rising_in_then_dark_and_falling_out(seconds: float) -> None:
    n = round(seconds * SAMPLE_RATE)
    inhale, exhale = (
        breath_sound("inhale", n, style="breath"),
        breath_sound("exhale", n, style="breath"),
    )
    assert centroid_hz(inhale) > 2 * centroid_hz(exhale)
    quarters = [rms_db(q) for q in np.array_split(inhale, 4)]
    assert quarters[-1] > quarters[0] + 6
    if seconds >= 2:
        assert quarters == sorted(quarters)  # energy rises through the whole inhale
    quarters = [rms_db(q) for q in np.array_split(exhale, 4)]
    assert quarters[0] > quarters[-1] + 6
    if seconds >= 2:
        assert quarters == sorted(quarters, reverse=True)


@pytest.mark.parametrize("phase", ["inhale", "exhale", "hold"])
def test_bell_style_strikes_its_pitch_and_rings_down_within_the_window(phase: str) -> None:
    clip = breath_sound(phase, 5 * SAMPLE_RATE, style="bell")
    head = clip[: 2 * SAMPLE_RATE]
    assert abs(spectral_peak_hz(head) - PACER_BELL_HZ[phase]) < 1
    assert PACER_BELL_HZ["inhale"] > PACER_BELL_HZ["hold"] > PACER_BELL_HZ["exhale"]
    assert not clip[4 * SAMPLE_RATE :].any()  # rung out well before the window ends
    if phase != "hold":
        # Levelled on its first second, like the sustained styles over their window.
        assert abs(rms_db(clip[:SAMPLE_RATE]) - BREATH_LEVEL_DBFS) < 0.1


def test_bell_cut_short_by_its_window_fades_out_smoothly() -> None:
    full = breath_sound("inhale", 5 * SAMPLE_RATE, style="bell")
    short = breath_sound("inhale", SAMPLE_RATE, style="bell")
    fade = round(0.3 * SAMPLE_RATE)
    # The same strike, not a louder one, until the fade; then no step anywhere.
    assert np.array_equal(short[: SAMPLE_RATE - fade], full[: SAMPLE_RATE - fade])
    assert np.abs(np.diff(short[-fade:])).max() <= np.abs(np.diff(full[:SAMPLE_RATE])).max()
    assert (
        rms_db(short[-SAMPLE_RATE // 20 :])
        < rms_db(full[SAMPLE_RATE - SAMPLE_RATE // 20 : SAMPLE_RATE]) - 10
    )


# ---------------------------------------------------------------------------- resolving names


def test_resolve_builtin_names() -> None:
    assert [resolve_sound(n, Path("/nowhere")) for n in BUILTIN_SOUNDS] == [
        BuiltinSound(n) for n in BUILTIN_SOUNDS
    ]
    assert resolve_sound(" Bell ", Path("/nowhere")) == BuiltinSound("bell")


def test_unknown_name_suggests_the_closest_builtin() -> None:
    with pytest.raises(SoundError) as e:
        resolve_sound("bel", Path("."))
    assert str(e.value) == (
        "unknown sound 'bel': did you mean 'bell'? Built-in sounds: bell, chime, gong, beep, "
        "tick; or give a .wav file path"
    )
    with pytest.raises(SoundError) as e:
        resolve_sound("trumpet", Path("."))
    assert str(e.value) == (
        "unknown sound 'trumpet'. Built-in sounds: bell, chime, gong, beep, tick; or give a .wav "
        "file path"
    )


def test_resolve_file_relative_to_routine_folder_or_absolute(tmp_path: Path) -> None:
    (tmp_path / "sounds").mkdir()
    wav = write_wav(tmp_path / "sounds" / "ding.WAV", sine(440, 0.1, SAMPLE_RATE), SAMPLE_RATE, 2)
    assert resolve_sound("sounds/ding.WAV", tmp_path) == SoundFile(wav.resolve())
    assert resolve_sound(str(wav), Path("/elsewhere")) == SoundFile(wav.resolve())


def test_missing_file_names_the_path_looked_for(tmp_path: Path) -> None:
    with pytest.raises(SoundError) as e:
        resolve_sound("sounds/rain-stick.wav", tmp_path, allowed=())
    assert str(e.value) == (
        f"sound file not found: {tmp_path.resolve() / 'sounds' / 'rain-stick.wav'}; paths are "
        "relative to the routine's folder"
    )
    # A path the user typed (allowed=None) is relative to the folder the caller named.
    with pytest.raises(SoundError, match=rf"; paths are relative to {tmp_path.resolve()}$"):
        resolve_sound("sounds/rain-stick.wav", tmp_path)
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(SoundError, match=r"sound file not found: .*folder\.wav"):
        resolve_sound("folder.wav", tmp_path)


@pytest.mark.parametrize("ref", ["rain.aiff", "sounds/ding", "notes.txt"])
def test_unsupported_suffix(tmp_path: Path, ref: str) -> None:
    with pytest.raises(SoundError) as e:
        resolve_sound(ref, tmp_path)
    assert str(e.value) == f"unsupported sound file '{ref}': use a .wav, .mp3, .ogg or .flac file"


# ---------------------------------------------------------------------------- files


def test_stereo_16bit_22050_wav_loads_as_mono_44100(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", sine(441, 1.5, 22_050), 22_050, 2, channels=2)
    clip = sound_samples(resolve_sound("a.wav", tmp_path))
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert len(clip) == round(1.5 * SAMPLE_RATE)
    assert abs(spectral_peak_hz(clip) - 441) < 1
    assert abs(dbfs(clip) - dbfs(sine(441, 1, SAMPLE_RATE))) < 0.1  # both channels averaged
    assert clip[0] == 0.0 and clip[-1] == 0.0  # faded
    assert not clip.flags.writeable
    assert wav.exists()


@pytest.mark.parametrize(("width", "rate"), [(1, 8_000), (2, 48_000), (3, 44_100), (4, 16_000)])
def test_every_pcm_width_scales_to_the_same_level(tmp_path: Path, width: int, rate: int) -> None:
    write_wav(tmp_path / "w.wav", sine(500, 1.0, rate, amplitude=0.25), rate, width)
    clip = sound_samples(resolve_sound("w.wav", tmp_path))
    assert len(clip) == SAMPLE_RATE
    # 8-bit is quantised to 1/128, so it gets a looser tolerance than the others.
    assert abs(float(np.abs(clip).max()) - 0.25) < (0.01 if width == 1 else 0.001)
    assert abs(spectral_peak_hz(clip) - 500) < 1.5


def test_float_wav_with_extensible_header_loads(tmp_path: Path) -> None:
    from scipy.io import wavfile

    # scipy writes 32-bit float WAVs: a format the stdlib `wave` module cannot read.
    wavfile.write(tmp_path / "f.wav", 32_000, sine(300, 0.5, 32_000).astype(np.float32))
    clip = sound_samples(resolve_sound("f.wav", tmp_path))
    assert len(clip) == SAMPLE_RATE // 2
    assert abs(dbfs(clip) - dbfs(np.array([0.5]))) < 0.05


def test_junk_wav_raises_sound_error_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(SoundError) as e:
        sound_samples(resolve_sound("junk.wav", tmp_path))
    message = str(e.value)
    assert message.startswith(f"cannot read sound file {junk.resolve()} (")
    assert message.endswith("save it as a PCM .wav, or use an .mp3")
    assert "\n" not in message


def test_empty_wav_raises_sound_error(tmp_path: Path) -> None:
    write_wav(tmp_path / "empty.wav", np.zeros(0), SAMPLE_RATE, 2)
    with pytest.raises(SoundError, match=r"empty\.wav contains no audio"):
        sound_samples(resolve_sound("empty.wav", tmp_path))


def test_file_longer_than_ten_minutes_is_refused(tmp_path: Path) -> None:
    # 601 s at 1 kHz, 8-bit: long in time, small on disk.
    write_wav(tmp_path / "bed.wav", np.zeros(601 * 1000), 1000, 1)
    with pytest.raises(SoundError, match=r"bed\.wav is longer than 10 minutes; a sound is a short"):
        sound_samples(resolve_sound("bed.wav", tmp_path))


def test_mp3_without_ffmpeg_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mp3 = tmp_path / "rain.mp3"
    mp3.write_bytes(b"\xff\xfb" + bytes(500))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(SoundError) as e:
        sound_samples(resolve_sound("rain.mp3", tmp_path))
    assert str(e.value) == (
        f"sound file {mp3.resolve()} needs ffmpeg to read .mp3: install it with "
        "`sudo apt-get install ffmpeg`, or convert the file to .wav"
    )


def ffmpeg_encode(source: Path, target: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), str(target)], check=True)


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac"])
def test_compressed_file_decodes_through_ffmpeg(tmp_path: Path, suffix: str) -> None:
    source = write_wav(tmp_path / "src.wav", sine(660, 2.0, 48_000), 48_000, 2, channels=2)
    ffmpeg_encode(source, tmp_path / f"cue{suffix}")
    clip: Samples = sound_samples(resolve_sound(f"cue{suffix}", tmp_path))
    # Lossy codecs may pad or trim a few milliseconds at the edges.
    assert abs(len(clip) / SAMPLE_RATE - 2.0) < 0.06
    assert abs(spectral_peak_hz(clip) - 660) < 1.5
    assert abs(dbfs(clip) - dbfs(np.array([0.5]))) < 0.5
    assert clip[0] == 0.0 and clip[-1] == 0.0


@pytest.mark.integration
def test_wav_named_mp3_still_decodes(tmp_path: Path) -> None:
    write_wav(tmp_path / "mislabelled.mp3", sine(440, 0.5, 22_050), 22_050, 2)
    clip = sound_samples(resolve_sound("mislabelled.mp3", tmp_path))
    assert len(clip) == SAMPLE_RATE // 2


@pytest.mark.integration
def test_picture_named_mp3_says_it_has_no_audio(tmp_path: Path) -> None:
    picture = tmp_path / "cover.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16",
            "-frames:v",
            "1",
            "-f",
            "image2",
            str(picture),
        ],
        check=True,
    )
    with pytest.raises(SoundError) as e:
        sound_samples(resolve_sound("cover.mp3", tmp_path))
    assert str(e.value) == (
        f"sound file {picture.resolve()} has no audio in it; check that it is the right file"
    )


@pytest.mark.integration
def test_junk_mp3_raises_sound_error_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"definitely not an mp3 " * 20)
    with pytest.raises(SoundError) as e:
        sound_samples(resolve_sound("junk.mp3", tmp_path))
    message = str(e.value)
    assert message.startswith(f"cannot decode sound file {junk.resolve()} (")
    assert message.endswith("check that it plays, or convert it to .wav")
    # One line with ffmpeg's diagnosis, not pydub's whole ffmpeg log (banner, build flags...).
    assert "\n" not in message and "libavutil" not in message and len(message) < 300
