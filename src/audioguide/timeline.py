"""Compile stage: a Routine becomes a Timeline of cues with sample-exact offsets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .audio import to_seconds


class CueKind(str, Enum):
    SPEECH = "speech"
    SOUND = "sound"
    BREATH = "breath"
    HOLD = "hold"
    REST = "rest"
    SILENCE = "silence"


@dataclass(frozen=True)
class Cue:
    kind: CueKind
    start_sample: int
    n_samples: int
    text: str | None = None
    """What is spoken (speech cues only)."""
    sound: str | None = None
    """Built-in sound name or absolute file path (sound cues only)."""
    phase: str | None = None
    """inhale, hold, exhale or hold-empty (breath cues only)."""

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.n_samples


@dataclass(frozen=True)
class Chapter:
    title: str
    start_sample: int
    end_sample: int

    @property
    def start_s(self) -> float:
        return to_seconds(self.start_sample)

    @property
    def end_s(self) -> float:
        return to_seconds(self.end_sample)


@dataclass(frozen=True)
class Timeline:
    title: str
    author: str
    total_samples: int
    cues: tuple[Cue, ...]
    chapters: tuple[Chapter, ...]

    @property
    def total_s(self) -> float:
        return to_seconds(self.total_samples)
