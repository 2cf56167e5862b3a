"""The timeline as data: the cues a routine compiles to, its chapters, and the Timeline every
later stage reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from .model import (
    SAMPLE_RATE,
    Bed,
    PacerStyle,
    Phase,
    SoundRef,
)

# --- the timeline ------------------------------------------------------------------------------


class CueKind(StrEnum):
    SPEECH = "speech"
    SOUND = "sound"
    BREATH = "breath"
    HOLD = "hold"
    REST = "rest"
    SILENCE = "silence"
    WORK = "work"


@dataclass(frozen=True)
class _Timed:
    start_sample: int
    n_samples: int

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.n_samples


@dataclass(frozen=True)
class Speech(_Timed):
    text: str
    pan: float = 0.0
    """Where the cue sits, from -1 (left) through 0 (centre) to 1 (right)."""
    kind: ClassVar[CueKind] = CueKind.SPEECH


@dataclass(frozen=True)
class SoundCue(_Timed):
    sound: SoundRef
    pan: float = 0.0
    kind: ClassVar[CueKind] = CueKind.SOUND


@dataclass(frozen=True)
class BreathCue(_Timed):
    phase: Phase
    pacer: PacerStyle = "tone"
    pan: float = 0.0
    kind: ClassVar[CueKind] = CueKind.BREATH


@dataclass(frozen=True)
class HoldCue(_Timed):
    """A timed hold: silent itself; the speech inside it is cues of its own."""

    pan: float = 0.0
    kind: ClassVar[CueKind] = CueKind.HOLD


@dataclass(frozen=True)
class RestCue(_Timed):
    kind: ClassVar[CueKind] = CueKind.REST


@dataclass(frozen=True)
class SilenceCue(_Timed):
    kind: ClassVar[CueKind] = CueKind.SILENCE


@dataclass(frozen=True)
class WorkCue(_Timed):
    """A work period of an `interval` step, started by its tone."""

    exercise: str
    tone: SoundRef | None = None
    kind: ClassVar[CueKind] = CueKind.WORK


Cue = Speech | SoundCue | BreathCue | HoldCue | RestCue | SilenceCue | WorkCue


def pan_of(cue: Cue) -> float:
    """Where a cue sits; the kinds that carry no pan are centred."""
    return cue.pan if isinstance(cue, Speech | SoundCue | BreathCue | HoldCue) else 0.0


@dataclass(frozen=True)
class Chapter:
    title: str
    start_sample: int
    end_sample: int

    @property
    def start_s(self) -> float:
        return self.start_sample / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return self.end_sample / SAMPLE_RATE


@dataclass(frozen=True)
class RepSpan:
    """Where an exercise's first rep lies in the track, its spoken count included: how long one
    rep takes, as a handout says."""

    step: int
    """The exercise's place in model.walk(routine.steps)."""
    start_sample: int
    end_sample: int

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SAMPLE_RATE


@dataclass(frozen=True)
class StepSpan:
    """Where a top-level step of the routine lies in the track: what a studio plays when asked
    for the step at a line of the file."""

    line: int
    """The step's line in the file that holds it (`file`)."""
    file: str
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class Timeline:
    title: str
    author: str
    total_samples: int
    cues: tuple[Cue, ...]
    chapters: tuple[Chapter, ...]
    bed: Bed | None = None
    """The background laid under the whole track, ducked under the voice."""
    language: str = "en"
    reps: tuple[RepSpan, ...] = ()
    """Each exercise's first rep, where it has more than one."""
    steps: tuple[StepSpan, ...] = ()
    """Each top-level step's span, in the routine's order."""

    @property
    def total_s(self) -> float:
        return self.total_samples / SAMPLE_RATE


Progress = Callable[[int, int], None]
