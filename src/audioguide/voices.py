"""The voice stage: text in, mono float32 samples at SAMPLE_RATE out, cached on disk.

`open_voice("natural", rate=150)` gives the natural voice (natural_voice.py), `open_voice(
"system:en-us")` the system voice (system_voice.py), each wrapped in the disk cache; `open_voice()`
picks the natural voice where it is installed. `FakeVoice` is a deterministic stand-in for tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
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
from .natural_voice import NaturalVoice as NaturalVoice
from .natural_voice import default_engine as default_engine
from .natural_voice import natural_problem as natural_problem
from .system_voice import SystemVoice as SystemVoice
from .system_voice import list_system_voices as list_system_voices

ENGINES: Final = ("system", "fake", "natural")

CACHE_ENV: Final = "AUDIOGUIDE_CACHE_DIR"
CACHE_FORMAT: Final = "audioguide-speech-v1"
"""Part of every cache key: bump it when the post-processing changes what a clip holds."""


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

    def path_for(self, text: str) -> Path:
        h = hashlib.sha256("\0".join((CACHE_FORMAT, self.inner.key, text)).encode()).hexdigest()
        return self.cache_dir / h[:2] / f"{h}.npy"

    def synthesize(self, text: str) -> Samples:
        path = self.path_for(text)
        clip = _load_clip(path)
        if clip is not None:
            self.hits += 1
            return clip
        self.misses += 1
        self._make_dir(path.parent)
        clip = self.inner.synthesize(text)
        if clip.size:  # nothing to say is not worth a file (and reads back as damaged)
            self._store(path, clip)
        return clip

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
    voice: Voice
    if engine == "system":
        voice = SystemVoice(name or None, rate)
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
    return CachedVoice(voice, default_cache_dir() if cache_dir is None else cache_dir)


def _natural_model_path(name: str) -> Path | None:
    """None (the bundled voice) for "" or its name, else the path the user gave."""
    if name in ("", NATURAL_VOICE):
        return None
    return Path(name).expanduser()
