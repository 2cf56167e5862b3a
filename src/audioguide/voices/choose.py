"""Which voice speaks: `open_voice("natural", rate=150)` gives the natural voice (natural.py),
`open_voice("system:en-us")` the system voice (system.py), each wrapped in the disk cache
(cache.py); `open_voice()` picks the natural voice where it is installed. `voice_for(language,
spec)` says which voice a language gets, `speaks` whether a voice can speak one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import VoiceError
from ..options import DEFAULT_RATE
from ..strings import base_language
from .cache import CachedVoice, EstimatedVoice, default_cache_dir
from .clips import Voice
from .fake import FakeVoice
from .hibari import HIBARI_LANGUAGE, HIBARI_VOICE, HibariVoice, hibari_problem
from .natural import (
    NATURAL_VOICE,
    PIPER_VOICES_ENV,
    NaturalVoice,
    default_engine,
    natural_model_for,
    natural_problem,
    piper_voices,
)
from .system import SystemVoice, list_system_voices

ENGINES: Final = ("system", "fake", "natural")


def open_voice(
    spec: str | None = None,
    *,
    rate: int | None = None,
    cache_dir: Path | None = None,
    cache: bool = True,
) -> Voice:
    """A voice from "natural", "natural:heart" (hibari's female voice), "natural:<path to a Piper
    .onnx>", "system", "system:<voice id or name>" or "fake", cached unless cache=False. None is
    `default_engine()`."""
    engine, _, name = (spec or default_engine()).partition(":")
    engine, name = engine.strip().lower(), name.strip()
    rate = DEFAULT_RATE if rate is None else rate
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    voice: Voice
    if engine == "system":
        known = cache_dir / "system-voices.json" if cache else None
        voice = SystemVoice(name or None, rate, known_ids=known)
    elif engine == "natural" and name == HIBARI_VOICE:
        voice = HibariVoice(rate)
    elif engine == "natural":
        voice = NaturalVoice(_natural_model_path(name), rate)
    elif engine == "fake":
        if name not in ("", "default"):
            raise VoiceError(
                f"The fake engine has one voice, 'default', not '{name}': use --voice fake"
            )
        voice = FakeVoice(rate)
    else:
        raise VoiceError(
            f"Unknown voice engine '{engine}': use one of {', '.join(ENGINES)}, "
            f"e.g. --voice system:en-us"
        )
    if not cache:
        return voice
    return CachedVoice(voice, cache_dir)


class VoicePool:
    """The voices a process has opened, each opened once and kept open until `close()`: every
    session that shares the pool shares them (a worker's sessions of many routines, a studio's
    edits of one). Safe from several threads: opening is locked, and a cached voice serialises
    its engine (cache.py)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, int | None, Path | None], Voice] = {}
        self._lock = threading.Lock()

    def get(self, spec: str, *, rate: int | None, cache_dir: Path | None) -> Voice:
        key = (spec, rate, cache_dir)
        with self._lock:
            if key not in self._open:
                self._open[key] = open_voice(spec, rate=rate, cache_dir=cache_dir)
            return self._open[key]

    def close(self) -> None:
        with self._lock:
            voices, self._open = list(self._open.values()), {}
        for voice in voices:
            voice.close()


def _natural_model_path(name: str) -> Path | None:
    """None (the bundled voice) for "" or its name, else the path the user gave."""
    if name in ("", NATURAL_VOICE):
        return None
    return Path(name).expanduser()


# --- which voice speaks which language ----------------------------------------------------------

GENDERS: Final = ("male", "female")
"""`--voice male` and `--voice female` pick a voice of that gender for the routine's language."""
FEMALE_VARIANT: Final = "+f3"
"""espeak-ng's female variant ("female3"), added to a system voice's name: `system:en-us+f3` is
the female English system voice. espeak-ng's voices themselves are male."""


def system_voice_name(language: str) -> str:
    """The espeak-ng voice for a language code: Latin American Spanish for a Spanish region
    outside Spain, the language's own voice for a region espeak has none for; "" (the engine's
    default) for plain English, as before languages existed."""
    base, _, region = language.partition("-")
    if base == "es":
        return "es" if region.upper() in ("", "ES") else "es-419"
    if base == "en" and not region:
        return ""
    return language.lower()


def voice_for(language: str, spec: str | None) -> str:
    """The voice spec to open for a routine in `language`: `spec` as given when it names a voice;
    an engine alone (`system`, `natural`) or a gender (`male`, `female`) gets that engine's or
    gender's voice for the language; None gets the language's default (the natural voice where
    one speaks it, else the system voice)."""
    base = base_language(language)
    engine, _, name = (spec or "").partition(":")
    engine = engine.strip().lower()
    if name.strip() or engine == "fake":
        return spec or ""
    if engine == "female":
        if base == "en" and hibari_problem() is None:
            return f"natural:{HIBARI_VOICE}"
        return f"system:{system_voice_name(language) or 'en-us'}{FEMALE_VARIANT}"
    if engine in ("male", ""):
        if base == "en":
            return default_engine() if engine == "" else _english_male()
        if engine == "" and (model := _natural_for(language)) is not None:
            return f"natural:{model}"
        return _system(language)
    if engine == "natural" and base != "en":
        model = _natural_for(language)
        if model is None:
            raise VoiceError(
                f"No natural voice speaks {language} here: put a Piper voice for it (an .onnx "
                f"with its .onnx.json) in a folder named by ${PIPER_VOICES_ENV}, give its path "
                "as --voice natural:/path/voice.onnx, or use --voice system"
            )
        return f"natural:{model}"
    if engine == "system":
        return _system(language)
    return spec or ""


def _english_male() -> str:
    # The bundled natural voice (en_US-joe-medium) is a man's.
    return "natural" if natural_problem() is None else "system:en-us"


def _system(language: str) -> str:
    name = system_voice_name(language)
    return f"system:{name}" if name else "system"


def _natural_for(language: str) -> Path | None:
    model = natural_model_for(language) if natural_problem() is None else None
    return None if model is None else model.onnx


def voice_languages(voice: Voice) -> tuple[str, ...]:
    """The languages a voice speaks (`en-gb`); () for any: the fake voice, or an engine that
    does not say."""
    while isinstance(voice, CachedVoice | EstimatedVoice):
        voice = voice.inner
    if isinstance(voice, SystemVoice):
        return voice.languages
    if isinstance(voice, HibariVoice):
        return (HIBARI_LANGUAGE,)
    if isinstance(voice, NaturalVoice) and voice.model.language:
        return (voice.model.language,)
    return ()


def speaks(voice: Voice, language: str) -> bool:
    """Whether the voice can speak `language` (any region of it: en-gb speaks en-US)."""
    base = base_language(language)
    languages = voice_languages(voice)
    return not languages or any(base_language(lang) == base for lang in languages)


@dataclass(frozen=True)
class VoiceOption:
    """A voice `audioguide voices` lists for a language."""

    spec: str
    """What --voice takes."""
    gender: str
    """`male`, `female`, or "" when the voice does not say."""
    description: str


def voice_options(language: str) -> list[VoiceOption]:
    """Every voice here that speaks `language`: the natural voices (hibari's female English one
    first), then each system voice as it is (male, in espeak-ng) and with the female variant."""
    base = base_language(language)
    out = []
    if base == base_language(HIBARI_LANGUAGE) and hibari_problem() is None:
        out.append(
            VoiceOption(
                f"natural:{HIBARI_VOICE}", "female", f"{HIBARI_VOICE}, a neural voice (hibari)"
            )
        )
    if natural_problem() is None:
        for model in piper_voices():
            if base_language(model.language) == base:
                bundled = model.name == NATURAL_VOICE
                out.append(
                    VoiceOption(
                        "natural" if bundled else f"natural:{model.onnx}",
                        "male" if bundled else "",
                        f"{model.name}, a neural voice (Piper)",
                    )
                )
    if system_voice_name(language) == "":
        out.append(VoiceOption("system", "male", "the system's default English voice"))
    for v in list_system_voices():
        if any(base_language(lang) == base for lang in v.languages):
            short = v.id.rpartition("/")[2]
            out.append(VoiceOption(f"system:{short}", "male", f"{v.name} (espeak-ng)"))
            out.append(
                VoiceOption(f"system:{short}{FEMALE_VARIANT}", "female", f"{v.name} (espeak-ng)")
            )
    return out
