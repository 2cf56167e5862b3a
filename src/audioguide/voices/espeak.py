"""The system voice where espeak-ng is the engine (Linux): libespeak-ng in a speaker process of
its own (espeak_speaker.py), which forks a child for each line, so the same line gives the same
samples in any process, and they are the samples espeak-ng's command line gives (tested on every
bundled routine's lines); the command itself where the library cannot be loaded.

Measured against pyttsx3's worker (system_worker.py) on the same lines: the command line's clip of
a line equals the one pyttsx3 gives as the first utterance of a fresh engine; pyttsx3's later
utterances of it differ by up to 500 samples (state carried from one utterance to the next, which
is why the speaker forks). A line costs the speaker about 4.5 ms (a fork of it 1.4 ms, speaking
about 2 ms) against the command's 9 ms (a process started, its voice data read), and both against
pyttsx3's ~3x espeak-ng's own time. The lines of one call to the command cannot be told apart in
its one WAV stream; the speaker answers each line on its own.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil
import struct
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Final

from ..audio import Samples, pcm16_to_float
from ..errors import VoiceError
from .clips import VoiceInfo, shorten, stopped, too_long
from .system_worker import resolve_base, unknown_variant

DEFAULT_VOICE: Final = "en"
"""What espeak-ng speaks with no voice named (gmw/en, as pyttsx3's default)."""
LIST_TIMEOUT_S: Final = 30.0
START_TIMEOUT_S: Final = 30.0
SPEAKER: Final = Path(__file__).with_name("espeak_speaker.py")
STOP_GRACE_S: Final = 2.0


def espeak_program() -> str | None:
    """The espeak-ng command where it is the system voice's engine (not on Windows or macOS,
    where pyttsx3 speaks through SAPI5 or NSSpeech), else None."""
    if sys.platform in ("win32", "darwin"):
        return None
    return shutil.which("espeak-ng")


class EspeakCommand:
    """espeak-ng: voices listed by its command line, lines spoken by its library in a speaker
    process (started on first use, one voice at one rate: another starts one afresh), or by the
    command where the library cannot be loaded."""

    def __init__(self, program: str) -> None:
        self.program = program
        self._speaker: _Speaker | None = None
        self._running: subprocess.Popen[bytes] | None = None
        self._library = True

    @property
    def pid(self) -> int | None:
        """The process speaking, if any: the speaker, or the command speaking now."""
        for process in (self._speaker.process if self._speaker else None, self._running):
            if process is not None and process.poll() is None:
                return process.pid
        return None

    def voices(self) -> list[VoiceInfo]:
        return _voices(self.program)

    def resolve(self, wanted: str | None) -> str:
        """A voice id for what the user typed: an id, its last part, a name or a language, with
        an espeak variant (+f3) kept when espeak-ng has it."""
        voice_id = resolve_base(self.voices(), wanted or DEFAULT_VOICE)
        _, plus, variant = (wanted or "").partition("+")
        if not plus:
            return voice_id
        # espeak-ng speaks on, unchanged, with a variant it has not got: check the list.
        if variant.strip() not in _variants(self.program):
            raise unknown_variant(wanted or "")
        return f"{voice_id}+{variant.strip()}"

    def speak(self, voice_id: str, rate: int, text: str, timeout_s: float) -> tuple[int, Samples]:
        """One utterance: (WAV sample rate, samples as espeak-ng made them)."""
        speaker = self._speaker_for(voice_id, rate) if self._library else None
        if speaker is None:
            return self._speak_command(voice_id, rate, text, timeout_s)
        try:
            return speaker.sample_rate, pcm16_to_float(speaker.speak(text, timeout_s))
        except BaseException:
            self.close(kill=True)  # failed, timed out or interrupted mid-line: no reply awaited
            raise

    def close(self, kill: bool = False) -> None:
        if self._speaker is not None:
            self._speaker.stop(kill)
            self._speaker = None

    def _speaker_for(self, voice_id: str, rate: int) -> _Speaker | None:
        if self._speaker is not None and self._speaker.speaks(voice_id, rate):
            return self._speaker
        self.close()
        try:
            self._speaker = _Speaker(voice_id, rate)
        except _NoLibrary:
            self._library = False  # the command line, from now on
        return self._speaker

    def _speak_command(
        self, voice_id: str, rate: int, text: str, timeout_s: float
    ) -> tuple[int, Samples]:
        """The text on the command's stdin (as UTF-8, whatever the locale), so one starting
        with "-" is not an option."""
        command = [self.program, "-b", "1", "-v", voice_id, "-s", str(rate), "--stdout"]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as e:
            raise VoiceError(_cannot_start(e)) from None
        with process:  # its pipes closed and the process waited for, whatever happens
            self._running = process
            try:
                out, err = process.communicate(text.encode("utf-8"), timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise VoiceError(too_long(text, timeout_s)) from None
            finally:
                # Stopped whatever happened (a timeout, Ctrl-C): no process outlives its line.
                if process.poll() is None:
                    process.kill()
                self._running = None
        if process.returncode != 0 or not out:
            raise VoiceError(_failure(process.returncode, err, text))
        return _read_wav(out, text)


class _NoLibrary(Exception):
    """libespeak-ng could not be loaded or started: the command line speaks instead."""


class _Speaker:
    """The speaker process (espeak_speaker.py) for one voice at one rate."""

    def __init__(self, voice_id: str, rate: int) -> None:
        self.voice_id, self.rate = voice_id, rate
        # -I -S: the standard library alone, whatever the environment says (starts in ~20 ms).
        # What goes wrong comes back in its replies: its stderr, never read, is not a pipe.
        command = [sys.executable, "-I", "-S", str(SPEAKER), voice_id, str(rate)]
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except OSError as e:
            raise VoiceError(_cannot_start(e)) from None
        # Stopped when this handle is dropped, and at interpreter exit.
        self._finalizer = weakref.finalize(self, _stop, self.process)
        try:
            status, data = self._reply(START_TIMEOUT_S)
        except TimeoutError:
            self.stop(kill=True)
            raise VoiceError(too_long(None, START_TIMEOUT_S)) from None
        except _Stopped:
            code = self.process.wait()
            self.stop()
            if code < 0:  # killed: said, not hidden behind the command line
                raise VoiceError(_failure(code, b"", None)) from None
            raise _NoLibrary() from None
        if status != 0 or len(data) != 4:
            self.stop()
            raise _NoLibrary()  # libespeak-ng missing, or without the voice: the command says
        self.sample_rate: int = struct.unpack("<I", data)[0]

    def speaks(self, voice_id: str, rate: int) -> bool:
        return (self.voice_id, self.rate) == (voice_id, rate) and self.process.poll() is None

    def speak(self, text: str, timeout_s: float) -> bytes:
        """The text's 16-bit samples."""
        data = text.encode("utf-8")
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(struct.pack("<I", len(data)) + data)
            self.process.stdin.flush()
            status, reply = self._reply(timeout_s)
        except TimeoutError:  # before OSError, which it is
            raise VoiceError(too_long(text, timeout_s)) from None
        except (_Stopped, OSError):
            self.process.kill()
            raise VoiceError(_failure(self.process.wait(), b"", text)) from None
        if status != 0 or not reply:
            said = reply.decode("utf-8", "replace") if status else ""
            raise VoiceError(_failure(0, said.encode(), text))
        return reply

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()  # its child, if speaking, dies with it (PR_SET_PDEATHSIG)
        self._finalizer()

    def _reply(self, timeout_s: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout_s
        status, size = struct.unpack("<BI", self._read(5, deadline))
        return status, self._read(size, deadline)

    def _read(self, n: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd, parts = self.process.stdout.fileno(), []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError()
            part = os.read(fd, min(n, 1 << 20))
            if not part:
                raise _Stopped()
            parts.append(part)
            n -= len(part)
        return b"".join(parts)


class _Stopped(Exception):
    """The speaker closed its end: it stopped."""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End of input asks the speaker to finish; one that does not is killed (its child, if it is
    speaking, dies with it)."""
    with contextlib.suppress(OSError):
        if process.stdin:
            process.stdin.close()
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def _cannot_start(e: OSError) -> str:
    return f"Cannot start espeak-ng ({e}): free some memory or processes and try again"


def _failure(code: int, err: bytes, text: str | None) -> str:
    if code < 0 or text is None:
        return stopped(code, text)
    said = err.decode("utf-8", "replace").strip().splitlines()
    why = f" ({said[-1]})" if said else ""
    return (
        f"The system voice gave no audio for {shorten(text)}{why}: try again, or choose "
        f"another voice (`audioguide voices`)"
    )


def _read_wav(data: bytes, text: str) -> tuple[int, Samples]:
    """espeak-ng's WAV on stdout: a stream, so its sizes are placeholders; the samples are what
    follows the data chunk's header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise VoiceError(f"The system voice wrote no WAV for {shorten(text)}: reinstall espeak-ng")
    at, rate, channels = 12, 0, 1
    while at + 8 <= len(data):
        chunk, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, at + 8)
            if bits != 16:
                raise VoiceError(
                    f"The system voice wrote {bits}-bit audio, not 16-bit: reinstall espeak-ng"
                )
        elif chunk == b"data":
            return rate, pcm16_to_float(data[at + 8 :], channels)
        at += 8 + size
    raise VoiceError(f"The system voice wrote no audio for {shorten(text)}: reinstall espeak-ng")


@functools.cache
def _voices(program: str) -> list[VoiceInfo]:
    """`espeak-ng --voices`, as pyttsx3 lists them: the file is the id (lower case), the first
    language alone. The command line writes a name's spaces as underscores (English_(America))."""
    rows = _run_listing(program, "--voices")
    return [
        VoiceInfo(cells[4].lower(), cells[3].replace("_", " "), (cells[1],))
        for cells in (row.split() for row in rows)
        if len(cells) >= 5
    ]


@functools.cache
def _variants(program: str) -> frozenset[str]:
    """The variants' names (f3, klatt), from their files `!v/f3`."""
    rows = _run_listing(program, "--voices=variant")
    return frozenset(c[4].rpartition("/")[2] for c in (r.split() for r in rows) if len(c) >= 5)


def _run_listing(program: str, option: str) -> list[str]:
    try:
        listing = subprocess.run(
            [program, option], capture_output=True, text=True, timeout=LIST_TIMEOUT_S, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise VoiceError(
            f"espeak-ng could not list its voices ({e}): reinstall it (sudo apt-get install "
            f"--reinstall espeak-ng)"
        ) from None
    return listing.splitlines()[1:]  # below the header
