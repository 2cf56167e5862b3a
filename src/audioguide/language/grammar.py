"""The step kinds of the routine language, in one table: each kind's keys, what they mean, and
the function that reads it. Adding a kind is one row here and one case in the compiler.

Every kind takes both forms: a scalar shorthand with its other keys beside it (`hold: 30s` and
`countdown: 3`), or one mapping (`hold: {duration: 30s, countdown: 3}`); the keys are the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from ..errors import RoutineError, Where
from ..model import (
    BREATH_PRESETS,
    BUILTIN_SOUNDS,
    MAX_BREATH_HOLD_S,
    MAX_INCLUDE_DEPTH,
    MAX_NESTING,
    SIGH_TOP_UP_S,
    WEIL_MAX_CYCLES,
    Breathe,
    Countdown,
    Exercise,
    Hold,
    Interval,
    Pause,
    Repeat,
    Say,
    Section,
    Sound,
    Step,
    Stretch,
)
from .keys import KEY_TABLES, ROUTINE_KEYS, Key
from .reader import Fields, Reader, suggest
from .yamlfile import YList, YMap, at, parse_yaml, read_text, show

Read = Callable[[Reader, Fields], Step]


@dataclass(frozen=True)
class Kind:
    name: str
    doc: str
    keys: tuple[Key, ...]
    """The first is the shorthand: what `kind: value` sets."""
    read: Read
    adds_cue: bool = True
    """Whether the step is a cue of its own (a section or repeat only holds others)."""

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


# --- readers ------------------------------------------------------------------------------------


def _say(r: Reader, f: Fields) -> Say:
    return Say(r.text(f, "text"), where=f.where)


def _safety(r: Reader, f: Fields) -> Say:
    return Say(r.text(f, "text"), safety=True, where=f.where)


def _pause(r: Reader, f: Fields) -> Pause:
    seconds, stretch = r.duration_span(f, "duration")
    return Pause(seconds, stretch, where=f.where)


def _sound(r: Reader, f: Fields) -> Sound:
    return Sound(r.sound(f, "name", BUILTIN_SOUNDS), where=f.where)


def _hold(r: Reader, f: Fields) -> Hold:
    _require(f, "duration", "'hold' needs a duration, e.g. hold: {duration: 30s}")
    seconds, stretch = r.duration_span(f, "duration")
    countdown = 3 if r.value(f, "countdown") is True else r.count(f, "countdown", 0, minimum=0)
    return Hold(
        duration_s=seconds,
        countdown=countdown,
        halfway=r.flag(f, "halfway"),
        say=r.text(f, "say") if "say" in f else None,
        stretch=stretch,
        where=f.where,
    )


def _countdown(r: Reader, f: Fields) -> Countdown:
    count = r.count(f, "from")
    r.spend(count, f.where)
    return Countdown(count, where=f.where)


def _breathe(r: Reader, f: Fields) -> Breathe:
    _require(f, "pattern", "'breathe' needs a pattern, e.g. breathe: {pattern: box, cycles: 4}")
    pattern, preset = r.pattern(f, "pattern")
    top_up = SIGH_TOP_UP_S if preset == "sigh" else 0.0
    cycle_s = sum(pattern) + top_up
    if "cycles" in f and "duration" in f:
        raise RoutineError("'breathe' takes cycles or duration, not both: keep one", f.where)
    stretch: Stretch | None
    if "duration" in f:
        total, span = r.duration_span(f, "duration")
        lo, hi = (span.lo, span.hi) if span else (total, total)
        if lo < cycle_s:
            raise r.fail(
                f,
                "duration",
                f"a {lo:g} s duration is shorter than one {cycle_s:g} s breath; make it longer",
            )
        stretch = Stretch(lo // cycle_s, hi // cycle_s) if span else None
        cycles = stretch.whole(0.5) if stretch else int(total // cycle_s)
    else:
        cycles, stretch = r.count_span(f, "cycles", 4)
    holds = [s for s in (pattern[1], pattern[3]) if s > MAX_BREATH_HOLD_S]
    if holds and not r.flag(f, "long-holds"):
        raise RoutineError(
            f"a {max(holds):g} s breath hold is longer than {MAX_BREATH_HOLD_S:g} s, which can "
            "make people dizzy: shorten it, or add 'long-holds: true' to this step if you mean it",
            f.where,
        )
    most = int(stretch.hi) if stretch else cycles
    if pattern == BREATH_PRESETS["4-7-8"] and most > WEIL_MAX_CYCLES:
        r.warnings.append(
            f"{f.where}: {most} cycles of 4-7-8 breathing; Weil advises no more than "
            f"{WEIL_MAX_CYCLES} at one time at first: lower 'cycles' unless the listener is "
            "used to it"
        )
    return Breathe(
        pattern,
        cycles,
        guide_cycles=r.count(f, "guide", 2, minimum=0),
        top_up_s=top_up,
        pacer=r.pacer_style(f) if "pacer" in f else None,
        stretch=stretch,
        preset=preset,
        where=f.where,
    )


def _exercise(r: Reader, f: Fields) -> Exercise:
    _require(f, "name", "an exercise needs a name, e.g. exercise: {name: Lunge, hold: 30s}")
    title = r.text(f, "name")
    intro = r.lines(f, "say")
    sides = r.sides(f) if "sides" in f else ()
    if "rep" in f and "hold" in f:
        raise RoutineError(
            "an exercise takes 'rep' steps or a 'hold', not both; put the hold inside 'rep'",
            f.where,
        )
    body: tuple[Step, ...] = ()
    if "rep" in f:
        body = read_steps(r, f.values["rep"], f.at("rep"), f"{f.where.step}.", "rep")
    elif "hold" in f:
        hold = fields_of(r, "hold", f.values["hold"], YMap(), f.at("hold"))
        body = (_hold(r, hold),)
    rest_s, stretch = r.duration_span(f, "rest") if "rest" in f else (0.0, None)
    sets = r.count(f, "sets", 1)
    if rest_s > 0 and sets == 1:
        r.warnings.append(
            f"{f.at('rest')}: 'rest' is the rest between sets, and this exercise has one set, "
            "so it is never taken: add 'sets: 2' or more, or a 'pause:' inside 'rep'"
        )
    return Exercise(
        title,
        intro,
        sides,
        switch=r.text(f, "switch") if "switch" in f else None,
        sets=sets,
        rest_s=rest_s,
        reps=r.count(f, "reps", 1),
        body=body,
        stretch=stretch,
        where=f.where,
    )


def _interval(r: Reader, f: Fields) -> Interval:
    _require(f, "work", "an interval needs 'work', e.g. interval: {work: 20s, rest: 10s}")
    title = r.text(f, "name") if "name" in f else ""
    intro = r.lines(f, "say")
    if "exercises" in f:
        exercises = r.names(f, "exercises", "the exercises in order, e.g. [Squats, Push-ups]")
    else:
        r.spend(1, f.where)
        exercises = (title,) if title else ()
    rounds = r.count(f, "rounds", 1)
    countdown = r.count(f, "countdown", 3, minimum=0)
    halfway = r.flag(f, "halfway")
    rest_s = r.duration(f, "rest") if "rest" in f else 0.0
    periods = rounds * max(len(exercises), 1)
    # Every work period, rest, countdown and halfway is a cue: count them before expanding.
    r.spend(periods * (1 + halfway) + (periods - 1) * (1 + countdown) * (rest_s > 0), f.where)
    return Interval(
        title=title,
        work_s=r.duration(f, "work"),
        rest_s=rest_s,
        rounds=rounds,
        exercises=exercises,
        prepare_s=r.duration(f, "prepare", 10),
        countdown=countdown,
        sound=r.sound(f, "sound", BUILTIN_SOUNDS) if "sound" in f else Interval.sound,
        halfway=halfway,
        intro=intro,
        where=f.where,
    )


def _section(r: Reader, f: Fields) -> Section:
    title = r.text(f, "name")
    return Section(
        title, read_steps(r, f.values.get("steps"), f.where, f"{f.where.step}."), f.where
    )


def _repeat(r: Reader, f: Fields) -> Repeat:
    times = r.count(f, "times")
    return Repeat(times, read_steps(r, f.values.get("steps"), f.where, f"{f.where.step}."), f.where)


def _include(r: Reader, f: Fields) -> Step:
    raise AssertionError("read_steps reads includes in place")  # pragma: no cover


def _require(f: Fields, key: str, message: str) -> None:
    if key not in f:
        raise RoutineError(message, f.where)


# --- the table ----------------------------------------------------------------------------------

_COUNTDOWN_DOC: Final = "counts the last seconds aloud, e.g. 3 says 3, 2, 1"

KINDS: Final[dict[str, Kind]] = {
    kind.name: kind
    for kind in (
        Kind("say", "a line the voice speaks", (Key("text", "what is said"),), _say),
        Kind(
            "safety",
            "a caution: spoken, and listed on the page and handout",
            (Key("text", "what is said"),),
            _safety,
        ),
        Kind("pause", "silence", (Key("duration", "how long, or a range"),), _pause),
        Kind("sound", "a sound", (Key("name", "a built-in sound or a file"),), _sound),
        Kind(
            "hold",
            "a timed hold, exact to the sample",
            (
                Key("duration", "how long, or a range"),
                Key("countdown", _COUNTDOWN_DOC),
                Key("halfway", "says Halfway. at the midpoint"),
                Key("say", "spoken as the hold starts"),
            ),
            _hold,
        ),
        Kind(
            "countdown",
            "counts down aloud, a number a second; the next step starts on the next beat",
            (Key("from", "the number to count down from"),),
            _countdown,
        ),
        Kind(
            "breathe",
            "paced breathing",
            (
                Key("pattern", "inhale-hold-exhale-hold seconds, or a preset"),
                Key("cycles", "how many breaths, or a range"),
                Key("duration", "as many whole breaths as fit"),
                Key("guide", "how many first breaths have their phases spoken"),
                Key("pacer", "the pacer sound for this step"),
                Key("long-holds", "allows breath holds over 10 s"),
            ),
            _breathe,
        ),
        Kind(
            "exercise",
            "an exercise: a chapter, with sides, sets, reps",
            (
                Key("name", "announced, and the chapter's title"),
                Key("say", "spoken once before the first set"),
                Key("sides", "the sides, e.g. [right, left]"),
                Key("switch", "replaces Switch sides."),
                Key("sets", "how many sets"),
                Key("rest", "the rest between sets"),
                Key("reps", "how many reps, counted aloud"),
                Key("rep", "the steps of one rep"),
                Key("hold", "one hold per rep instead of rep steps"),
            ),
            _exercise,
        ),
        Kind(
            "interval",
            "clock-exact work and rest periods",
            (
                Key("name", "announced, and the chapter's title"),
                Key("say", "spoken before it starts"),
                Key("work", "each work period"),
                Key("rest", "between work periods"),
                Key("rounds", "times through the exercises"),
                Key("exercises", "the exercises in order"),
                Key("prepare", "before the first work period"),
                Key("countdown", _COUNTDOWN_DOC),
                Key("sound", "the tone that starts each work period"),
                Key("halfway", "says Halfway. in each work period"),
            ),
            _interval,
        ),
        Kind(
            "section",
            "steps under a chapter title",
            (Key("name", "the chapter's title"), Key("steps", "its steps")),
            _section,
            adds_cue=False,
        ),
        Kind(
            "repeat",
            "steps played several times",
            (Key("times", "how many times"), Key("steps", "its steps")),
            _repeat,
            adds_cue=False,
        ),
        Kind(
            "include",
            "the steps of another file, in place",
            (Key("file", "a .yaml file in the routine's folder"),),
            _include,
            adds_cue=False,
        ),
    )
}
_CONTAINERS: Final = ("exercise", "interval", "section", "repeat")
INCLUDED_KEYS: Final = ("title", "author", "description", "notes", "steps")
"""What an included file may hold: its steps, and text that documents them."""


# --- steps ----------------------------------------------------------------------------------


def read_steps(
    r: Reader, raw: Any, where: Where, prefix: str, what: str = "steps"
) -> tuple[Step, ...]:
    if not isinstance(raw, YList) or not raw:
        raise RoutineError(f"'{what}' needs a list of steps, got {show(raw)}", where)
    if prefix.count(".") >= MAX_NESTING:
        raise RoutineError(
            f"steps nest more than {MAX_NESTING} levels deep here: flatten the routine", where
        )
    steps: list[Step] = []
    for i, (item, line) in enumerate(zip(raw, raw.item_lines, strict=True), start=1):
        here = Where(r.file, line, f"{prefix}{i}")
        if isinstance(item, YMap) and "include" in item:
            steps += _read_include(r, item, here)
        else:
            steps.append(read_step(r, item, here))
    return tuple(steps)


def read_step(r: Reader, raw: Any, where: Where) -> Step:
    if isinstance(raw, str):
        r.spend(1, where)
        return Say(r.text_of(raw, where, "say"), where=where)
    if not isinstance(raw, YMap):
        raise RoutineError(f"a step is a mapping like 'say: Hello.', got {show(raw)}", where)
    if not raw:
        raise RoutineError("empty step: give it a kind, e.g. 'say: Hello.', or remove it", where)
    kind = _kind_of(raw, where)
    if KINDS[kind].adds_cue:
        r.spend(1, where)
    siblings = YMap(
        {k: v for k, v in raw.items() if k != kind},
        line=raw.line,
        key_lines={k: line for k, line in raw.key_lines.items() if k != kind},
    )
    f = fields_of(r, kind, raw[kind], siblings, at(raw, kind, where))
    return KINDS[kind].read(r, f)


def _kind_of(raw: YMap, where: Where) -> str:
    """The step's kind: the one kind key whose keys cover every other key of the step."""
    named = [k for k in raw if k in KINDS]
    if not named:
        key = next(iter(raw))
        raise RoutineError(
            f"unknown step kind '{key}': {suggest(key, KINDS, 'step kinds')}", at(raw, key, where)
        )
    for kind in sorted(named, key=lambda k: k not in _CONTAINERS):
        others = [k for k in raw if k != kind]
        if all(k in KINDS[kind].key_names for k in others):
            return kind
    kind = sorted(named, key=lambda k: k not in _CONTAINERS)[0]
    for key in raw:
        if key != kind and key not in KINDS[kind].key_names:
            if key in KINDS:
                raise RoutineError(
                    f"one step cannot be both '{kind}' and '{key}': split it into two steps",
                    at(raw, key, where),
                )
            raise RoutineError(_unknown_key(key, kind), at(raw, key, where))
    raise AssertionError("a kind covers its own keys")  # pragma: no cover


def fields_of(r: Reader, kind: str, value: Any, siblings: YMap, where: Where) -> Fields:
    """A step's keys as one mapping, whichever form it was written in. `where` is the line of the
    kind's key."""
    spec = KINDS[kind]
    if isinstance(value, YMap):
        for key in siblings:
            raise RoutineError(
                f"'{key}' goes inside the {kind}'s mapping when it is written as one: move it "
                f"in, or write {kind}: {spec.keys[0].name.upper()} with its keys beside it",
                at(siblings, key, where),
            )
        values = value
    else:
        values = YMap(
            {spec.keys[0].name: value, **siblings},
            line=where.line,
            key_lines={spec.keys[0].name: where.line, **siblings.key_lines},
        )
    for key in values:
        if key not in spec.key_names:
            raise RoutineError(_unknown_key(key, kind), at(values, key, where))
    shorthand = "" if values is value else spec.keys[0].name
    return Fields(
        kind, values, Where(where.file, siblings.line or where.line, where.step), shorthand
    )


def _unknown_key(key: str, kind: str) -> str:
    # `exercize: Lunge` beside `hold: 10s` is an exercise misspelt, not a hold with a stray key.
    kinds = [k for k in KINDS if k != kind]
    return f"unknown key '{key}': {suggest(key, KINDS[kind].key_names, f'{kind} keys', kinds)}"


# --- include ------------------------------------------------------------------------------------


def _read_include(r: Reader, raw: YMap, where: Where) -> tuple[Step, ...]:
    """The steps of another file, in place of this one; its messages name that file."""
    for key in raw:
        if key != "include":
            raise RoutineError(
                f"an include step holds only 'include', got '{key}': put it in a step of its own",
                at(raw, key, where),
            )
    f = fields_of(r, "include", raw["include"], YMap(), at(raw, "include", where))
    name = r.text(f, "file", template=False, translate=False)
    path = r.local_file(f, "file", "included file")
    if path in r.including:
        chain = " -> ".join(p.name for p in (*r.including, path))
        raise RoutineError(f"{name} includes itself ({chain}): remove one include", where)
    if len(r.including) > MAX_INCLUDE_DEPTH:
        raise RoutineError(
            f"includes nest more than {MAX_INCLUDE_DEPTH} files deep here: include the inner "
            "files directly",
            where,
        )
    shown = os.path.normpath(Path(r.file).parent / name)
    if not path.is_file():
        raise RoutineError(f"cannot include {name}: no such file ({path})", where)
    try:
        text = read_text(path)
    except RoutineError as e:
        raise RoutineError(f"cannot include {name}: {e}", where) from None
    doc = parse_yaml(text, shown)
    # Everything else is shared: the variables, budget, warnings, pacer, sides and translation.
    child = replace(
        r,
        file=shown,
        base_dir=path.parent,
        sound_dirs=(r.base_dir, *r.sound_dirs),
        including=(*r.including, path),
    )
    top = Where(shown, getattr(doc, "line", 1))
    if isinstance(doc, YMap):
        for key in doc:
            if key not in INCLUDED_KEYS:
                raise RoutineError(
                    f"an included file holds steps; '{key}' belongs in the main routine"
                    if key in {k.name for k in ROUTINE_KEYS}
                    else f"unknown key '{key}': {suggest(key, INCLUDED_KEYS, 'its keys')}",
                    at(doc, key, top),
                )
        return read_steps(child, doc.get("steps"), at(doc, "steps", top), "")
    return read_steps(child, doc, top, "")


def all_keys() -> set[str]:
    """Every key the routine language knows, at any level: what the docs must describe."""
    kinds = {key.name for kind in KINDS.values() for key in kind.keys}
    return {*KINDS, *kinds, *(key.name for table in KEY_TABLES for key in table)}
