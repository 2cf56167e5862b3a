"""The system voice: pyttsx3 (espeak-ng on Linux, SAPI5 on Windows, NSSpeech on macOS) in one
long-lived spawned worker process, with the engine's failures and quirks handled.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final

import numpy as np

from .audio import Samples, fade_edges, pcm16_to_float, resample, silence
from .clips import (
    DEFAULT_RATE,
    VoiceInfo,
    check_clip,
    check_rate,
    shorten,
    split_text,
    trim_silence,
)
from .errors import VoiceError

UTTERANCE_TIMEOUT_S: Final = 60.0
"""A 4,000-character chunk takes about a second; a minute means the engine is stuck."""
START_TIMEOUT_S: Final = 60.0
STOP_GRACE_S: Final = 2.0


class SystemVoice:
    """pyttsx3 in one long-lived worker process, started on first use.

    The engine is not thread-safe and a process forked after `pyttsx3.init()` hangs, so it lives
    in a spawned process; this process never imports pyttsx3.
    """

    def __init__(
        self,
        name: str | None = None,
        rate: int = DEFAULT_RATE,
        *,
        timeout_s: float = UTTERANCE_TIMEOUT_S,
        known_ids: Path | None = None,
    ) -> None:
        check_rate(rate)
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
    def key(self) -> str:
        return f"system:{self.voice_id}:{self.rate}"

    @property
    def voice_id(self) -> str:
        """The engine's id for the voice asked for (starts the worker on first use, unless the
        same engine resolved the same name before)."""
        if self._voice_id is None:
            known = _KnownIds(self.known_ids, self.name).get()
            if known is not None:
                self._voice_id, self._languages = known
            else:
                self._voice_id = str(self._request(("resolve", self.name), START_TIMEOUT_S, None))
        return self._voice_id

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker else None

    def voices(self) -> list[VoiceInfo]:
        rows = self._request(("voices",), START_TIMEOUT_S, None)
        return [VoiceInfo(str(i), str(n), tuple(str(x) for x in langs)) for i, n, langs in rows]

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the voice asked for speaks (`en-gb`), as the engine lists them; () when
        it lists none (then any is assumed)."""
        if self._languages is None:
            base = self.voice_id.partition("+")[0]
            self._languages = next((v.languages for v in self.voices() if v.id == base), ())
            _KnownIds(self.known_ids, self.name).put(self.voice_id, self._languages)
        return self._languages

    def synthesize(self, text: str) -> Samples:
        if not any(ch.isalnum() for ch in text):
            return silence(0)  # nothing to say; espeak would give a silent clip
        wav_rate = 0
        parts: list[Samples] = []
        for chunk in split_text(text):
            wav_rate, pcm = self._speak_chunk(chunk)
            check_clip(trim_silence(pcm, wav_rate), wav_rate, chunk, self.rate)
            parts.append(pcm)
        # Each chunk ends in espeak's sentence pause, so joining them untrimmed sounds natural.
        clip = trim_silence(np.concatenate(parts), wav_rate)
        return fade_edges(resample(clip, wav_rate))

    def twin(self) -> SystemVoice:
        """Another engine process speaking exactly as this one does: the same voice id, rate."""
        other = SystemVoice(
            self.name, self.rate, timeout_s=self.timeout_s, known_ids=self.known_ids
        )
        other._voice_id, other._languages = self.voice_id, self._languages
        return other

    def close(self) -> None:
        with self._lock:
            self._stop_worker()

    def _speak_chunk(self, text: str) -> tuple[int, Samples]:
        """One utterance: (WAV sample rate, samples as the engine made them)."""
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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)

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
    what = f"speaking {shorten(text)}" if text else "starting"
    if e.timed_out:
        return (
            f"The system voice took over {timeout_s:g} s {what} and was stopped: "
            f"try again, or split the text into shorter cues"
        )
    return (
        f"The system voice stopped unexpectedly (exit code {e.exitcode}) while {what}: "
        f"try again; if it happens again, choose another voice (`audioguide voices`)"
    )


class _Worker:
    """The parent's handle on the engine process: one request, one reply."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_worker_main, args=(child,), daemon=True, name="audioguide-voice"
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


# --- the worker side ---------------------------------------------------------------------------


def _worker_main(conn: Connection) -> None:
    """Entry point of the engine process: serve requests until "stop" or the parent goes away."""
    _silence_stdout()
    # Ctrl-C reaches the whole process group; the parent decides what to do with this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine: _Engine | None = None
    with tempfile.TemporaryDirectory(prefix="audioguide-voice-") as tmp:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return
            if request[0] == "stop":
                return
            try:
                if engine is None:
                    engine = _Engine(Path(tmp))
                reply: tuple[str, Any] = ("ok", engine.handle(request))
            except VoiceError as e:
                reply = ("error", str(e))
            except Exception as e:  # the engine's own failures become one line for the user
                reply = (
                    "error",
                    f"The system voice failed ({type(e).__name__}: {e}): try "
                    f"again, or choose another voice (`audioguide voices`)",
                )
            conn.send(reply)


def _silence_stdout() -> None:
    # pyttsx3 prints "Audio saved to ..." for every clip; the user's terminal is not its log.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _open_pyttsx3() -> Any:
    """pyttsx3's engine, with its failures turned into what to install."""
    try:
        import pyttsx3
    except ImportError:
        raise VoiceError(
            "The system voice needs the pyttsx3 package: pip install pyttsx3"
        ) from None
    try:
        return pyttsx3.init()
    except (OSError, RuntimeError, ImportError) as e:
        if sys.platform.startswith("linux"):
            raise VoiceError(
                "The system voice needs espeak-ng: sudo apt-get install espeak-ng libespeak-ng1"
            ) from None
        raise VoiceError(
            f"The system voice could not start ({e}): use --voice fake, or reinstall pyttsx3"
        ) from None


class _Engine:
    """pyttsx3 driven one utterance at a time, working around what it gets wrong."""

    def __init__(self, tmp: Path) -> None:
        self._engine = _open_pyttsx3()
        self._wav = tmp / "utterance.wav"
        self._finished = threading.Event()
        self._completed = True
        self._errors: list[str] = []
        self._engine.connect("finished-utterance", self._on_finished)
        self._engine.connect("error", self._on_error)
        # An empty run leaves the driver idle, so later setProperty calls apply at once
        # (before it they are queued and getProperty still reports the old value).
        self._engine.runAndWait()
        self._default_voice = str(self._engine.getProperty("voice"))
        self._voices = [
            VoiceInfo(str(v.id), str(v.name), tuple(str(lang) for lang in (v.languages or ())))
            for v in self._engine.getProperty("voices")
        ]
        self._settings: tuple[str, int] | None = None

    def handle(self, request: tuple[Any, ...]) -> Any:
        if request[0] == "resolve":
            return self._resolve(request[1])
        if request[0] == "voices":
            return [(v.id, v.name, v.languages) for v in self._voices]
        if request[0] == "speak":
            return self._speak(str(request[1]), int(request[2]), str(request[3]))
        raise ValueError(f"unknown request {request[0]!r}")

    def _on_finished(self, name: object = None, completed: bool = True) -> None:
        self._completed = self._completed and bool(completed)
        self._finished.set()

    def _on_error(self, name: object = None, exception: object = None) -> None:
        self._errors.append(str(exception))

    def _resolve(self, wanted: str | None) -> str:
        """A voice id for what the user typed: an id, its last part, a name or a language."""
        if not wanted:
            return self._default_voice
        base, plus, variant = wanted.partition("+")  # espeak variants, e.g. en-us+f3
        voice_id = _match_voice(self._voices, base.strip())
        if voice_id is None and "-" in base:
            # A region espeak has no voice for (es-MX, de-AT) is spoken by the language's own.
            voice_id = _match_voice(self._voices, base.strip().partition("-")[0])
        if voice_id is None:
            hint = difflib.get_close_matches(
                base,
                [v.id for v in self._voices] + [v.id.rpartition("/")[2] for v in self._voices],
                n=1,
                cutoff=0.75,  # "en-uss" finds en-us; "nope" should not suggest "ne"
            )
            also = f" (did you mean {hint[0]}?)" if hint else ""
            raise VoiceError(
                f"Unknown system voice '{wanted}'{also}: run `audioguide voices` to "
                f"list them, then use e.g. --voice system:en-us"
            )
        if plus:
            voice_id = f"{voice_id}+{variant.strip()}"
            self._configure(voice_id, DEFAULT_RATE)
            if str(self._engine.getProperty("voice")).lower() != voice_id.lower():
                raise VoiceError(
                    f"Unknown voice variant '+{variant}' in '{wanted}': use one from "
                    f"`espeak-ng --voices=variant`, e.g. +f3, or leave it out"
                )
        return voice_id

    def _configure(self, voice_id: str, rate: int) -> None:
        if self._settings == (voice_id, rate):
            return
        self._errors.clear()
        self._engine.setProperty("voice", voice_id)
        self._engine.setProperty("rate", rate)
        if self._errors:
            self._settings = None
            raise VoiceError(
                f"The system voice cannot use voice '{voice_id}' "
                f"({self._errors[0]}): choose another; `audioguide voices` lists them"
            )
        self._settings = (voice_id, rate)

    def _speak(self, voice_id: str, rate: int, text: str) -> tuple[int, int, bytes]:
        for _ in range(3):
            self._configure(voice_id, rate)
            result = self._utter(text)
            if result is not None:
                return result
            # Cancelled: espeak dropped its queue, settings included, so apply them again.
            self._settings = None
        raise VoiceError(
            f"The system voice gave no audio for {shorten(text)}: try again, or "
            f"choose another voice (`audioguide voices`)"
        )

    def _utter(self, text: str) -> tuple[int, int, bytes] | None:
        """One save_to_file per runAndWait: with more queued, only the last is written."""
        # espeak queues a rate change like an utterance; runAndWait cancels whatever espeak is
        # still busy with (the rate, or the end of the last clip), so start only when idle.
        # Measured without this wait: 254 of 300 utterances after a rate change were cancelled.
        _wait_until_idle()
        self._wav.unlink(missing_ok=True)
        self._finished.clear()
        self._completed = True
        self._errors.clear()
        self._engine.save_to_file(text, str(self._wav))
        self._engine.runAndWait()
        # runAndWait can return while espeak's thread is still writing; the parent's timeout
        # covers an event that never comes.
        self._finished.wait()
        _wait_until_idle()  # the WAV is written before the event, but espeak may still be busy
        if self._errors:
            raise VoiceError(
                f"The system voice failed on {shorten(text)} ({self._errors[0]}): "
                f"try again, or choose another voice (`audioguide voices`)"
            )
        if not self._completed or not self._wav.exists():
            return None
        with wave.open(str(self._wav), "rb") as w:
            if w.getsampwidth() != 2:
                raise VoiceError(
                    f"The system voice wrote {8 * w.getsampwidth()}-bit audio, not "
                    f"16-bit: choose another voice (`audioguide voices`)"
                )
            frames = w.readframes(w.getnframes())
            rate, channels = w.getframerate(), w.getnchannels()
        self._wav.unlink()
        return (rate, channels, frames) if frames else None


def _wait_until_idle() -> None:
    """Until espeak's own thread has nothing queued (IsPlaying covers its command queue too).

    While it is busy, pyttsx3's runAndWait calls espeak_Cancel, which drops queued settings and
    the new utterance (an empty WAV, or a clip at the wrong rate)."""
    if sys.platform in ("win32", "darwin"):
        return
    from pyttsx3.drivers import _espeak

    while _espeak.IsPlaying():
        time.sleep(0.002)


def _match_voice(voices: list[VoiceInfo], wanted: str) -> str | None:
    w = wanted.casefold()
    tests = (
        lambda v: v.id.casefold() == w,
        lambda v: v.id.rpartition("/")[2].casefold() == w,
        lambda v: v.name.casefold() == w,
        lambda v: any(lang.casefold() == w for lang in v.languages),
    )
    for test in tests:
        for v in voices:
            if test(v):
                return v.id
    return None
