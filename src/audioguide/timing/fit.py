"""Length targeting: `--length 15m` sets every range the author marked as stretchable
(`hold: 20-40s`, `rest: 5-15s`, `cycles: 4-8`) so the whole track lasts the length asked for.

Every range moves the same fraction `t` of its way from shortest to longest, so a fitted routine
keeps the proportions its author gave it. A track's length only grows with `t`, so bisection
finds it. Counts (cycles) move in whole steps; when one step jumps past the target, the counts
stay put and the durations alone close the gap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Final, assert_never

from ..audio import SAMPLE_RATE, Samples, to_seconds
from ..cues import Progress, Timeline
from ..errors import RoutineError
from ..model import (
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
    Step,
    map_steps,
    stretch_of,
    walk,
)
from ..strings import clock
from ..voices.clips import Voice
from .compile import compile_timeline

TOLERANCE_S: Final = 1.0
"""How close to the asked length a fitted track lands (the bisection gets within a sample)."""


@dataclass(frozen=True)
class Fit:
    timeline: Timeline
    routine: Routine
    """The routine with every range set to the value that was used."""
    fraction: float
    """How far along their ranges the durations were set: 0 shortest, 1 longest."""


def stretchable(steps: tuple[Step, ...]) -> bool:
    """Whether any step has a range `--length` can move."""
    return any(stretch_of(step) is not None for step in walk(steps))


def at(routine: Routine, t: float, counts_t: float | None = None) -> Routine:
    """The routine with its durations at fraction `t` of their ranges and its counts at
    `counts_t` (by default `t` too)."""
    ct = t if counts_t is None else counts_t

    def set_range(step: Step) -> Step:
        s = stretch_of(step)
        if s is None:
            return step
        match step:
            case Pause() | Hold():
                return replace(step, duration_s=s.at(t))
            case Breathe():
                return replace(step, cycles=s.whole(ct))
            case Exercise():
                return replace(step, rest_s=s.at(t))
            case Say() | Sound() | Countdown() | Interval() | Section() | Repeat():
                return step
            case _:
                assert_never(step)

    return replace(routine, steps=map_steps(routine.steps, set_range))


def fit_length(
    routine: Routine, voice: Voice, length_s: float, progress: Progress | None = None
) -> Fit:
    """Compile the routine to last `length_s` (within TOLERANCE_S), or say what it can last."""
    where = routine.where
    if not stretchable(routine.steps):
        raise RoutineError(
            "--length needs something to stretch: give a hold, pause, rest or breathing cycles "
            "a range, e.g. 'hold: 20-40s' or 'cycles: 4-8'",
            where,
        )
    memo = _Memo(voice)

    def length(t: float, ct: float | None = None) -> int:
        return compile_timeline(at(routine, t, ct), memo).total_samples

    # The first compile speaks every cue, with progress; the rest only look lengths up.
    shortest = compile_timeline(at(routine, 0.0), memo, progress=progress).total_samples
    longest = length(1.0)
    target = round(length_s * SAMPLE_RATE)
    tolerance = TOLERANCE_S * SAMPLE_RATE
    if not shortest - tolerance <= target <= longest + tolerance:
        raise RoutineError(
            f"cannot last {clock(length_s)}: its ranges allow {_clock(shortest)} to "
            f"{_clock(longest)}; ask for a length in between, or widen the ranges",
            where,
        )
    lo, hi = _bisect(length, target)
    # A count may step over the target; then holding the counts at either side and moving the
    # durations alone gets closer (to the sample, when the durations have room).
    tries: list[tuple[float, float | None]] = [(lo, None), (hi, None)]
    for counts in (lo, hi):
        tries += [(t, counts) for t in _bisect(partial(length, ct=counts), target)]
    best = min(tries, key=lambda tc: abs(length(*tc) - target))
    if abs(length(*best) - target) > tolerance:
        raise RoutineError(
            f"cannot land within {TOLERANCE_S:g} s of {clock(length_s)}: the nearest lengths "
            f"are {_clock(length(lo))} and {_clock(length(hi))}, as whole cycles jump past it; "
            "give a hold, pause or rest a range too",
            where,
        )
    return _fit(routine, *best, memo)


def _bisect(length: Callable[[float], int], target: int) -> tuple[float, float]:
    """The two closest fractions around the target: length(lo) <= target <= length(hi)."""
    lo, hi = 0.0, 1.0
    for _ in range(40):  # 2**-40 of the widest range: far under a sample
        mid = (lo + hi) / 2
        if length(mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _fit(routine: Routine, t: float, counts_t: float | None, voice: Voice) -> Fit:
    fitted = at(routine, t, counts_t)
    return Fit(compile_timeline(fitted, voice), fitted, t)


class _Memo:
    """The voice, with every clip kept in memory: fitting compiles the routine many times."""

    def __init__(self, voice: Voice) -> None:
        self.voice = voice
        self.clips: dict[str, Samples] = {}

    @property
    def key(self) -> str:
        return self.voice.key

    def synthesize(self, text: str) -> Samples:
        if text not in self.clips:
            self.clips[text] = self.voice.synthesize(text)
        return self.clips[text]

    def close(self) -> None:
        self.voice.close()


def _clock(n_samples: int) -> str:
    return clock(to_seconds(n_samples), tenths=True).lstrip("0")
