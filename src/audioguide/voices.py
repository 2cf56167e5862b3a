"""The voice stage: text in, mono float32 samples at SAMPLE_RATE out, cached on disk; and which
voice speaks which language.

`open_voice("natural", rate=150)` gives the natural voice (natural_voice.py), `open_voice(
"system:en-us")` the system voice (system_voice.py), each wrapped in the disk cache; `open_voice()`
picks the natural voice where it is installed. `voice_for(language, spec)` says which voice a
language gets, `speaks` whether a voice can speak one. `FakeVoice` is a deterministic stand-in
for tests (it speaks every language).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .audio import SAMPLE_RATE, Samples, fade_edges, to_samples
from .clips import DEFAULT_RATE as DEFAULT_RATE
from .clips import Voice as Voice
from .clips import VoiceInfo as VoiceInfo
from .clips import check_rate
from .errors import VoiceError
from .natural_voice import NATURAL_INSTALL as NATURAL_INSTALL
from .natural_voice import NATURAL_VOICE as NATURAL_VOICE
from .natural_voice import PIPER_VOICES_ENV as PIPER_VOICES_ENV
from .natural_voice import NaturalVoice as NaturalVoice
from .natural_voice import default_engine as default_engine
from .natural_voice import natural_model_for, piper_voices
from .natural_voice import natural_problem as natural_problem
from .system_voice import SystemVoice as SystemVoice
from .system_voice import list_system_voices as list_system_voices

ENGINES: Final = ("system", "fake", "natural")

CACHE_ENV: Final = "AUDIOGUIDE_CACHE_DIR"
CACHE_FORMAT: Final = "audioguide-speech-v1"
"""Part of every cache key: bump it when the post-processing changes what a clip holds."""
TWIN_MIN_CLIPS: Final = 8
"""New clips worth a second engine process for: starting one costs about 0.2 s."""


class FakeVoice:
    """A deterministic, speech-like tone whose length is a known function of the text."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        check_rate(rate)
        self.rate = rate

    @property
    def key(self) -> str:
        return f"fake:default:{self.rate}"

    @staticmethod
    def duration_s(text: str, rate: int = DEFAULT_RATE) -> float:
        return (0.25 + 0.3 * len(text.split())) * DEFAULT_RATE / rate

    def synthesize(self, text: str) -> Samples:
        n = to_samples(self.duration_s(text, self.rate))
        t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
        # A text-dependent fundamental (140-160 Hz) so different cues sound different.
        f0 = 150.0 + (zlib.crc32(text.encode("utf-8")) % 21 - 10)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3, 4))
        tone = tone / np.max(np.abs(tone)) if n else tone
        syllables = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)
        return fade_edges((0.5 * tone * syllables).astype(np.float32))

    def close(self) -> None:
        pass


class CachedVoice:
    """Any Voice, with each clip kept on disk under a hash of (format, voice key, text)."""

    def __init__(self, inner: Voice, cache_dir: Path) -> None:
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0

    @property
    def key(self) -> str:
        return self.inner.key

    def path_for(self, text: str, recipe: str = "") -> Path:
        parts = (CACHE_FORMAT, self.inner.key, text, *((recipe,) if recipe else ()))
        h = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        return self.cache_dir / h[:2] / f"{h}.npy"

    def synthesize(self, text: str) -> Samples:
        path = self.path_for(text)
        clip = _load_clip(path)
        if clip is not None:
            self.hits += 1
            return clip
        self.misses += 1
        clip = self.inner.synthesize(text)
        self._keep(path, clip)
        return clip

    def speak_all(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, int]:
        """Each text's clip length in samples, speaking those not in the cache; `progress(done,
        total)` after each. The system voice speaks in two engine processes at once when enough
        lines are new (an engine uses one core, so a cold build speaks in about half the time);
        the natural voice already uses every core for one line."""
        texts = list(dict.fromkeys(texts))
        lengths: dict[str, int] = {}
        todo: list[str] = []
        for text in texts:
            if self.path_for(text).exists():
                lengths[text] = len(self.synthesize(text))
                if progress:
                    progress(len(lengths), len(texts))
            else:
                todo.append(text)
        lock = threading.Lock()
        stop = threading.Event()

        def speak(voice: Voice) -> None:
            while not stop.is_set():
                with lock:
                    if not todo:
                        return
                    text = todo.pop(0)
                try:
                    clip = voice.synthesize(text)
                    self._keep(self.path_for(text), clip)
                except BaseException:
                    stop.set()  # the other engine stops after its current line
                    raise
                with lock:
                    self.misses += 1
                    lengths[text] = len(clip)
                    if progress:
                        progress(len(lengths), len(texts))

        twin = _twin(self.inner) if len(todo) >= TWIN_MIN_CLIPS else None
        if twin is None:
            speak(self.inner)
            return lengths
        with ThreadPoolExecutor(1, thread_name_prefix="audioguide-voice") as helper:
            helping = helper.submit(speak, twin)
            try:
                speak(self.inner)
            finally:
                stop.set()
                try:
                    helping.result()
                finally:
                    twin.close()
        return lengths

    def derived(self, text: str, recipe: str, make: Callable[[Samples], Samples]) -> Samples:
        """`make(clip)` for the text's clip, kept on disk beside it under `recipe` (which names
        everything `make` depends on): render keeps each line levelled, so a warm build levels
        nothing."""
        path = self.path_for(text, recipe)
        clip = _load_clip(path)
        if clip is not None:
            return clip
        clip = make(self.synthesize(text))
        self._keep(path, clip)
        return clip

    def _keep(self, path: Path, clip: Samples) -> None:
        if clip.size:  # nothing to say is not worth a file (and reads back as damaged)
            self._make_dir(path.parent)
            self._store(path, clip)

    def close(self) -> None:
        self.inner.close()

    def _make_dir(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VoiceError(self._unwritable(e)) from None

    def _store(self, path: Path, clip: Samples) -> None:
        # Written aside and renamed, so a killed build never leaves half a clip under the name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, clip.astype(np.float32, copy=False), allow_pickle=False)
            os.replace(tmp, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise VoiceError(self._unwritable(e)) from None

    def _unwritable(self, e: OSError) -> str:
        return (
            f"Cannot write the speech cache in {self.cache_dir} ({e.strerror or e}): "
            f"set {CACHE_ENV} or pass --cache-dir to use another directory"
        )


ESTIMATED_WPM_FACTOR: Final = 1.3
"""Both voices speak about 1.3 words a minute for every word of --rate once the gaps between
cues are left out (measured on psoas-release with the natural voice, whose pace matches
espeak-ng's), so a text's length at a rate can be guessed before it is spoken."""


class EstimatedVoice:
    """A voice that never speaks: each clip is the cached one where there is one, else silence as
    long as the text would take. For timing many routines at once (`audioguide list`) on a
    machine that has not spoken them yet."""

    def __init__(self, inner: CachedVoice, rate: int = DEFAULT_RATE) -> None:
        self.inner = inner
        self.rate = rate
        self.estimated = 0
        """How many clips were guessed rather than read from the cache."""

    @property
    def key(self) -> str:
        return self.inner.key

    def synthesize(self, text: str) -> Samples:
        clip = _load_clip(self.inner.path_for(text))
        if clip is not None:
            return clip
        self.estimated += 1
        words = len(text.split())
        return np.zeros(to_samples(words * 60 / (self.rate * ESTIMATED_WPM_FACTOR)), np.float32)

    def close(self) -> None:
        self.inner.close()


def _twin(voice: Voice) -> Voice | None:
    """A second engine speaking exactly as `voice` does, where one helps: the system voice's."""
    if not isinstance(voice, SystemVoice) or (os.cpu_count() or 1) < 2:
        return None
    return voice.twin()


def _load_clip(path: Path) -> Samples | None:
    """A cached clip, or None when it is missing or damaged (then it is made again)."""
    try:
        clip = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if not isinstance(clip, np.ndarray) or clip.dtype != np.float32 or clip.ndim != 1:
        return None
    return clip if clip.size else None


def default_cache_dir() -> Path:
    """$AUDIOGUIDE_CACHE_DIR, else the per-user cache directory's "speech" folder."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("audioguide")) / "speech"


def open_voice(
    spec: str | None = None,
    *,
    rate: int | None = None,
    cache_dir: Path | None = None,
    cache: bool = True,
) -> Voice:
    """A voice from "natural", "natural:<path to a Piper .onnx>", "system", "system:<voice id or
    name>" or "fake", cached unless cache=False. None is `default_engine()`."""
    engine, _, name = (spec or default_engine()).partition(":")
    engine, name = engine.strip().lower(), name.strip()
    rate = DEFAULT_RATE if rate is None else rate
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    voice: Voice
    if engine == "system":
        known = cache_dir / "system-voices.json" if cache else None
        voice = SystemVoice(name or None, rate, known_ids=known)
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
    base = language.split("-", 1)[0]
    engine, _, name = (spec or "").partition(":")
    engine = engine.strip().lower()
    if name.strip() or engine == "fake":
        return spec or ""
    if engine == "female":
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
    if isinstance(voice, NaturalVoice) and voice.model.language:
        return (voice.model.language,)
    return ()


def speaks(voice: Voice, language: str) -> bool:
    """Whether the voice can speak `language` (any region of it: en-gb speaks en-US)."""
    base = language.split("-", 1)[0].lower()
    languages = voice_languages(voice)
    return not languages or any(lang.split("-", 1)[0].lower() == base for lang in languages)


@dataclass(frozen=True)
class VoiceOption:
    """A voice `audioguide voices` lists for a language."""

    spec: str
    """What --voice takes."""
    gender: str
    """`male`, `female`, or "" when the voice does not say."""
    description: str


def voice_options(language: str) -> list[VoiceOption]:
    """Every voice here that speaks `language`: the natural voices, then each system voice as it
    is (male, in espeak-ng) and with the female variant."""
    base = language.split("-", 1)[0]
    out = []
    if natural_problem() is None:
        for model in piper_voices():
            if model.language.split("-")[0] == base:
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
        if any(lang.split("-")[0] == base for lang in v.languages):
            short = v.id.rpartition("/")[2]
            out.append(VoiceOption(f"system:{short}", "male", f"{v.name} (espeak-ng)"))
            out.append(
                VoiceOption(f"system:{short}{FEMALE_VARIANT}", "female", f"{v.name} (espeak-ng)")
            )
    return out
