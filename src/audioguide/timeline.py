"""Compile stage: a Routine becomes a Timeline of cues with sample-exact offsets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .audio import to_samples, to_seconds
from .errors import RoutineError
from .routine import (
    Breathe,
    Exercise,
    Hold,
    Pause,
    Repeat,
    Routine,
    Say,
    Section,
    Sound,
    Step,
    Where,
)
from .sounds import sound_samples
from .voices import Voice


class CueKind(StrEnum):
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


# --- compile ----------------------------------------------------------------------------------

LEAD_IN_S: Final = 0.5
"""Silence before the first cue: some players swallow the first moment of a track."""
TAIL_S: Final = 1.5
SPEECH_GAP_S: Final = 0.6
"""The breath a teacher takes after each spoken cue, before whatever comes next."""
BREATH_PHASES: Final = ("inhale", "hold", "exhale", "hold-empty")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Inner:
    """A spoken cue placed at a fixed offset inside a timed window."""

    offset: int
    text: str
    label: str


@dataclass(frozen=True)
class _Window:
    kind: CueKind
    n_samples: int
    what: str
    where: Where
    phase: str | None = None
    inner: tuple[_Inner, ...] = ()


@dataclass(frozen=True)
class _Speak:
    text: str


@dataclass(frozen=True)
class _Sound:
    sound: str


@dataclass(frozen=True)
class _Silence:
    n_samples: int


@dataclass(frozen=True)
class _ChapterMark:
    title: str


_Item = _Window | _Speak | _Sound | _Silence | _ChapterMark


def compile_timeline(routine: Routine, voice: Voice, progress: Progress | None = None) -> Timeline:
    """Lay the routine out in time. Speech lengths come from the voice, so this synthesises (and
    caches) every distinct cue; `progress(done, total)` is called after each one."""
    items = _Expander(routine.words).expand(routine.steps)
    texts = list(dict.fromkeys(t for item in items for t in _texts(item)))
    lengths: dict[str, int] = {}
    for i, text in enumerate(texts, start=1):
        lengths[text] = len(voice.synthesize(text))
        if progress:
            progress(i, len(texts))
    return _place(routine, items, lengths)


def _texts(item: _Item) -> list[str]:
    if isinstance(item, _Speak):
        return [item.text]
    if isinstance(item, _Window):
        return [inner.text for inner in item.inner]
    return []


class _Expander:
    """Routine steps to a flat list of items in play order; nothing is timed yet."""

    def __init__(self, words: Mapping[str, str]) -> None:
        self.words = words
        self.items: list[_Item] = []

    def word(self, key: str, **values: object) -> str:
        return self.words[key].format(**values)

    def expand(self, steps: tuple[Step, ...]) -> list[_Item]:
        for step in steps:
            self.step(step, top=True)
        return self.items

    def step(self, step: Step, top: bool = False) -> None:
        add = self.items.append
        match step:
            case Say(text=text):
                add(_Speak(text))
            case Pause(duration_s=d):
                add(_Silence(to_samples(d)))
            case Sound(sound=sound):
                add(_Sound(sound))
            case Hold():
                add(self.hold(step))
            case Breathe():
                self.breathe(step)
            case Section(title=title, steps=steps):
                if top:
                    add(_ChapterMark(title))
                for s in steps:
                    self.step(s)
            case Repeat(times=times, steps=steps):
                for _ in range(times):
                    for s in steps:
                        self.step(s)
            case Exercise():
                self.exercise(step, top)

    def hold(self, hold: Hold) -> _Window:
        n = to_samples(hold.duration_s)
        inner = []
        if hold.say:
            inner.append(_Inner(0, hold.say, "the hold's 'say'"))
        if hold.halfway:
            inner.append(_Inner(n // 2, self.word("halfway"), "the halfway cue"))
        for k in range(hold.countdown, 0, -1):
            inner.append(_Inner(n - to_samples(k), self.word("countdown", n=k), "the countdown"))
        return _Window(CueKind.HOLD, n, "hold", hold.where, inner=tuple(inner))

    def breathe(self, b: Breathe) -> None:
        for cycle in range(b.cycles):
            for phase, seconds in zip(BREATH_PHASES, b.pattern, strict=True):
                if seconds <= 0:
                    continue
                inner = (
                    (_Inner(0, self.word(phase), f"the '{phase}' cue"),)
                    if (cycle < b.guide_cycles)
                    else ()
                )
                self.items.append(
                    _Window(
                        CueKind.BREATH,
                        to_samples(seconds),
                        f"{phase} phase",
                        b.where,
                        phase=phase,
                        inner=inner,
                    )
                )

    def exercise(self, ex: Exercise, top: bool) -> None:
        add = self.items.append
        if top:
            add(_ChapterMark(ex.title))
        add(_Speak(self.word("exercise", name=ex.title)))
        for line in ex.intro:
            add(_Speak(line))
        for set_no in range(1, ex.sets + 1):
            if set_no > 1 and ex.rest_s > 0:
                add(
                    _Window(
                        CueKind.REST,
                        to_samples(ex.rest_s),
                        "rest",
                        ex.where,
                        inner=(_Inner(0, self.word("rest"), "the rest cue"),),
                    )
                )
            if ex.sets > 1:
                add(_Speak(self.word("set", n=set_no, total=ex.sets)))
            for i, side in enumerate(ex.sides or (None,)):
                if i > 0:
                    add(_Speak(ex.switch or self.word("switch")))
                if side is not None:
                    add(_Speak(self.word("side", side=side[:1].upper() + side[1:])))
                for rep in range(1, ex.reps + 1):
                    if ex.reps > 1:
                        add(_Speak(self.word("rep", n=rep)))
                    for s in ex.body:
                        self.step(s)


def _place(routine: Routine, items: list[_Item], lengths: Mapping[str, int]) -> Timeline:
    gap = to_samples(SPEECH_GAP_S)
    t = to_samples(LEAD_IN_S)
    cues: list[Cue] = []
    marks: list[tuple[str, int]] = []
    for item in items:
        match item:
            case _Speak(text=text):
                cues.append(Cue(CueKind.SPEECH, t, lengths[text], text=text))
                t += lengths[text] + gap
            case _Silence(n_samples=n):
                cues.append(Cue(CueKind.SILENCE, t, n))
                t += n
            case _Sound(sound=sound):
                n = len(sound_samples(sound))
                cues.append(Cue(CueKind.SOUND, t, n, sound=sound))
                t += n
            case _ChapterMark(title=title):
                marks.append((title, t))
            case _Window():
                cues.append(Cue(item.kind, t, item.n_samples, phase=item.phase))
                cues.extend(_place_inner(item, t, lengths))
                t += item.n_samples
    total = t + to_samples(TAIL_S)
    return Timeline(
        routine.title,
        routine.author,
        total,
        tuple(cues),
        _chapters(marks, total, routine.words["introduction"]),
    )


def _place_inner(window: _Window, start: int, lengths: Mapping[str, int]) -> list[Cue]:
    """Cues inside a timed window must fit in it without overlapping each other."""
    placed = []
    busy_until, busy_with = 0, ""
    for inner in sorted(window.inner, key=lambda c: c.offset):
        span = f"{to_seconds(window.n_samples):g} s {window.what}"
        fix = f"make the {window.what} longer or drop {inner.label}"
        if inner.offset < 0:
            raise RoutineError(
                f"{window.where}: {inner.label} does not fit in the {span}: it "
                f"needs {to_seconds(-inner.offset):.2f} s more; {fix}"
            )
        if inner.offset < busy_until:
            raise RoutineError(
                f"{window.where}: {inner.label} does not fit in the {span}: it "
                f"overlaps {busy_with} by "
                f"{to_seconds(busy_until - inner.offset):.2f} s; {fix}"
            )
        end = inner.offset + lengths[inner.text]
        if end > window.n_samples:
            over = to_seconds(end - window.n_samples)
            raise RoutineError(
                f'{window.where}: {inner.label} ("{inner.text}") does not fit '
                f"in the {span}: it runs {over:.2f} s past its end; {fix}"
            )
        placed.append(
            Cue(CueKind.SPEECH, start + inner.offset, lengths[inner.text], text=inner.text)
        )
        busy_until, busy_with = end, inner.label
    return placed


def _chapters(marks: list[tuple[str, int]], total: int, intro_title: str) -> tuple[Chapter, ...]:
    """Chapters cover the whole track: each runs until the next starts, and anything before
    the first one is the introduction."""
    if not marks:
        return ()
    if marks[0][1] > to_samples(LEAD_IN_S):
        marks = [(intro_title, 0), *marks]
    starts = [0, *(start for _, start in marks[1:])]
    ends = [*starts[1:], total]
    return tuple(Chapter(title, s, e) for (title, _), s, e in zip(marks, starts, ends, strict=True))
