"""The speech cache: every clip kept on disk under a hash of (format, voice, text as the engine is
given it), so a rebuild speaks only what changed; and a voice that times text without speaking,
for `audioguide list`.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ..audio import Samples, to_samples
from ..errors import VoiceError
from ..files import keep
from ..options import DEFAULT_RATE
from .clips import Voice, sayable
from .lexicon import NO_LEXICON, Form, Lexicon
from .system import SystemVoice

CACHE_ENV: Final = "AUDIOGUIDE_CACHE_DIR"
CACHE_FORMAT: Final = "audioguide-speech-v1"
"""Part of every cache key: bump it when the post-processing changes what a clip holds."""
LOUDNESS_MEMO: Final = "loudness.json"
"""The clips' measured loudness, which sound.levels keeps in the cache folder beside them."""
TWIN_MIN_CLIPS: Final = 8
"""New clips worth a second engine process for: espeak-ng's speaker starts in about 30 ms and
says a line in about 5 (pyttsx3's worker takes longer to start, and longer a line)."""


class _Counts:
    """Clips served from the cache and spoken, shared by a voice and its views (`pronouncing`)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()


class CachedVoice:
    """Any Voice, with each clip kept on disk under a hash of (format, voice key, text), the text
    as the lexicon has the engine say it."""

    def __init__(
        self,
        inner: Voice,
        cache_dir: Path,
        lexicon: Lexicon = NO_LEXICON,
        *,
        _of: CachedVoice | None = None,
    ) -> None:
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        self.lexicon = lexicon
        # An engine speaks one line at a time (the system voice's is a process behind a pipe):
        # threads that share this voice, or a view of it, take turns at it, and at the counts.
        self._engine: threading.Lock = _of._engine if _of else threading.Lock()
        self._counts: _Counts = _of._counts if _of else _Counts()
        self._views: dict[Lexicon, CachedVoice] = _of._views if _of else {}

    @property
    def hits(self) -> int:
        return self._counts.hits

    @property
    def misses(self) -> int:
        return self._counts.misses

    @property
    def key(self) -> str:
        return self.inner.key

    @property
    def form(self) -> Form:
        """The phonemes its engine reads (lexicon.py): declared by the engine's class."""
        form: Form = getattr(self.inner, "phonemes", "")
        return form

    def pronouncing(self, lexicon: Lexicon) -> CachedVoice:
        """This voice saying words as `lexicon` says: the same engine, cache and counts (one
        view per lexicon, kept, so a session's sessions share it)."""
        if lexicon == self.lexicon:
            return self
        with self._counts.lock:
            if lexicon not in self._views:
                self._views[lexicon] = CachedVoice(self.inner, self.cache_dir, lexicon, _of=self)
            return self._views[lexicon]

    def said(self, text: str) -> str:
        """The text as its engine is given it: the lexicon applied, symbols left out."""
        return sayable(self.lexicon.apply(text, self.form))

    def path_for(self, text: str, recipe: str = "") -> Path:
        # A line no entry touches keeps the key it always had; one an entry changes is keyed by
        # what the engine is given, so editing an entry speaks again only the lines it touches.
        applied = self.lexicon.apply(text, self.form)
        said = text if applied == text else f"said:{applied}"
        parts = (CACHE_FORMAT, self.inner.key, said, *((recipe,) if recipe else ()))
        h = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        return self.cache_dir / h[:2] / f"{h}.npy"

    def synthesize(self, text: str) -> Samples:
        path = self.path_for(text)
        clip = _load_clip(path)
        if clip is not None:
            self._count(hits=1)
            return clip
        self._count(misses=1)
        with self._engine:
            clip = self.inner.synthesize(self.said(text))
        self._keep(path, clip)
        return clip

    def _count(self, hits: int = 0, misses: int = 0) -> None:
        with self._counts.lock:
            self._counts.hits += hits
            self._counts.misses += misses

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
            length = _clip_length(self.path_for(text))
            if length is not None:
                self._count(hits=1)
                lengths[text] = length
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
                    if voice is self.inner:
                        with self._engine:
                            clip = voice.synthesize(self.said(text))
                    else:
                        clip = voice.synthesize(self.said(text))
                    self._keep(self.path_for(text), clip)
                except BaseException:
                    stop.set()  # the other engine stops after its current line
                    raise
                self._count(misses=1)
                with lock:
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
        data = io.BytesIO()
        np.save(data, clip.astype(np.float32, copy=False), allow_pickle=False)
        try:
            keep(path, data.getvalue())
        except OSError as e:
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
    """A voice that never speaks: each clip is silence as long as the cached one where there is
    one, else as long as the text would take. For timing many routines at once (`audioguide
    list`) on a machine that has not spoken them yet, and a studio's plan as its user types."""

    def __init__(self, inner: CachedVoice, rate: int = DEFAULT_RATE) -> None:
        self.inner = inner
        self.rate = rate
        self.estimated = 0
        """How many clips were guessed rather than read from the cache."""

    @property
    def key(self) -> str:
        return self.inner.key

    def synthesize(self, text: str) -> Samples:
        # Only the length is used: read from the header (a studio plans a 20-minute routine on
        # every edit, and loading its 64 clips was 35 of its 130 ms).
        length = _clip_length(self.inner.path_for(text))
        if length is not None:
            return np.zeros(length, np.float32)
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


def _clip_length(path: Path) -> int | None:
    """A cached clip's length in samples, from its .npy header alone (the plan needs no more:
    a 66-minute plan read 9 MB of clips for their lengths), or None when it is missing or
    damaged (a file whose size is not the header's promise): then it is made again."""
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                return None
            offset = f.tell()
        size = path.stat().st_size
    except (OSError, ValueError, EOFError):
        return None
    if dtype != np.float32 or len(shape) != 1 or not shape[0] or fortran:
        return None
    return int(shape[0]) if size == offset + 4 * shape[0] else None


def default_cache_dir() -> Path:
    """$AUDIOGUIDE_CACHE_DIR, else the per-user cache directory's "speech" folder."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("audioguide")) / "speech"


@dataclass(frozen=True)
class CacheSize:
    folder: Path
    clips: int
    """Spoken clips, raw and levelled (each line is kept both ways)."""
    size_bytes: int
    """Everything the cache holds: clips, the loudness memo, a killed run's temp files."""


def _cache_files(folder: Path) -> list[Path]:
    """The files in `folder` that the cache made, and no other: `--cache-dir` may name a folder
    that holds the user's own files too, and clearing must never touch those."""
    files = [p for p in folder.glob("[0-9a-f][0-9a-f]/*") if _clip_file(p)]
    memo = folder / LOUDNESS_MEMO
    return [*files, memo] if memo.is_file() else files


def _clip_file(path: Path) -> bool:
    name = path.name
    return path.is_file() and (
        name.endswith(".npy") or (name.startswith(".") and name.endswith(".part"))
    )


def cache_size(folder: Path) -> CacheSize:
    """How much the speech cache in `folder` holds."""
    files = _cache_files(folder)
    clips = sum(1 for p in files if p.suffix == ".npy")
    return CacheSize(folder, clips, sum(_size(p) for p in files))


def clear_cache(folder: Path) -> CacheSize:
    """Remove every clip the cache holds (the next build speaks them again); what it held."""
    before = cache_size(folder)
    try:
        for path in _cache_files(folder):
            path.unlink(missing_ok=True)
        for sub in folder.glob("[0-9a-f][0-9a-f]"):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
    except OSError as e:
        raise VoiceError(
            f"cannot clear the speech cache {folder}: {e.strerror or e}; check its permissions"
        ) from None
    return before


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # removed by a build meanwhile
        return 0
