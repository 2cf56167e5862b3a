"""Everything in a track that is not speech: built-in sounds, user sound files, the breathing pacer.

Built-ins are synthesised here (no binaries in the repository); files are decoded to the pipeline's
one format (mono float32 at SAMPLE_RATE). Sound clips are cached and handed out read-only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, assert_never

import numpy as np
import numpy.typing as npt

from ..audio import SAMPLE_RATE, Samples, fade_edges, resample, silence, to_samples
from ..errors import AudioguideError, SoundError
from ..model import PACER_STYLES, BuiltinSound, PacerStyle, SoundFile, SoundRef
from ..tools import ffmpeg

PEAK_DBFS: Final = -6.0
STEP_S: Final = {"bell": 2.5, "chime": 1.5, "gong": 4.0, "beep": 0.25, "tick": 0.05}
"""How long a `sound:` step of each built-in lasts in the plan. A struck sound rings on past it,
under what follows, until it is under RING_OUT_DB (a bell that faded out at 2.5 s was still at
-24 dB there): the clip is longer than its step, by the 1.5 s a track ends on at most, so a
closing bell rings out whole and no plan changes."""
RING_OUT_DB: Final = -50.0
"""A struck built-in fades out once it has decayed this far under its peak."""
MAX_SOUND_S: Final = 600.0
"""A sound is a cue, not a background bed: longer files are refused."""

BREATH_LEVEL_DBFS: Final = -26.0
BREATH_LOW_HZ: Final = 180.0
BREATH_HIGH_HZ: Final = 270.0
BREATH_HARMONIC: Final = 0.15
"""Relative level of the 2nd harmonic: enough to warm the sine without making it buzzy."""
BREATH_SILENT_PHASES: Final = ("hold", "hold-empty")
BREATH_NOISE_HZ: Final = {"inhale": 1800.0, "exhale": 550.0}
"""Centre of the "breath" style's noise band: air drawn in through the nose hisses high, a sigh
out through the mouth is low and soft."""
BREATH_NOISE_OCTAVES: Final = 0.7
"""Width of that band (one standard deviation, in octaves): wide enough to sound like air, not a
whistle."""
PACER_TONE_TURN_S: Final = (0.05, 0.02)
"""The tone fades to 0 and back over these at the bottom and the top of the breath: long enough
that the join does not click (the glide turns there), short enough that the tone does not drop
out (a 120 ms fade each way at the top left 240 ms near silence, -64 dBFS at its middle, and
250 ms at the bottom a 100 ms stretch 19.5 dB under its neighbours)."""
PACER_NOISE_TURN_S: Final = (0.25, 0.12)
"""The breath style's: a breath of air rises from nothing and pauses at the top."""
PACER_BELL_HZ: Final = {"inhale": 659.26, "exhale": 440.0, "hold": 554.37, "hold-empty": 554.37}
"""The "bell" style: E5 for the inhale, A4 for the exhale, C#5 for a hold (one A major chord)."""
PACER_BELL_S: Final = 3.0
PACER_BELL_HOLD_DB: Final = -12.0
"""A hold gets only a quiet tap: enough to hear where the breath stops, in 4-7-8 for instance."""
PACER_CUT_FADE_S: Final = 0.3
"""A bell cut short by its window rings out over this long, so the cut is not heard."""
_BREATH_SEEDS: Final = {"inhale": 1, "exhale": 2}

_CACHE_SIZE: Final = 16
_Floats = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------- samples


def sound_stamp(ref: SoundRef) -> tuple[int, int] | None:
    """A sound file as it is now (modified, size), for the keys of caches of what it holds;
    None for a built-in or a file that cannot be read."""
    if isinstance(ref, BuiltinSound):
        return None
    try:
        info = ref.path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def sound_samples(ref: SoundRef) -> Samples:
    """The clip for a sound; cached (a file as it is now: edited, it is read again), so callers
    must not write to it."""
    return _samples(ref, sound_stamp(ref))


def sound_step(ref: SoundRef) -> int:
    """How long a `sound:` step lasts, in samples: STEP_S for a built-in (it rings on past it), the
    whole file for a file."""
    if isinstance(ref, BuiltinSound) and ref.name in STEP_S:
        return min(to_samples(STEP_S[ref.name]), len(sound_samples(ref)))
    return len(sound_samples(ref))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _samples(ref: SoundRef, stamp: object) -> Samples:
    match ref:
        case BuiltinSound(name=name):
            clip = _SYNTHS[name]()
        case SoundFile(path=path):
            clip = _read_file(path)
        case _:
            assert_never(ref)
    clip.flags.writeable = False
    return clip


# ---------------------------------------------------------------------------- built-ins


@dataclass(frozen=True)
class _Partial:
    ratio: float
    """Frequency as a multiple of the fundamental (inharmonic for bells and gongs)."""
    gain: float
    decay_s: float
    """Exponential time constant: amplitude falls to 1/e after this long."""
    swell_s: float = 0.0
    """Exponential rise time; 0 means the partial starts at full strength."""


def _ring(
    fundamental_hz: float,
    partials: tuple[_Partial, ...],
    duration_s: float,
    attack_s: float,
    tail_s: float,
) -> _Floats:
    """A struck, ringing body: decaying sine partials, a soft attack and a tail fade to silence."""
    t = np.arange(to_samples(duration_s)) / SAMPLE_RATE
    out = np.zeros_like(t)
    for p in partials:
        env = np.exp(-t / p.decay_s)
        if p.swell_s > 0:
            env *= 1.0 - np.exp(-t / p.swell_s)
        out += p.gain * env * np.sin(2 * np.pi * fundamental_hz * p.ratio * t)
    n_attack, n_tail = to_samples(attack_s), to_samples(tail_s)
    out[:n_attack] *= _rise(n_attack)
    # The partials are still audible when the clip ends; a long fade avoids an audible cut-off.
    out[len(out) - n_tail :] *= _rise(n_tail)[::-1]
    return out


def _rise(n: int) -> _Floats:
    """Raised-cosine ramp from exactly 0 up to (almost) 1."""
    return 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, endpoint=False))


def _finish(clip: _Floats, fade_s: float = 0.005) -> Samples:
    """Fade the edges, then scale so the peak sits at PEAK_DBFS."""
    faded = fade_edges(clip.astype(np.float32), fade_s)
    gain = 10 ** (PEAK_DBFS / 20) / float(np.abs(faded).max())
    out: Samples = (faded * gain).astype(np.float32)
    return out


def _bell() -> Samples:
    # Inharmonic partials over a strong fundamental; the higher ones die faster, as in a real bell.
    # It rings 4 s, its step and the 1.5 s a track ends on, so a closing bell rings out before
    # the track ends; it decays a little faster than it did (0.9 s) to be under -50 dB by then.
    partials = (
        _Partial(1.0, 1.0, 0.62),
        _Partial(2.0, 0.5, 0.43),
        _Partial(2.76, 0.35, 0.33),
        _Partial(5.4, 0.2, 0.19),
        _Partial(8.9, 0.1, 0.11),
    )
    return _finish(_ring(523.25, partials, 4.0, attack_s=0.004, tail_s=0.4))


def _chime() -> Samples:
    partials = (_Partial(1.0, 1.0, 0.45), _Partial(2.756, 0.4, 0.25), _Partial(5.404, 0.15, 0.12))
    return _finish(_ring(1046.5, partials, 3.0, attack_s=0.002, tail_s=0.3))


def _gong() -> Samples:
    # Many inharmonic partials that bloom one after another (higher ones swell later), plus a
    # slightly detuned twin of the fundamental whose slow beating gives the gong its shimmer.
    # It rings 5.5 s, its step and a track's 1.5 s tail, so it dies away faster than it did
    # (2.2 s for the fundamental) to be under -50 dB by then.
    ratios = (1.0, 1.003, 1.52, 2.03, 2.61, 3.17, 3.89, 4.73, 5.61, 6.9)
    gains = (1.0, 0.6, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15)
    partials = tuple(
        _Partial(r, g, decay_s=0.9 / r**0.5, swell_s=0.15 + 0.05 * r)
        for r, g in zip(ratios, gains, strict=True)
    )
    return _finish(_ring(110.0, partials, 5.5, attack_s=0.01, tail_s=0.8))


def _beep() -> Samples:
    t = np.arange(to_samples(0.25)) / SAMPLE_RATE
    return _finish(np.sin(2 * np.pi * 880.0 * t), fade_s=0.010)


def _tick() -> Samples:
    # A woodblock is a burst exciting a few stiff modes; damped sines model that exactly and,
    # unlike filtered noise, are bit-identical on every machine and numpy version.
    partials = (_Partial(1.0, 1.0, 0.006), _Partial(1.58, 0.5, 0.004), _Partial(2.6, 0.2, 0.002))
    return _finish(_ring(2000.0, partials, 0.05, attack_s=0.0005, tail_s=0.01), fade_s=0.0015)


# A soft, mostly pure bell for the pacer: one gentle inharmonic partial keeps it bell-like, without
# the bright strike of the "bell" sound.
_PACER_PARTIALS: Final = (
    _Partial(1.0, 1.0, 0.9),
    _Partial(2.0, 0.3, 0.5),
    _Partial(2.76, 0.12, 0.35),
    _Partial(5.4, 0.04, 0.15),
)

_SYNTHS: Final[dict[str, Callable[[], Samples]]] = {
    "bell": _bell,
    "chime": _chime,
    "gong": _gong,
    "beep": _beep,
    "tick": _tick,
}


# ---------------------------------------------------------------------------- files


def _read_file(path: Path) -> Samples:
    """Decode a sound file to mono float32 at SAMPLE_RATE, faded at the edges."""
    return fade_edges(decode_file(path))


def decode_file(
    path: Path,
    *,
    max_s: float = MAX_SOUND_S,
    too_long: str = "a sound is a short cue: trim it, or cut it into shorter sounds",
) -> Samples:
    """Decode an audio file to mono float32 at SAMPLE_RATE, unfaded; a file longer than `max_s`
    is refused with `too_long` as the fix."""
    if path.suffix.lower() == ".wav":
        pcm, rate = _read_wav(path)
    else:
        pcm, rate = _read_with_ffmpeg(path, max_s)
    if pcm.size == 0:
        raise SoundError(f"sound file {path} contains no audio; check the file or pick another")
    if len(pcm) / rate > max_s:
        raise SoundError(f"sound file {path} is longer than {max_s / 60:.0f} minutes; {too_long}")
    mono = pcm.mean(axis=1, dtype=np.float32) if pcm.ndim == 2 else pcm
    # Resampling can overshoot full scale slightly (and float WAVs may already do so).
    return np.clip(resample(mono, rate), -1.0, 1.0).astype(np.float32)


def _read_wav(path: Path) -> tuple[Samples, int]:
    # scipy reads every PCM width (8/16/24/32-bit), float WAVs and WAVE_FORMAT_EXTENSIBLE headers
    # (which the 3.11 stdlib `wave` rejects) without needing ffmpeg.
    from scipy.io import wavfile

    try:
        with path.open("rb") as f, warnings.catch_warnings():
            # Unknown chunks (LIST, cue points...) are skipped, which is what we want.
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(f)
    except (OSError, ValueError, EOFError) as e:
        raise SoundError(
            f"cannot read sound file {path} ({' '.join(str(e).split())}); save it as a PCM .wav, "
            "or use an .mp3"
        ) from None
    return _to_float(np.asarray(data)), int(rate)


def _to_float(data: npt.NDArray[np.generic]) -> Samples:
    # float32 holds 24-bit PCM exactly, and halves the memory a half-hour bed file takes.
    out = data.astype(np.float32)
    if data.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        out -= np.float32(128.0)
        out /= np.float32(128.0)
    elif np.issubdtype(data.dtype, np.integer):
        # 24-bit arrives left-justified in int32, so the container's width gives the scale.
        out /= np.float32(2 ** (8 * data.dtype.itemsize - 1))
    return out


def _read_with_ffmpeg(path: Path, max_s: float) -> tuple[Samples, int]:
    suffix = path.suffix.lower()
    # pydub runs ffprobe to inspect the file, then ffmpeg to decode it; both ship in one package.
    try:
        ffmpeg("ffmpeg"), ffmpeg("ffprobe")
    except AudioguideError:
        raise SoundError(
            f"sound file {path} needs ffmpeg to read {suffix}: install it with "
            f"`sudo apt-get install ffmpeg`, or convert the file to .wav"
        ) from None
    with warnings.catch_warnings():
        # pydub probes for ffmpeg at import and warns if its own lookup fails (we checked above),
        # and on 3.11-3.12 its `import audioop` raises a DeprecationWarning that is not ours.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
        from pydub.utils import mediainfo_json

    try:
        _require_audio_stream(path, mediainfo_json(str(path)))
        # No format hint: ffmpeg sniffs the content, so a mislabelled file still decodes.
        # Decode one second past the limit only: enough to know the file is too long.
        segment = AudioSegment.from_file(path, duration=max_s + 1)
    # pydub surfaces broken files as any of these, not only as CouldntDecodeError.
    except (CouldntDecodeError, OSError, ValueError, KeyError, IndexError) as e:
        raise SoundError(
            f"cannot decode sound file {path} ({_decoder_reason(e, path)}); check that it "
            "plays, or convert it to .wav"
        ) from None
    pcm = np.asarray(segment.get_array_of_samples(), dtype=np.float32)
    pcm /= np.float32(2 ** (8 * segment.sample_width - 1))
    return pcm.reshape(-1, segment.channels), int(segment.frame_rate)


def _require_audio_stream(path: Path, info: dict[str, Any]) -> None:
    # pydub indexes the first audio stream without checking there is one (an IndexError, and a
    # file handle it never closes), so a picture or video saved as .mp3 is caught here first.
    # An empty probe means ffprobe could not parse the file: the decoder then says why.
    streams = info.get("streams", [])
    if info and not any(s.get("codec_type") == "audio" for s in streams):
        raise SoundError(f"sound file {path} has no audio in it; check that it is the right file")


def _decoder_reason(error: Exception, path: Path) -> str:
    """ffmpeg's own verdict in one line, out of pydub's message (which holds ffmpeg's whole log)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    # ffmpeg ends with "<input>: <verdict>"; the component lines before it are often guesses
    # from probing the wrong demuxer ("moov atom not found" for a text file).
    verdicts = [ln for ln in lines if ln.startswith(f"{path}: ")]
    if verdicts:
        return verdicts[-1].removeprefix(f"{path}: ")
    lines = [ln for ln in lines if ln != "Conversion failed!"] or [type(error).__name__]
    return lines[-1]


# ---------------------------------------------------------------------------- breathing pacer


def breath_sound(
    phase: str, n_samples: int, *, style: PacerStyle = "tone", level_db: float = BREATH_LEVEL_DBFS
) -> Samples:
    """The pacer for one breath-phase window of exactly n_samples, in one of PACER_STYLES.

    tone: glides up and swells on the inhale, the inhale played backwards on the exhale.
    breath: noise that swells like a breath, bright on the inhale, darker and receding on the
    exhale. bell: a soft bell struck as the phase begins, high for the inhale, low for the exhale,
    a quiet tap for a hold. Holds are otherwise silent; every clip starts and ends at exactly 0.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if phase not in ("inhale", "exhale", *BREATH_SILENT_PHASES):
        raise ValueError(f"unknown breath phase {phase!r}")
    if style not in PACER_STYLES:
        raise ValueError(f"unknown pacer style {style!r}")
    if style == "bell":
        return _bell_pacer(phase, n_samples, level_db)
    if style == "none" or phase in BREATH_SILENT_PHASES:
        return silence(n_samples)
    turns = PACER_TONE_TURN_S if style == "tone" else PACER_NOISE_TURN_S
    swell = _swell(n_samples, *turns)
    if style == "tone":
        wave = _glide_up(n_samples) * swell
        wave = wave if phase == "inhale" else wave[::-1]
    else:
        noise = shaped_noise(n_samples, _breath_band(phase), seed=_BREATH_SEEDS[phase])
        wave = noise * (swell if phase == "inhale" else swell[::-1])
    rms = float(np.sqrt(np.mean(wave**2))) if n_samples else 0.0
    return _pacer_clip(wave, 10 ** (level_db / 20) / rms if rms else 0.0)


def _swell(n: int, bottom_s: float, top_s: float) -> _Floats:
    """The inhale's envelope: a fade in from exactly 0 over `bottom_s`, a swell to full, and a
    fade to exactly 0 over `top_s` at the top of the breath (where the exhale, the inhale played
    backwards, fades in again)."""
    u = np.arange(n) / max(n, 1)
    envelope = 0.2 + 0.8 * u**1.5
    n_in, n_out = min(to_samples(bottom_s), n // 4), min(to_samples(top_s), n // 8)
    envelope[:n_in] *= _rise(n_in)
    envelope[n - n_out :] *= _rise(n_out)[::-1]
    return envelope


def _glide_up(n: int) -> _Floats:
    u = np.arange(n) / max(n, 1)
    # A geometric glide sounds even to the ear; integrating the frequency keeps the phase
    # continuous, so the pitch slides without a single jump.
    freq = BREATH_LOW_HZ * (BREATH_HIGH_HZ / BREATH_LOW_HZ) ** u
    theta = 2 * np.pi * (np.cumsum(freq) - freq[:1]) / SAMPLE_RATE
    tone: _Floats = np.sin(theta) + BREATH_HARMONIC * np.sin(2 * theta)
    return tone


def _breath_band(phase: str) -> Callable[[_Floats], _Floats]:
    centre = BREATH_NOISE_HZ[phase]

    def magnitude(freqs: _Floats) -> _Floats:
        octaves = np.log2(np.maximum(freqs, 1.0) / centre) / BREATH_NOISE_OCTAVES
        band: _Floats = np.exp(-0.5 * octaves**2)
        return band

    return magnitude


def _bell_pacer(phase: str, n: int, level_db: float) -> Samples:
    strike = _ring(PACER_BELL_HZ[phase], _PACER_PARTIALS, PACER_BELL_S, attack_s=0.01, tail_s=0.5)
    if phase in BREATH_SILENT_PHASES:
        level_db += PACER_BELL_HOLD_DB
    # Levelled on the strike's first second (what the ear judges a bell by), and the same for
    # every window: a short window cuts the same bell short, never a louder one.
    head = strike[: to_samples(1.0)]
    gain = 10 ** (level_db / 20) / float(np.sqrt(np.mean(head**2)))
    wave = np.zeros(n)
    m = min(n, len(strike))
    wave[:m] = strike[:m]
    if m < len(strike):
        k = min(to_samples(PACER_CUT_FADE_S), m // 4)
        wave[m - k : m] *= _rise(k)[::-1]
    return _pacer_clip(wave, gain)


def _pacer_clip(wave: _Floats, gain: float) -> Samples:
    # Exactly zero at both ends, so consecutive windows join without a click.
    if len(wave):
        wave[0] = wave[-1] = 0.0
    out: Samples = (wave * gain).astype(np.float32)
    return out


def shaped_noise(n: int, magnitude: Callable[[_Floats], _Floats], *, seed: int) -> _Floats:
    """Gaussian noise of n samples and unit RMS whose amplitude spectrum is `magnitude(hz)`.

    Made in the frequency domain, so it is periodic in n: tiled, it joins end to start without a
    seam. Seeded, so every run gives the same samples."""
    if n < 2:
        return np.zeros(n)
    # Built in place, a few arrays at a time, and returned as float32: a 75 s bed of four such
    # layers peaked at 271 MB this way in float64 with temporaries (a 3-hour build's bar is 300).
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE).astype(np.float64)
    spectrum = np.empty(len(freqs), np.complex128)
    spectrum.real = rng.standard_normal(len(freqs))
    spectrum.imag = rng.standard_normal(len(freqs))
    spectrum *= magnitude(freqs)
    del freqs
    spectrum[0] = 0.0  # no DC offset
    noise = np.fft.irfft(spectrum, n)
    del spectrum
    rms = float(np.sqrt(np.dot(noise, noise) / n))
    if rms > 0:
        noise /= rms
    out: _Floats = noise.astype(np.float32)
    return out
