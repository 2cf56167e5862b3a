"""Compile stage: a Routine becomes a Timeline of cues with sample-exact offsets, and its size is
checked by arithmetic before anything is expanded or spoken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import assert_never

from ..audio import to_samples, to_seconds
from ..cues import (
    BreathCue,
    Chapter,
    Cue,
    HoldCue,
    Progress,
    RepSpan,
    RestCue,
    SilenceCue,
    SoundCue,
    Speech,
    StepSpan,
    Timeline,
    WorkCue,
)
from ..errors import RoutineError, SoundError, Where
from ..model import (
    MAX_DURATION_S,
    PAN_SIDES,
    Breathe,
    BuiltinSound,
    Countdown,
    Exercise,
    Hold,
    Interval,
    PacerStyle,
    Pause,
    Repeat,
    Routine,
    Say,
    Section,
    Sound,
    SoundRef,
    Step,
    breath_phases,
    step_numbers,
)
from ..sound.beds import bed_loop
from ..strings import clock, sentence, side_names, words
from ..voices.cache import CachedVoice
from ..voices.clips import Voice
from .size import (
    LEAD_IN_S,
    MAX_HOURS,
    MAX_SAMPLES,
    SPEECH_GAP_S,
    TAIL_S,
    check_size,
    sound_length,
)


@dataclass(frozen=True)
class _Inner:
    """A spoken cue placed at a fixed offset inside a timed window."""

    offset: int
    text: str
    label: str


@dataclass(frozen=True)
class _Window:
    """A timed window (hold, rest, breath phase, work period): `cue` starts at 0 until placed."""

    cue: HoldCue | RestCue | BreathCue | WorkCue
    what: str
    where: Where
    inner: tuple[_Inner, ...] = ()
    fix: str = ""
    """What to do when a cue does not fit; by default: make the window longer or drop the cue."""
    pan: float = 0.0
    """Where the spoken cues inside it sit."""


@dataclass(frozen=True)
class _Speak:
    text: str
    pan: float = 0.0


@dataclass(frozen=True)
class _Sound:
    sound: SoundRef
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
    if routine.bed is not None and not isinstance(routine.bed.sound, BuiltinSound):
        # Decoded now (and cached for render), so check and plan refuse a file that build would.
        try:
            bed_loop(routine.bed.sound)
        except SoundError as e:
            raise e.at(routine.bed.where or Where("--bed")) from None
    expander = _Expander(routine)
    items = expander.expand(routine.steps)
    texts = spoken_texts(items)
    if progress and texts:
        progress(0, len(texts))  # the stage shows at once, not after the first line (seconds)
    if isinstance(voice, CachedVoice):
        lengths = voice.speak_all(texts, progress)  # two lines at a time where it can
    else:
        lengths = {}
        for i, text in enumerate(texts, start=1):
            lengths[text] = len(voice.synthesize(text))
            if progress:
                progress(i, len(texts))
    return _place(routine, items, lengths, expander)


def speech_of(routine: Routine) -> list[str]:
    """Every distinct text the routine speaks, in order of first use, without speaking any: what
    a batch synthesises once for all its tracks."""
    check_size(routine)
    return spoken_texts(_Expander(routine).expand(routine.steps))


def spoken_texts(items: list[_Item]) -> list[str]:
    texts: list[str] = []
    for item in items:
        if isinstance(item, _Speak):
            texts.append(item.text)
        elif isinstance(item, _Window):
            texts += [inner.text for inner in item.inner]
    return list(dict.fromkeys(texts))


class _Expander:
    """Routine steps to a flat list of items in play order; nothing is timed yet."""

    def __init__(self, routine: Routine) -> None:
        self.words = words(routine.language, routine.words, routine.register)
        self.sides = side_names(routine.language, routine.side_names)
        self.pan_sides = routine.pan_sides
        self.pacer: PacerStyle = routine.pacer
        self.pan = 0.0
        """Where the cues being expanded sit: set while an exercise's left or right side runs."""
        self.items: list[_Item] = []
        self.tops: list[tuple[int, Where]] = []
        """Where each top-level step's items begin, for messages about the whole routine."""
        self.index = step_numbers(routine.steps)
        self.reps: dict[int, tuple[int, int]] = {}
        """Each exercise's first rep, as (first item, item after it), by its place."""

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
            case Countdown(count=count, where=where):
                n = to_samples(count)
                inner = tuple(self.countdown(n, count))
                fix = "say the numbers in fewer words ('countdown' in words:)"
                add(_Window(HoldCue(0, n, self.pan), "countdown", where, inner, fix, self.pan))
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
            case _:
                assert_never(step)

    def hold(self, hold: Hold) -> _Window:
        n = to_samples(hold.duration_s)
        inner = []
        if hold.say:
            inner.append(_Inner(0, hold.say, "the hold's 'say'"))
        if hold.halfway:
            inner.append(_Inner(n // 2, self.word("halfway"), "the halfway cue"))
        inner += self.countdown(n, hold.countdown)
        return _Window(HoldCue(0, n, self.pan), "hold", hold.where, tuple(inner), pan=self.pan)

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
                cue = BreathCue(0, to_samples(seconds), phase, b.pacer or self.pacer, self.pan)
                self.items.append(
                    _Window(
                        cue,
                        f"{word} phase",
                        b.where,
                        inner,
                        fix=f"make the {word} phase longer, or set guide: 0 to speak no guidance",
                        pan=self.pan,
                    )
                )

    def interval(self, iv: Interval, top: bool) -> None:
        add = self.items.append
        title = iv.title or self.word("intervals")
        if top:
            add(_ChapterMark(title))
        add(_Speak(self.word("exercise", name=title)))
        for line in iv.intro:
            add(_Speak(line))
        exercises = iv.exercises or (title,)
        work, rest = to_samples(iv.work_s), to_samples(iv.rest_s)
        periods = [(r, name) for r in range(iv.rounds) for name in exercises]
        for i, (r, name) in enumerate(periods):
            if i == 0:
                n, what, fix = to_samples(iv.prepare_s), "prepare time", "make 'prepare' longer"
                text = self.word("ready", name=name)
            elif rest:
                n, what, fix = rest, "rest", "make the rest longer"
                text = (
                    self.word("next", name=name)
                    if len(exercises) > 1
                    else self.word("round", n=r + 1, total=iv.rounds)
                )
            else:
                n = 0
            if n:
                inner = (_Inner(0, text, f'"{text}"'), *self.countdown(n, iv.countdown))
                add(_Window(RestCue(0, n), what, iv.where, inner, f"{fix}, or lower 'countdown'"))
            halfway = (_Inner(work // 2, self.word("halfway"), "the halfway cue"),)
            add(
                _Window(
                    WorkCue(0, work, name, iv.sound),
                    "work period",
                    iv.where,
                    halfway if iv.halfway else (),
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
                n = to_samples(ex.rest_s)
                inner = (_Inner(0, self.word("rest"), "the rest cue"),)
                add(_Window(RestCue(0, n), "rest", ex.where, inner))
            if ex.sets > 1:
                add(_Speak(self.word("set", n=set_no, total=ex.sets)))
            for i, side in enumerate(ex.sides or (None,)):
                if i > 0:
                    add(_Speak(ex.switch or self.word("switch")))
                self.pan = self.side_pan(side)
                if side is not None:
                    spoken = self.sides.get(side, side)
                    add(_Speak(sentence(self.word("side", side=spoken)), self.pan))
                for rep in range(1, ex.reps + 1):
                    first = len(self.items)
                    if ex.reps > 1:
                        add(_Speak(self.word("rep", n=rep), self.pan))
                    for s in ex.body:
                        self.step(s)
                    self.reps.setdefault(self.index[id(ex)], (first, len(self.items)))
                self.pan = 0.0

    def side_pan(self, side: str | None) -> float:
        if not self.pan_sides or side not in ("left", "right"):
            return 0.0
        return -PAN_SIDES if side == "left" else PAN_SIDES


def _place(
    routine: Routine, items: list[_Item], lengths: Mapping[str, int], expanded: _Expander
) -> Timeline:
    gap = to_samples(SPEECH_GAP_S)
    t = to_samples(LEAD_IN_S)
    cues: list[Cue] = []
    marks: list[tuple[str, int]] = []
    starts = dict(expanded.tops)
    at: list[int] = []
    """Where each item starts."""
    top, too_long_at = Where(""), None
    for i, item in enumerate(items):
        at.append(t)
        top = starts.get(i, top)
        if too_long_at is None and t > MAX_SAMPLES:
            too_long_at = top
        match item:
            case _Speak(text=text, pan=pan):
                cues.append(Speech(t, lengths[text], text, pan))
                t += lengths[text] + gap
            case _Silence(n_samples=n):
                cues.append(SilenceCue(t, n))
                t += n
            case _Sound(sound=sound, where=where, pan=pan):
                n = sound_length(sound, where)
                cues.append(SoundCue(t, n, sound, pan))
                t += n
            case _ChapterMark(title=title):
                marks.append((title, t))
            case _Window():
                cues.append(replace(item.cue, start_sample=t))
                cues.extend(_place_inner(item, t, lengths))
                t += item.cue.n_samples
            case _:
                assert_never(item)
    at.append(t)
    total = t + to_samples(TAIL_S)
    if total > MAX_SAMPLES:
        raise RoutineError(
            f"the routine passes {MAX_DURATION_S / 3600:g} hours here and lasts "
            f"{clock(to_seconds(total))} with its speech, over the {MAX_HOURS} maximum: shorten "
            "it, or split it into several routines",
            too_long_at or top,
        )
    return Timeline(
        routine.title,
        routine.author,
        total,
        tuple(cues),
        _chapters(marks, total, expanded.words["introduction"]),
        routine.bed,
        routine.language,
        tuple(RepSpan(step, at[a], at[b]) for step, (a, b) in sorted(expanded.reps.items())),
        _step_spans(expanded.tops, at),
    )


def _step_spans(tops: list[tuple[int, Where]], at: list[int]) -> tuple[StepSpan, ...]:
    """Each top-level step from its first item to the next step's (`at` ends with the end)."""
    ends = [i for i, _ in tops[1:]] + [len(at) - 1]
    return tuple(
        StepSpan(where.line, where.file, at[i], at[end])
        for (i, where), end in zip(tops, ends, strict=True)
    )


def _place_inner(window: _Window, start: int, lengths: Mapping[str, int]) -> list[Cue]:
    """Cues inside a timed window must fit in it without overlapping each other."""
    placed: list[Cue] = []
    busy_until, busy_with = 0, ""
    n_window = window.cue.n_samples
    for inner in sorted(window.inner, key=lambda c: c.offset):
        span = f"{to_seconds(n_window):g} s {window.what}"
        fix = window.fix or f"make the {window.what} longer or drop {inner.label}"
        if inner.offset < 0:
            raise RoutineError(
                f"{inner.label} does not fit in the {span}: it needs "
                f"{to_seconds(-inner.offset):.2f} s more; {fix}",
                window.where,
            )
        if inner.offset < busy_until:
            raise RoutineError(
                f"{inner.label} does not fit in the {span}: it overlaps {busy_with} by "
                f"{to_seconds(busy_until - inner.offset):.2f} s; {fix}",
                window.where,
            )
        end = inner.offset + lengths[inner.text]
        if end > n_window:
            over = to_seconds(end - n_window)
            raise RoutineError(
                f'{inner.label} ("{inner.text}") does not fit in the {span}: it runs '
                f"{over:.2f} s past its end; {fix}",
                window.where,
            )
        placed.append(Speech(start + inner.offset, lengths[inner.text], inner.text, window.pan))
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
