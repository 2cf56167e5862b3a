"""The system voice's speaker where espeak-ng is the engine: libespeak-ng loaded once, then each
line spoken in a process forked from it, so every line starts from the state a fresh espeak-ng
command starts from (libespeak-ng carries state from one utterance to the next: spoken in one
process, 383 of 384 lines came out different from the command's) at a fraction of its cost
(no exec, no loading of the voice's data).

Run by espeak.py as a script of its own (`python -I -S espeak_speaker.py VOICE RATE`), with the
standard library alone: it starts in about 20 ms, and never imports numpy or this package.

Protocol, on stdin and stdout, little-endian: the speaker first writes a frame (below) holding
the sample rate as 4 bytes; then for each request (a 4-byte length and that many bytes of UTF-8
text) one frame: a status byte (0 audio follows, 1 an error message follows), a 4-byte length,
that many bytes (16-bit mono PCM, or the message). EOF on stdin ends it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import struct
import sys

OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
RATE = 1
POS_CHARACTER = 1
FLAGS = 0x1 | 0x100 | 0x1000
"""What `espeak-ng -b 1` speaks with: UTF-8 text, [[phonemes]] read, the pause at the end."""
LINE_BYTES = 999
"""The command reads its stdin with fgets into 1,000 bytes: a longer text is spoken in pieces
of this many bytes, each its own utterance, and so it is here."""
AUDIO, ERROR = 0, 1
PR_SET_PDEATHSIG = 1


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def _frame(status: int, data: bytes) -> None:
    _write(1, struct.pack("<BI", status, len(data)) + data)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read(n: int) -> bytes | None:
    parts, left = [], n
    while left:
        part = os.read(0, left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    lib = ctypes.CDLL(name)
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
    lib.espeak_SetSynthCallback.argtypes = [_Callback]
    return lib


def _speak(lib: ctypes.CDLL, text: bytes, out: int) -> None:
    """In the forked child: the text's samples, written whole to the pipe `out`."""
    pcm: list[bytes] = []

    def collect(wav: ctypes._Pointer[ctypes.c_short], n: int, _events: object) -> int:
        if n > 0:
            pcm.append(ctypes.string_at(wav, n * 2))
        return 0

    callback = _Callback(collect)
    lib.espeak_SetSynthCallback(callback)
    for at in range(0, len(text), LINE_BYTES):
        piece = text[at : at + LINE_BYTES]
        lib.espeak_Synth(piece, len(piece) + 1, 0, POS_CHARACTER, 0, FLAGS, None, None)
    lib.espeak_Synchronize()
    _write(out, b"".join(pcm))


def main(voice: str, rate: int) -> None:
    # Ctrl-C is for the build to handle: it stops the speaker (end of input, or a kill).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        lib = _load()
    except OSError as e:
        _frame(ERROR, f"libespeak-ng could not be loaded ({e})".encode())
        return
    libc = ctypes.CDLL(None, use_errno=True)
    sample_rate = lib.espeak_Initialize(OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_DONT_EXIT)
    if sample_rate <= 0:
        _frame(ERROR, b"espeak-ng could not start (its data is missing)")
        return
    # As the command does: the voice by name, else as a language; then the rate.
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        wanted = _Voice(languages=voice.encode())
        if lib.espeak_SetVoiceByProperties(ctypes.byref(wanted)) != 0:
            _frame(ERROR, f"espeak-ng has no voice {voice!r}".encode())
            return
    lib.espeak_SetParameter(RATE, rate, 0)
    _frame(AUDIO, struct.pack("<I", sample_rate))
    while (head := _read(4)) is not None:
        text = _read(struct.unpack("<I", head)[0])
        if text is None:
            return
        read, write = os.pipe()
        speaker = os.getpid()
        child = os.fork()
        if child == 0:  # the child speaks from the state the command starts from, then goes
            code = 1
            try:
                os.close(read)
                # Killed with the speaker (a line that never ends is stopped by killing it).
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                if os.getppid() == speaker:
                    _speak(lib, text, write)
                    code = 0
            finally:
                os._exit(code)
        os.close(write)
        pcm = bytearray()
        while chunk := os.read(read, 1 << 16):
            pcm += chunk
        os.close(read)
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        if code != 0:
            _frame(ERROR, f"espeak-ng stopped (exit code {code})".encode())
        else:
            _frame(AUDIO, bytes(pcm))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):  # the build went away: nothing to answer
        main(sys.argv[1], int(sys.argv[2]))
