"""Compile stage: a Routine becomes a Timeline of cues with sample-exact offsets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .audio import to_samples, to_seconds
from .beds import BUILTIN_BEDS, bed_loop
from .errors import RoutineError, SoundError
from .routine import (
    MAX_CUES,
    MAX_DURATION_S,
    PAN_SIDES,
    Bed,
    Breathe,
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
    WORK = "work"
    """A timed work period of an `interval` step; its `sound` is the start tone."""


@dataclass(frozen=True)
class Cue:
    kind: CueKind
    start_sample: int
    n_samples: int
    text: str | None = None
    """What is spoken (speech cues), or the exercise worked at (work cues)."""
    sound: str | None = None
    """Built-in sound name or absolute file path (sound cues; a work cue's start tone), or the
    pacer style (breath cues)."""
    phase: str | None = None
    """inhale, hold, exhale or hold-empty (breath cues only)."""
    pan: float = 0.0
    """Where the cue sits, from -1 (left) through 0 (centre) to 1 (right)."""

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
    bed: Bed | None = None
    """The background laid under the whole track, ducked under the voice."""

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
    fix: str = ""
    """What to do when a cue does not fit; by default: make the window longer or drop the cue."""
    sound: str | None = None
    text: str | None = None
    pan: float = 0.0


@dataclass(frozen=True)
class _Speak:
    text: str
    pan: float = 0.0


@dataclass(frozen=True)
class _Sound:
    sound: str
    where: Where
    pan: float = 0.0


@dataclass(frozen=True)
class _Silence:
    n_samples: int


@dataclass(frozen=True)
class _ChapterMark:
    title: str


_Item = _Window | _Speak | _Sound | _Silence | _ChapterMark


def compile_timeline(routine: Routine, voice: Voice, progress: Progress | None = None) -> Timeline:
    """Lay the routine out in time. Speech lengths come from the voice, so this synthesises (and
    caches) every distinct cue; `progress(done, total)` is called after each one.

    The routine's size is checked against MAX_CUES and MAX_DURATION_S first, by arithmetic, so
    `repeat: 1000` inside `repeat: 1000` fails at once instead of expanding or speaking."""
    check_size(routine)
    if routine.bed is not None and routine.bed.sound not in BUILTIN_BEDS:
        # Decoded now (and cached for render), so check and plan refuse a file that build would.
        try:
            bed_loop(routine.bed.sound)
        except SoundError as e:
            raise SoundError(f"{routine.bed.where or '--bed'}: {e}") from None
    expander = _Expander(routine.words, routine.pan_sides, routine.pacer)
    items = expander.expand(routine.steps)
    texts = list(dict.fromkeys(t for item in items for t in _texts(item)))
    lengths: dict[str, int] = {}
    for i, text in enumerate(texts, start=1):
        lengths[text] = len(voice.synthesize(text))
        if progress:
            progress(i, len(texts))
    return _place(routine, items, lengths, expander.tops)


def _texts(item: _Item) -> list[str]:
    if isinstance(item, _Speak):
        return [item.text]
    if isinstance(item, _Window):
        return [inner.text for inner in item.inner]
    return []


class _Expander:
    """Routine steps to a flat list of items in play order; nothing is timed yet."""

    def __init__(
        self, words: Mapping[str, str], pan_sides: bool = False, pacer: str = "tone"
    ) -> None:
        self.words = words
        self.pan_sides = pan_sides
        self.pacer = pacer
        self.pan = 0.0
        """Where the cues being expanded sit: set while an exercise's left or right side runs."""
        self.items: list[_Item] = []
        self.tops: list[tuple[int, Where]] = []
        """Where each top-level step's items begin, for messages about the whole routine."""

    def word(self, key: str, **values: object) -> str:
        return self.words[key].format(**values)

    def expand(self, steps: tuple[Step, ...]) -> list[_Item]:
        for step in steps:
            self.tops.append((len(self.items), step.where))
            self.step(step, top=True)
        return self.items

    def step(self, step: Step, top: bool = False) -> None:
        add = self.items.append
        match step:
            case Say(text=text):
                add(_Speak(text, self.pan))
            case Pause(duration_s=d):
                add(_Silence(to_samples(d)))
            case Sound(sound=sound, where=where):
                add(_Sound(sound, where, self.pan))
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
            case Interval():
                self.interval(step, top)

    def hold(self, hold: Hold) -> _Window:
        n = to_samples(hold.duration_s)
        inner = []
        if hold.say:
            inner.append(_Inner(0, hold.say, "the hold's 'say'"))
        if hold.halfway:
            inner.append(_Inner(n // 2, self.word("halfway"), "the halfway cue"))
        inner += self.countdown(n, hold.countdown)
        return _Window(CueKind.HOLD, n, "hold", hold.where, inner=tuple(inner), pan=self.pan)

    def countdown(self, n: int, count: int) -> list[_Inner]:
        """ "3", "2", "1" on the last seconds of a window of n samples."""
        return [
            _Inner(n - to_samples(k), self.word("countdown", n=k), "the countdown")
            for k in range(count, 0, -1)
        ]

    def breathe(self, b: Breathe) -> None:
        for cycle in range(b.cycles):
            for phase, word, seconds in breath_phases(b):
                inner = (
                    (_Inner(0, self.word(word), f"the '{word}' cue"),)
                    if (cycle < b.guide_cycles)
                    else ()
                )
                self.items.append(
                    _Window(
                        CueKind.BREATH,
                        to_samples(seconds),
                        f"{word} phase",
                        b.where,
                        phase=phase,
                        inner=inner,
                        fix=f"make the {word} phase longer, or set guide: 0 to speak no guidance",
                        sound=b.pacer or self.pacer,
                        pan=self.pan,
                    )
                )

    def interval(self, iv: Interval, top: bool) -> None:
        add = self.items.append
        if top:
            add(_ChapterMark(iv.title))
        add(_Speak(self.word("exercise", name=iv.title)))
        for line in iv.intro:
            add(_Speak(line))
        work, rest = to_samples(iv.work_s), to_samples(iv.rest_s)
        periods = [(r, name) for r in range(iv.rounds) for name in iv.exercises]
        for i, (r, name) in enumerate(periods):
            if i == 0:
                n, what, fix = to_samples(iv.prepare_s), "prepare time", "make 'prepare' longer"
                text = self.word("ready", name=name)
            elif rest:
                n, what, fix = rest, "rest", "make the rest longer"
                text = (
                    self.word("next", name=name)
                    if len(iv.exercises) > 1
                    else self.word("round", n=r + 1, total=iv.rounds)
                )
            else:
                n = 0
            if n:
                inner = [_Inner(0, text, f'"{text}"'), *self.countdown(n, iv.countdown)]
                add(
                    _Window(
                        CueKind.REST,
                        n,
                        what,
                        iv.where,
                        inner=tuple(inner),
                        fix=f"{fix}, or lower 'countdown'",
                    )
                )
            halfway = (_Inner(work // 2, self.word("halfway"), "the halfway cue"),)
            add(
                _Window(
                    CueKind.WORK,
                    work,
                    "work period",
                    iv.where,
                    inner=halfway if iv.halfway else (),
                    sound=iv.sound,
                    text=name,
                )
            )
        add(_Speak(self.word("done")))

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
                self.pan = self.side_pan(side)
                if side is not None:
                    add(_Speak(self.word("side", side=side[:1].upper() + side[1:]), self.pan))
                for rep in range(1, ex.reps + 1):
                    if ex.reps > 1:
                        add(_Speak(self.word("rep", n=rep), self.pan))
                    for s in ex.body:
                        self.step(s)
                self.pan = 0.0

    def side_pan(self, side: str | None) -> float:
        words = set((side or "").lower().split())
        if not self.pan_sides or ("left" in words) == ("right" in words):
            return 0.0
        return -PAN_SIDES if "left" in words else PAN_SIDES


def _place(
    routine: Routine,
    items: list[_Item],
    lengths: Mapping[str, int],
    tops: list[tuple[int, Where]],
) -> Timeline:
    gap = to_samples(SPEECH_GAP_S)
    t = to_samples(LEAD_IN_S)
    cues: list[Cue] = []
    marks: list[tuple[str, int]] = []
    starts = dict(tops)
    top, too_long_at = Where("", 0), None
    for i, item in enumerate(items):
        top = starts.get(i, top)
        if too_long_at is None and t > _MAX_SAMPLES:
            too_long_at = top
        match item:
            case _Speak(text=text, pan=pan):
                cues.append(Cue(CueKind.SPEECH, t, lengths[text], text=text, pan=pan))
                t += lengths[text] + gap
            case _Silence(n_samples=n):
                cues.append(Cue(CueKind.SILENCE, t, n))
                t += n
            case _Sound(sound=sound, where=where, pan=pan):
                n = _sound_length(sound, where)
                cues.append(Cue(CueKind.SOUND, t, n, sound=sound, pan=pan))
                t += n
            case _ChapterMark(title=title):
                marks.append((title, t))
            case _Window():
                cues.append(
                    Cue(
                        item.kind,
                        t,
                        item.n_samples,
                        text=item.text,
                        sound=item.sound,
                        phase=item.phase,
                        pan=item.pan,
                    )
                )
                cues.extend(_place_inner(item, t, lengths))
                t += item.n_samples
    total = t + to_samples(TAIL_S)
    if total > _MAX_SAMPLES:
        raise RoutineError(
            f"{too_long_at or top}: the routine passes {MAX_DURATION_S / 3600:g} hours here and "
            f"lasts {_clock(total)} with its speech, over the {_MAX_HOURS} maximum: shorten it, "
            "or split it into several routines"
        )
    return Timeline(
        routine.title,
        routine.author,
        total,
        tuple(cues),
        _chapters(marks, total, routine.words["introduction"]),
        routine.bed,
    )


# --- size limits ------------------------------------------------------------------------------

_MAX_SAMPLES: Final = to_samples(MAX_DURATION_S)
_MAX_HOURS: Final = f"{MAX_DURATION_S / 3600:g}-hour"


@dataclass(frozen=True)
class Size:
    """What a routine adds up to before any speech is synthesised."""

    cues: int
    """Exactly the number of cues compile_timeline will produce."""
    fixed_samples: int
    """Everything but the speech itself: pauses, windows, sounds and the gaps after speech."""


_FRAME: Final = Size(0, to_samples(LEAD_IN_S) + to_samples(TAIL_S))
"""What every track has around its steps."""


def routine_size(routine: Routine) -> Size:
    """The routine's size by arithmetic (big integers), never by expanding it."""
    return _add(_FRAME, _sum(routine.steps))


def check_size(routine: Routine) -> Size:
    """Refuse a routine over MAX_CUES cues or MAX_DURATION_S (not counting speech), naming the
    top-level step where it crosses the limit."""
    total = _FRAME
    where: Where | None = None
    for step in routine.steps:
        total = _add(total, _size(step))
        if where is None and (total.cues > MAX_CUES or total.fixed_samples > _MAX_SAMPLES):
            where = step.where
    if where is None:
        return total
    if total.cues > MAX_CUES:
        raise RoutineError(
            f"{where}: the routine passes {MAX_CUES:,} cues here and has {total.cues:,} in all, "
            f"over the maximum of {MAX_CUES:,}: lower its repeat, reps, sets or cycles, or split "
            "it into several routines"
        )
    raise RoutineError(
        f"{where}: the routine passes {MAX_DURATION_S / 3600:g} hours here and lasts at least "
        f"{_clock(total.fixed_samples)} before any speech, over the {_MAX_HOURS} maximum: "
        "shorten it, or split it into several routines"
    )


def _add(a: Size, b: Size) -> Size:
    return Size(a.cues + b.cues, a.fixed_samples + b.fixed_samples)


def _times(n: int, s: Size) -> Size:
    return Size(n * s.cues, n * s.fixed_samples)


def _size(step: Step) -> Size:
    """Mirrors _Expander and _place cue for cue (a property test holds them together)."""
    speak = Size(1, to_samples(SPEECH_GAP_S))
    match step:
        case Say():
            return speak
        case Pause(duration_s=d):
            return Size(1, to_samples(d))
        case Sound(sound=sound, where=where):
            return Size(1, _sound_length(sound, where))
        case Hold(duration_s=d, countdown=countdown, halfway=halfway, say=say):
            return Size(1 + (say is not None) + halfway + countdown, to_samples(d))
        case Breathe(cycles=cycles, guide_cycles=guide):
            phases = [to_samples(s) for _, _, s in breath_phases(step)]
            cycle = Size(len(phases), sum(phases))
            return _add(_times(cycles, cycle), Size(min(guide, cycles) * len(phases), 0))
        case Interval():
            periods = step.rounds * len(step.exercises)
            work = Size(1 + step.halfway, to_samples(step.work_s))
            rest = Size(2 + step.countdown, to_samples(step.rest_s)) if step.rest_s else Size(0, 0)
            prepare = Size(2 + step.countdown, to_samples(step.prepare_s))
            speech = _times(2 + len(step.intro), speak)
            return _add(
                _add(_times(periods, work), _times(periods - 1, rest)), _add(prepare, speech)
            )
        case Section(steps=steps):
            return _sum(steps)
        case Repeat(times=times, steps=steps):
            return _times(times, _sum(steps))
        case Exercise():
            rep = _add(_sum(step.body), speak if step.reps > 1 else Size(0, 0))
            side = _times(step.reps, rep)
            n_sides = len(step.sides)
            one_set = _times(max(n_sides, 1), side)
            one_set = _add(one_set, _times(n_sides + max(n_sides - 1, 0), speak))
            if step.sets > 1:
                one_set = _add(one_set, speak)
            rest = Size(2, to_samples(step.rest_s)) if step.rest_s > 0 else Size(0, 0)
            sets = _add(_times(step.sets, one_set), _times(step.sets - 1, rest))
            return _add(sets, _times(1 + len(step.intro), speak))
    raise AssertionError(f"unknown step {step!r}")


def breath_phases(b: Breathe) -> list[tuple[str, str, float]]:
    """One cycle of a breathe step: (phase, word, seconds) for each phase that lasts. A sigh's
    second inhale is an inhale to the pacer, with its own spoken cue."""
    phases = [
        (phase, phase, seconds)
        for phase, seconds in zip(BREATH_PHASES, b.pattern, strict=True)
        if seconds > 0
    ]
    if b.top_up_s > 0:
        phases.insert(1, ("inhale", "top-up", b.top_up_s))
    return phases


def _sum(steps: tuple[Step, ...]) -> Size:
    total = Size(0, 0)
    for s in steps:
        total = _add(total, _size(s))
    return total


def _sound_length(sound: str, where: Where) -> int:
    try:
        return len(sound_samples(sound))
    except SoundError as e:  # a file that went missing or will not decode: say which step
        raise SoundError(f"{where}: {e}") from None


def _clock(n_samples: int) -> str:
    minutes, seconds = divmod(int(to_seconds(n_samples)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _place_inner(window: _Window, start: int, lengths: Mapping[str, int]) -> list[Cue]:
    """Cues inside a timed window must fit in it without overlapping each other."""
    placed = []
    busy_until, busy_with = 0, ""
    for inner in sorted(window.inner, key=lambda c: c.offset):
        span = f"{to_seconds(window.n_samples):g} s {window.what}"
        fix = window.fix or f"make the {window.what} longer or drop {inner.label}"
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
            Cue(
                CueKind.SPEECH,
                start + inner.offset,
                lengths[inner.text],
                text=inner.text,
                pan=window.pan,
            )
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
