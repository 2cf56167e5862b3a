"""What a routine adds up to before anything is expanded or spoken: its cues and its fixed time,
by arithmetic, so a routine too big to build fails at once; and the spacing every timeline has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, assert_never

from ..audio import to_samples, to_seconds
from ..errors import RoutineError, SoundError, Where
from ..model import (
    MAX_CUES,
    MAX_DURATION_S,
    Breathe,
    Countdown,
    Exercise,
    Hold,
    Interval,
    Pause,
    Repeat,
    Routine,
    Say,
    Section,
    Sound,
    SoundRef,
    Step,
    breath_phases,
)
from ..sound.sounds import sound_step
from ..strings import clock

# --- compile ----------------------------------------------------------------------------------

LEAD_IN_S: Final = 0.5
"""Silence before the first cue: some players swallow the first moment of a track."""
TAIL_S: Final = 1.5
SPEECH_GAP_S: Final = 0.6
"""The breath a teacher takes after each spoken cue, before whatever comes next."""


# --- size limits ------------------------------------------------------------------------------

MAX_SAMPLES: Final = to_samples(MAX_DURATION_S)
MAX_HOURS: Final = f"{MAX_DURATION_S / 3600:g}-hour"


@dataclass(frozen=True)
class Size:
    """What a routine adds up to before any speech is synthesised."""

    cues: int
    """Exactly the number of cues compile_timeline will produce."""
    fixed_samples: int
    """Everything but the speech itself: pauses, windows, sounds and the gaps after speech."""

    def __add__(self, other: Size) -> Size:
        return Size(self.cues + other.cues, self.fixed_samples + other.fixed_samples)

    def __rmul__(self, n: int) -> Size:
        return Size(n * self.cues, n * self.fixed_samples)


_NONE: Final = Size(0, 0)
_FRAME: Final = Size(0, to_samples(LEAD_IN_S) + to_samples(TAIL_S))
"""What every track has around its steps."""


def routine_size(routine: Routine) -> Size:
    """The routine's size by arithmetic (big integers), never by expanding it."""
    return _FRAME + _sum(routine.steps)


def check_size(routine: Routine) -> Size:
    """Refuse a routine over MAX_CUES cues or MAX_DURATION_S (not counting speech), naming the
    top-level step where it crosses the limit."""
    total = _FRAME
    where: Where | None = None
    for step in routine.steps:
        total += _size(step)
        if where is None and (total.cues > MAX_CUES or total.fixed_samples > MAX_SAMPLES):
            where = step.where
    if where is None:
        return total
    if total.cues > MAX_CUES:
        raise RoutineError(
            f"the routine passes {MAX_CUES:,} cues here and has {total.cues:,} in all, over the "
            f"maximum of {MAX_CUES:,}: lower its repeat, reps, sets or cycles, or split it into "
            "several routines",
            where,
        )
    raise RoutineError(
        f"the routine passes {MAX_DURATION_S / 3600:g} hours here and lasts at least "
        f"{clock(to_seconds(total.fixed_samples) // 1)} before any speech, over the {MAX_HOURS} "
        "maximum: shorten it, or split it into several routines",
        where,
    )


def _size(step: Step) -> Size:
    """Mirrors _Expander and _place cue for cue (a property test holds them together)."""
    speak = Size(1, to_samples(SPEECH_GAP_S))
    match step:
        case Say():
            return speak
        case Pause(duration_s=d):
            return Size(1, to_samples(d))
        case Sound(sound=sound, where=where):
            return Size(1, sound_length(sound, where))
        case Hold(duration_s=d, countdown=countdown, halfway=halfway, say=say):
            return Size(1 + (say is not None) + halfway + countdown, to_samples(d))
        case Countdown(count=count):
            return Size(1 + count, to_samples(count))
        case Breathe(cycles=cycles, guide_cycles=guide):
            phases = [to_samples(s) for _, _, s in breath_phases(step)]
            cycle = Size(len(phases), sum(phases))
            return cycles * cycle + Size(min(guide, cycles) * len(phases), 0)
        case Interval():
            periods = step.rounds * max(len(step.exercises), 1)
            work = Size(1 + step.halfway, to_samples(step.work_s))
            rest = Size(2 + step.countdown, to_samples(step.rest_s)) if step.rest_s else _NONE
            prepare = Size(2 + step.countdown, to_samples(step.prepare_s))
            return periods * work + (periods - 1) * rest + prepare + (2 + len(step.intro)) * speak
        case Section(steps=steps):
            return _sum(steps)
        case Repeat(times=times, steps=steps):
            return times * _sum(steps)
        case Exercise():
            rep = _sum(step.body) + (speak if step.reps > 1 else _NONE)
            n_sides = len(step.sides)
            one_set = max(n_sides, 1) * (step.reps * rep) + (n_sides + max(n_sides - 1, 0)) * speak
            if step.sets > 1:
                one_set += speak
            rest = Size(2, to_samples(step.rest_s)) if step.rest_s > 0 else _NONE
            return step.sets * one_set + (step.sets - 1) * rest + (1 + len(step.intro)) * speak
        case _:
            assert_never(step)


def _sum(steps: tuple[Step, ...]) -> Size:
    total = _NONE
    for s in steps:
        total += _size(s)
    return total


def sound_length(sound: SoundRef, where: Where) -> int:
    try:
        return sound_step(sound)
    except SoundError as e:  # a file that went missing or will not decode: say which step
        raise e.at(where) from None
