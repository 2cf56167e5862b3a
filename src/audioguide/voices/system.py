"""The system voice: espeak-ng's command line where it is the engine (Linux, espeak.py), else
pyttsx3 (SAPI5 on Windows, NSSpeech on macOS) in one long-lived spawned worker process, with the
engine's failures and quirks handled.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from ..audio import Samples, fade_edges, pcm16_to_float, resample, silence
from ..errors import VoiceError
from ..files import keep
from ..options import DEFAULT_RATE
from .clips import (
    MAX_CHUNK_CHARS,
    VoiceInfo,
    check_clip,
    check_rate,
    split_text,
    stopped,
    too_long,
    trim_silence,
)
from .espeak import EspeakCommand, espeak_program
from .system_worker import worker_main

UTTERANCE_TIMEOUT_S: Final = 60.0
"""A 4,000-character chunk takes about a second; a minute means the engine is stuck."""
START_TIMEOUT_S: Final = 60.0
STOP_GRACE_S: Final = 2.0
ESPEAK_CHUNK_CHARS: Final = 333
"""espeak-ng reads its input 999 bytes at a time and speaks each piece as an utterance of its own,
cutting a word where the bytes end (its command and the speaker alike). Chunks of at most 333
characters, cut at sentence ends (split_text), are at most 999 bytes in any script a voice reads
(3 bytes a character at most; emoji, the 4-byte ones, are left out before)."""

Engine = Literal["espeak-ng", "pyttsx3"]


class SystemVoice:
    """espeak-ng's command line where espeak-ng is the engine; else pyttsx3 in one long-lived
    worker process, started on first use (`engine` chooses; None: the platform's).

    pyttsx3 is not thread-safe and a process forked after `pyttsx3.init()` hangs, so it lives in a
    spawned process; this process never imports pyttsx3.
    """

    def __init__(
        self,
        name: str | None = None,
        rate: int = DEFAULT_RATE,
        *,
        timeout_s: float = UTTERANCE_TIMEOUT_S,
        known_ids: Path | None = None,
        engine: Engine | None = None,
    ) -> None:
        check_rate(rate)
        program = espeak_program() if engine != "pyttsx3" else None
        if engine == "espeak-ng" and program is None:
            raise VoiceError("The system voice needs espeak-ng: sudo apt-get install espeak-ng")
        self._espeak = EspeakCommand(program) if program else None
        self.name = name or None
        self.rate = rate
        self.timeout_s = timeout_s
        self.known_ids = known_ids
        """A file remembering which id each name resolved to, so a build whose clips are all
        cached never starts the engine (1.4 s, measured) just to learn its voice's id."""
        self._worker: _Worker | None = None
        self._voice_id: str | None = None
        self._languages: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return "espeak-ng" if self._espeak else "pyttsx3"

    @property
    def phonemes(self) -> str:
        """What a lexicon entry gives it (lexicon.py): espeak-ng's phoneme letters, which its
        command line reads inside [[...]]; nothing for SAPI5 and NSSpeech (respellings only)."""
        return "espeak" if self._espeak else ""

    @property
    def key(self) -> str:
        # espeak-ng's command line speaks a line as pyttsx3's fresh engine does, its later lines
        # not (up to 500 samples apart): its clips are not pyttsx3's, so not under its key.
        # Clips of a cue over 333 characters, once spoken in pieces cut at 999 bytes: not reused.
        engine = f"espeak-ng/{ESPEAK_CHUNK_CHARS}" if self._espeak else "system"
        return f"{engine}:{self.voice_id}:{self.rate}"

    @property
    def voice_id(self) -> str:
        """The engine's id for the voice asked for (starts the worker on first use, unless the
        same engine resolved the same name before)."""
        if self._voice_id is None:
            known = _KnownIds(self.known_ids, self.name).get()
            if known is not None:
                self._voice_id, self._languages = known
            elif self._espeak:
                self._voice_id = self._espeak.resolve(self.name)
            else:
                self._voice_id = str(self._request(("resolve", self.name), START_TIMEOUT_S, None))
        return self._voice_id

    @property
    def worker_pid(self) -> int | None:
        """The engine's process: pyttsx3's worker, or the espeak-ng speaking now."""
        if self._espeak:
            return self._espeak.pid
        return self._worker.pid if self._worker else None

    def voices(self) -> list[VoiceInfo]:
        if self._espeak:
            return self._espeak.voices()
        rows = self._request(("voices",), START_TIMEOUT_S, None)
        return [VoiceInfo(str(i), str(n), tuple(str(x) for x in langs)) for i, n, langs in rows]

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the voice asked for speaks (`en-gb`), as the engine lists them; () when
        it lists none (then any is assumed)."""
        # Resolving the id may bring the languages with it (from _KnownIds): then the engine is
        # not asked again (measured: warm 63-min build 193 -> 145 MB, `plan` 0.81x the time).
        voice_id = self.voice_id
        if self._languages is None:
            base = voice_id.partition("+")[0]
            self._languages = next((v.languages for v in self.voices() if v.id == base), ())
            _KnownIds(self.known_ids, self.name).put(voice_id, self._languages)
        return self._languages

    def synthesize(self, text: str) -> Samples:
        if not any(ch.isalnum() for ch in text):
            return silence(0)  # nothing to say; espeak would give a silent clip
        wav_rate = 0
        parts: list[Samples] = []
        for chunk in split_text(text, ESPEAK_CHUNK_CHARS if self._espeak else MAX_CHUNK_CHARS):
            wav_rate, pcm = self._speak_chunk(chunk)
            check_clip(trim_silence(pcm, wav_rate), wav_rate, chunk, self.rate)
            parts.append(pcm)
        # Each chunk ends in espeak's sentence pause, so joining them untrimmed sounds natural.
        clip = trim_silence(np.concatenate(parts), wav_rate)
        return fade_edges(resample(clip, wav_rate))

    def twin(self) -> SystemVoice:
        """Another engine process speaking exactly as this one does: the same voice id, rate."""
        other = SystemVoice(
            self.name,
            self.rate,
            timeout_s=self.timeout_s,
            known_ids=self.known_ids,
            engine=self.engine,
        )
        other._voice_id, other._languages = self.voice_id, self._languages
        return other

    def close(self) -> None:
        with self._lock:
            self._stop_worker()
            if self._espeak:
                self._espeak.close()

    def _speak_chunk(self, text: str) -> tuple[int, Samples]:
        """One utterance: (WAV sample rate, samples as the engine made them)."""
        if self._espeak:
            return self._espeak.speak(self.voice_id, self.rate, text, self.timeout_s)
        wav_rate, channels, data = self._request(
            ("speak", self.voice_id, self.rate, text), self.timeout_s, text
        )
        return int(wav_rate), pcm16_to_float(data, int(channels))

    def _request(self, message: tuple[Any, ...], timeout_s: float, text: str | None) -> Any:
        with self._lock:
            if self._worker is None or not self._worker.alive:
                self._stop_worker()  # died while idle: nothing was lost, start afresh
                self._worker = _Worker()
            try:
                return self._worker.request(message, timeout_s)
            except _WorkerFailed as e:
                self._stop_worker(kill=True)
                raise VoiceError(_failure_message(e, timeout_s, text)) from None
            except VoiceError:
                raise  # the worker answered: it is healthy
            except BaseException:
                # Interrupted mid-request (Ctrl-C): the reply would arrive out of step.
                self._stop_worker(kill=True)
                raise

    def _stop_worker(self, kill: bool = False) -> None:
        if self._worker is not None:
            self._worker.stop(kill)
            self._worker = None


class _KnownIds:
    """The ids names resolved to, kept under a fingerprint of the installed engine (its version
    and voice data): another espeak-ng, or other voices, and every name is resolved afresh."""

    def __init__(self, path: Path | None, name: str | None) -> None:
        self.path = path
        self.entry = f"{_engine_fingerprint()}|{name or ''}" if path else None

    def get(self) -> tuple[str, tuple[str, ...]] | None:
        """The id and languages the name resolved to, if this engine resolved it before."""
        value = self._read().get(self.entry or "")
        if not isinstance(value, dict):
            return None
        voice_id, languages = value.get("id"), value.get("languages")
        if not isinstance(voice_id, str) or not isinstance(languages, list):
            return None
        return voice_id, tuple(str(lang) for lang in languages)

    def put(self, voice_id: str, languages: tuple[str, ...]) -> None:
        if self.path is None or self.entry is None or self.entry.startswith("|"):
            return
        known = self._read()
        value = {"id": voice_id, "languages": list(languages)}
        if known.get(self.entry) == value:
            return
        known[self.entry] = value
        with contextlib.suppress(OSError):  # a cache: not remembering costs a second, no more
            keep(self.path, json.dumps(known, indent=1).encode("utf-8"))

    def _read(self) -> dict[str, object]:
        if self.path is None or self.entry is None or self.entry.startswith("|"):
            return {}
        try:
            known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return known if isinstance(known, dict) else {}


@functools.cache
def _engine_fingerprint() -> str:
    """espeak-ng's version, data folder and that folder's modification time; "" where there is
    no espeak-ng command (SAPI5 and NSSpeech resolve through the engine every time)."""
    program = shutil.which("espeak-ng")
    if program is None:
        return ""
    try:
        version = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    data = version.rpartition("Data at:")[2].strip()
    try:
        stamp = os.stat(data).st_mtime_ns if data else 0
    except OSError:
        stamp = 0
    return f"{version} {stamp} {os.environ.get('LANG', '')}"


class _WorkerFailed(Exception):
    def __init__(self, exitcode: int | None, timed_out: bool) -> None:
        super().__init__(exitcode, timed_out)
        self.exitcode = exitcode
        self.timed_out = timed_out


def _failure_message(e: _WorkerFailed, timeout_s: float, text: str | None) -> str:
    return too_long(text, timeout_s) if e.timed_out else stopped(e.exitcode, text)


class _Worker:
    """The parent's handle on the engine process: one request, one reply."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=worker_main, args=(child,), daemon=True, name="audioguide-voice"
        )
        try:
            with _main_script_hidden():
                self._process.start()
        except OSError as e:
            self._conn.close()
            raise VoiceError(
                f"Cannot start the system voice process ({e}): "
                f"free some memory or processes and try again"
            ) from None
        finally:
            child.close()
        # Stops the worker when this handle is dropped, and at interpreter exit.
        self._finalizer = weakref.finalize(self, _stop_process, self._process, self._conn)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def request(self, message: tuple[Any, ...], timeout_s: float) -> Any:
        try:
            self._conn.send(message)
            if not self._conn.poll(timeout_s):
                raise _WorkerFailed(None, timed_out=True)
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(STOP_GRACE_S)
            raise _WorkerFailed(self._process.exitcode, timed_out=False) from None
        if status == "error":
            raise VoiceError(str(payload))
        return payload

    def stop(self, kill: bool = False) -> None:
        """Ask the worker to finish; `kill` when it is busy or stuck and would not hear."""
        if kill and self._process.is_alive():
            self._process.kill()
        self._finalizer()


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """spawn re-runs the parent's main script in the child, so a script without an
    `if __name__ == "__main__":` guard would start the worker again, recursively. The worker needs
    nothing from that script, so for the moment of the start there is none to re-run."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _stop_process(process: BaseProcess, conn: Connection) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(("stop",))
    with contextlib.suppress(OSError, ValueError, AssertionError):
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join(STOP_GRACE_S)
    conn.close()


def list_system_voices() -> list[VoiceInfo]:
    """The system engine's voices (asked in a worker process, never in this one)."""
    voice = SystemVoice()
    try:
        return voice.voices()
    finally:
        voice.close()
