"""The system voice's engine process: pyttsx3 driven in a process of its own, serving requests
from SystemVoice (system.py) over a pipe until told to stop or its parent goes away.
"""

from __future__ import annotations

import difflib
import os
import signal
import sys
import tempfile
import threading
import time
import wave
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import VoiceError
from ..options import DEFAULT_RATE
from .clips import VoiceInfo, shorten

# --- the worker side ---------------------------------------------------------------------------


def worker_main(conn: Connection) -> None:
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
        _, plus, variant = wanted.partition("+")  # espeak variants, e.g. en-us+f3
        voice_id = resolve_base(self._voices, wanted)
        if plus:
            voice_id = f"{voice_id}+{variant.strip()}"
            self._configure(voice_id, DEFAULT_RATE)
            if str(self._engine.getProperty("voice")).lower() != voice_id.lower():
                raise unknown_variant(wanted)
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


def resolve_base(voices: list[VoiceInfo], wanted: str) -> str:
    """The id of the voice `wanted` names before any `+variant`: an id, its last part, a name or
    a language; a region espeak has no voice for (es-MX, de-AT) gets the language's own."""
    base = wanted.partition("+")[0].strip()
    voice_id = _match_voice(voices, base)
    if voice_id is None and "-" in base:
        voice_id = _match_voice(voices, base.partition("-")[0])
    if voice_id is not None:
        return voice_id
    hint = difflib.get_close_matches(
        base,
        [v.id for v in voices] + [v.id.rpartition("/")[2] for v in voices],
        n=1,
        cutoff=0.75,  # "en-uss" finds en-us; "nope" should not suggest "ne"
    )
    also = f" (did you mean {hint[0]}?)" if hint else ""
    raise VoiceError(
        f"Unknown system voice '{wanted}'{also}: run `audioguide voices` to "
        f"list them, then use e.g. --voice system:en-us"
    )


def unknown_variant(wanted: str) -> VoiceError:
    variant = wanted.partition("+")[2]
    return VoiceError(
        f"Unknown voice variant '+{variant}' in '{wanted}': use one from "
        f"`espeak-ng --voices=variant`, e.g. +f3, or leave it out"
    )


def _match_voice(voices: list[VoiceInfo], wanted: str) -> str | None:
    # espeak-ng's command line writes a name's spaces as underscores: either spelling finds it.
    w = wanted.casefold()
    tests = (
        lambda v: v.id.casefold() == w,
        lambda v: v.id.rpartition("/")[2].casefold() == w,
        lambda v: v.name.casefold().replace("_", " ") == w.replace("_", " "),
        lambda v: any(lang.casefold() == w for lang in v.languages),
    )
    for test in tests:
        for v in voices:
            if test(v):
                return v.id
    return None
