"""The system voice where espeak-ng is the engine (Linux): its command line, one fresh process per
chunk of text, so the same line gives the same samples in any process.

Measured against pyttsx3's worker (system_worker.py) on the same lines: the command line's clip of
a line equals the one pyttsx3 gives as the first utterance of a fresh engine; pyttsx3's later
utterances of it differ by up to 500 samples (state carried from one utterance to the next). A
process per line costs about 7 ms to start (20 lines: 0.19 s one process each, 0.05 s all in one
process) against pyttsx3's ~3x espeak-ng's own time; the lines of one call cannot be told apart
in its one WAV stream, so the batch is spread over processes running side by side instead
(cache.py's twin).
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
import sys
from typing import Final

from ..audio import Samples, pcm16_to_float
from ..errors import VoiceError
from .clips import VoiceInfo, shorten
from .system_worker import resolve_base, unknown_variant

DEFAULT_VOICE: Final = "en"
"""What espeak-ng speaks with no voice named (gmw/en, as pyttsx3's default)."""
LIST_TIMEOUT_S: Final = 30.0


def espeak_program() -> str | None:
    """The espeak-ng command where it is the system voice's engine (not on Windows or macOS,
    where pyttsx3 speaks through SAPI5 or NSSpeech), else None."""
    if sys.platform in ("win32", "darwin"):
        return None
    return shutil.which("espeak-ng")


class EspeakCommand:
    """espeak-ng's command line: voices listed and lines spoken, each in a process of its own."""

    def __init__(self, program: str) -> None:
        self.program = program
        self._running: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process speaking now, if any."""
        running = self._running
        return running.pid if running is not None else None

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
        """One utterance: (WAV sample rate, samples as espeak-ng made them). The text goes in on
        stdin (as UTF-8, whatever the locale), so one starting with "-" is not an option."""
        command = [self.program, "-b", "1", "-v", voice_id, "-s", str(rate), "--stdout"]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as e:
            raise VoiceError(
                f"Cannot start espeak-ng ({e}): free some memory or processes and try again"
            ) from None
        with process:  # its pipes closed and the process waited for, whatever happens
            self._running = process
            try:
                out, err = process.communicate(text.encode("utf-8"), timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise VoiceError(
                    f"The system voice took over {timeout_s:g} s speaking {shorten(text)} and "
                    f"was stopped: try again, or split the text into shorter cues"
                ) from None
            finally:
                # Stopped whatever happened (a timeout, Ctrl-C): no process outlives its line.
                if process.poll() is None:
                    process.kill()
                self._running = None
        if process.returncode != 0 or not out:
            raise VoiceError(_failure(process.returncode, err, text))
        return _read_wav(out, text)


def _failure(code: int, err: bytes, text: str) -> str:
    if code < 0:
        return (
            f"The system voice stopped unexpectedly (exit code {code}) while speaking "
            f"{shorten(text)}: try again; if it happens again, choose another voice "
            f"(`audioguide voices`)"
        )
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
