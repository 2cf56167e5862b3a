"""What every voice shares: the Voice protocol, and the post-processing of a clip (split long text,
trim padding, refuse a silent or truncated clip), pure so it is tested without an engine.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from ..audio import Samples
from ..errors import VoiceError
from ..options import DEFAULT_RATE, MAX_RATE, MIN_RATE

MAX_CHUNK_CHARS: Final = 4_000
"""Measured: a plain pyttsx3 script segfaults on one 14,000-character utterance, and one long
utterance costs ~1 s per 1,000 characters (30,000: 32 s) against ~0.2 s in 4,000-char chunks."""

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


def sayable(text: str) -> str:
    """The text as a voice is given it: emoji and symbols left out (an engine names them, in
    its language: "Lena Müller 🌻" said "Sonnenblume"), spacing kept tidy."""
    kept = "".join(" " if unicodedata.category(c) in _UNSAID else c for c in text)
    return " ".join(kept.split())


_UNSAID: Final = ("So", "Sk", "Cs", "Co")
"""Symbols other (emoji), modifiers, surrogates and private use: nothing a person reads aloud."""


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
            f"The {engine} voice gave a silent clip for {shorten(text)}: choose "
            f"another voice; `audioguide voices` lists them"
        )
    duration_s = len(clip) / rate
    expected_s = len(text.split()) * 60.0 / wpm
    if duration_s < MIN_SPEECH_FRACTION * expected_s:
        raise VoiceError(
            f"The {engine} voice gave {duration_s:.2f} s of speech for "
            f"{shorten(text)}, expected about {expected_s:.1f} s: try again, or "
            f"choose another voice (`audioguide voices`)"
        )


def shorten(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def too_long(text: str | None, timeout_s: float) -> str:
    """An engine stopped after `timeout_s` speaking `text` (None: starting)."""
    return (
        f"The system voice took over {timeout_s:g} s {_doing(text)} and was stopped: "
        f"try again, or split the text into shorter cues"
    )


def stopped(code: int | None, text: str | None) -> str:
    """An engine that died with exit `code` speaking `text` (None: starting)."""
    return (
        f"The system voice stopped unexpectedly (exit code {code}) while {_doing(text)}: "
        f"try again; if it happens again, choose another voice (`audioguide voices`)"
    )


def _doing(text: str | None) -> str:
    return f"speaking {shorten(text)}" if text else "starting"


def check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VoiceError(
            f"Speaking rate is words per minute from {MIN_RATE} to {MAX_RATE}, "
            f"got {rate}: pass e.g. --rate {DEFAULT_RATE}"
        )
