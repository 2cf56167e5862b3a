"""The printable handout: every step a client does with all its numbers, who it is for, the
date, the clinic, and the feed to subscribe to, on one A4 page for a typical home program.

Breathing gives its pattern, phases, breaths, total time and breaths a minute; an interval its
work, rest, rounds, order and total; an exercise its sets, reps, sides, holds, countdowns and each
rep's parts with their time. Self-contained HTML, printed to PDF by pdf.py; every word not the
routine's own comes from the language's string table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from typing import Final, assert_never

from ..cues import Timeline
from ..model import (
    Breathe,
    Client,
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
    breath_phases,
    step_numbers,
)
from ..strings import Table, clock, table, words
from .html import asset, clinic_block, for_line, section_list, subscribe

ACTIVITY_S: Final = 10.0
"""A pause this long right after lines said is a step the client does for that long (a warm-up's
"march on the spot", 30 s); a shorter one is room between the lines."""
ROUND_FROM_S: Final = 10.0
"""Times from this up print in whole seconds."""

_PHASE_LABELS: Final = {
    "inhale": "breath_in",
    "top-up": "top_up",
    "hold": "breath_hold",
    "exhale": "breath_out",
    "hold-empty": "breath_hold_empty",
}


@dataclass(frozen=True)
class Row:
    """One line of the handout's table: a step the client does, or a section's heading."""

    title: str
    how: tuple[str, ...] = ()
    """The routine's own words for it."""
    tempo: tuple[str, ...] = ()
    """One rep, part by part, when a rep is more than a hold."""
    dose: tuple[str, ...] = ()
    """How much: sets, reps, sides, holds, times, counts."""
    heading: bool = False
    step: Step | None = field(default=None, compare=False, repr=False)


def handout_rows(routine: Routine, timeline: Timeline) -> list[Row]:
    """The routine's steps as the handout lists them, in order: every exercise, interval,
    breathing, hold and countdown, with the lines said just before it as its "how"."""
    return _Describer(routine, timeline).rows(routine.steps)


class _Describer:
    def __init__(self, routine: Routine, timeline: Timeline) -> None:
        self.t = table(routine.language, routine.register)
        self.routine = routine
        self.words = words(routine.language, routine.words, routine.register)
        # How long a rep takes, from the track itself: the tempo on paper is the one heard.
        self.numbers = step_numbers(routine.steps)
        self.reps = {r.step: r.duration_s for r in timeline.reps}
        self.out: list[Row] = []

    def rows(self, steps: tuple[Step, ...]) -> list[Row]:
        self.visit(steps, [], 1, top=True)
        return self.out

    def visit(
        self, steps: tuple[Step, ...], said: list[str], times: int, top: bool = False
    ) -> None:
        for step in steps:
            match step:
                case Say(text=text, safety=safety):
                    # The safety lines have a box of their own.
                    if not safety:
                        said.append(text)
                case Pause(duration_s=d) if said and d >= ACTIVITY_S:
                    # "March on the spot" and 30 s to do it: a step as much as an exercise is.
                    dose = (self.seconds(d), *([self.times(times)] if times > 1 else []))
                    self.out.append(Row(said[0], tuple(said[1:]), dose=dose, step=step))
                    said.clear()
                case Pause() | Sound():
                    if top:
                        said.clear()  # a welcome or a transition, said and left
                case Section(title=title, steps=inner):
                    start = len(self.out)
                    self.visit(inner, [], times)
                    if len(self.out) > start:
                        self.out.insert(start, Row(title, heading=True, step=step))
                case Repeat(times=n, steps=inner):
                    self.visit(inner, said, times * n)
                case Exercise() | Interval() | Breathe() | Hold() | Countdown():
                    # The top level's lines welcome and introduce (the description says that on
                    # paper), not how to do the step after them.
                    row = self.row(step, () if top else tuple(said))
                    if times > 1:
                        row = Row(row.title, row.how, row.tempo, (*row.dose, self.times(times)))
                    self.out.append(Row(row.title, row.how, row.tempo, row.dose, step=step))
                    said.clear()
                case _:
                    assert_never(step)

    def row(
        self, step: Exercise | Interval | Breathe | Hold | Countdown, said: tuple[str, ...]
    ) -> Row:
        t = self.t
        match step:
            case Exercise():
                return self.exercise(step)
            case Interval():
                return self.interval(step)
            case Breathe():
                title = (
                    t.label(f"preset_{_preset(step.preset)}")
                    if step.preset
                    else t.label("breathing")
                )
                return Row(title, said, dose=self.breathing(step))
            case Hold():
                return Row(t.label("hold_row"), said, dose=(self.hold(step),))
            case Countdown(count=n):
                return Row(t.label("countdown_row"), said, dose=(t.label("countdown_dose", n=n),))
            case _:
                assert_never(step)

    def times(self, n: int) -> str:
        return self.t.count("times", n)

    def seconds(self, s: float) -> str:
        # A fitted hold of 35.7 s reads as the 36 s the page's clock shows; a written 2.5 s
        # pause, short enough for the tenth to matter, as written.
        return self.t.duration(s if s < ROUND_FROM_S else round(s))

    def hold(self, hold: Hold) -> str:
        parts = [self.t.label("hold", time=self.seconds(hold.duration_s))]
        if hold.countdown:
            parts.append(self.t.label("countdown_from", n=hold.countdown))
        if hold.halfway:
            parts.append(self.t.label("halfway_call"))
        return ", ".join(parts)

    def exercise(self, ex: Exercise) -> Row:
        t = self.t
        dose = []
        if ex.sets > 1:
            dose.append(t.count("sets", ex.sets))
        if ex.reps > 1:
            dose.append(t.count("reps", ex.reps))
        if ex.sides:
            names = ", ".join(_lower_first(t.side(s, self.routine.side_names)) for s in ex.sides)
            dose.append(t.label("each_side", sides=names))
        single_hold = len(ex.body) == 1 and isinstance(ex.body[0], Hold)
        if single_hold:
            assert isinstance(ex.body[0], Hold)
            dose.append(self.hold(ex.body[0]))
        if ex.sets > 1 and ex.rest_s > 0:
            dose.append(t.label("rest_between_sets", time=self.seconds(ex.rest_s)))
        tempo: tuple[str, ...] = ()
        if ex.body and not single_hold:
            tempo = (*self.tempo(ex.body), t.label("rep_time", time=self.seconds(self.rep_s(ex))))
        return Row(ex.title, ex.intro, tempo, tuple(dose) or (t.label("once"),))

    def tempo(self, body: tuple[Step, ...]) -> list[str]:
        """One rep, part by part: its lines as said, and every hold, pause and breath timed."""
        parts = []
        for step in body:
            match step:
                case Say(text=text):
                    parts.append(text)
                case Hold():
                    parts.append(self.hold(step))
                case Pause(duration_s=d):
                    parts.append(self.t.label("pause", time=self.seconds(d)))
                case Breathe():
                    parts.append(", ".join(self.breathing(step)))
                case Countdown(count=n):
                    parts.append(self.t.label("countdown_dose", n=n))
                case Repeat(times=n, steps=inner):
                    parts.append(f"{self.times(n)}: " + " · ".join(self.tempo(inner)))
                case Section(steps=inner):
                    parts += self.tempo(inner)
                case Sound() | Exercise() | Interval():
                    pass
                case _:
                    assert_never(step)
        return parts

    def rep_s(self, ex: Exercise) -> float:
        """How long one rep takes in the track, its count included."""
        return self.reps[self.numbers[id(ex)]]

    def breathing(self, b: Breathe) -> tuple[str, ...]:
        t = self.t
        pattern = "-".join(t.number(s) for s in b.pattern)
        phases = ", ".join(
            t.label(_PHASE_LABELS[word], time=self.seconds(seconds))
            for _, word, seconds in breath_phases(b)
        )
        return (
            t.label("pattern", pattern=pattern),
            phases,
            t.count("breaths", b.cycles),
            t.label("total_time", time=self.seconds(b.cycles * b.cycle_s)),
            t.label("per_minute", n=t.number(60 / b.cycle_s)),
        )

    def interval(self, iv: Interval) -> Row:
        t = self.t
        how = list(iv.intro)
        if len(iv.exercises) > 1:
            how.append(
                t.label("in_order")
                + " "
                + ", ".join(f"{i}. {name}" for i, name in enumerate(iv.exercises, start=1))
            )
        periods = iv.rounds * max(len(iv.exercises), 1)
        total = iv.prepare_s + periods * iv.work_s + (periods - 1) * iv.rest_s
        dose = [t.label("work", time=self.seconds(iv.work_s))]
        if iv.rest_s:
            dose.append(t.label("interval_rest", time=self.seconds(iv.rest_s)))
        dose.append(t.count("rounds", iv.rounds))
        dose.append(t.label("prepare", time=self.seconds(iv.prepare_s)))
        if iv.countdown:
            dose.append(t.label("countdown_from", n=iv.countdown))
        if iv.halfway:
            dose.append(t.label("halfway_call"))
        dose += [t.label("tone"), t.label("total_time", time=self.seconds(total))]
        return Row(iv.title or self.words["intervals"], tuple(how), dose=tuple(dose))


def _preset(name: str) -> str:
    return "relax" if name == "4-7-8" else name


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def handout_page(
    timeline: Timeline, routine: Routine, *, client: Client | None = None, day: dt.date
) -> str:
    """The handout as one self-contained HTML page, in the routine's language."""
    t = table(routine.language, routine.register)
    rows = "\n".join(_row_html(t, row) for row in handout_rows(routine, timeline))
    return asset("handout.html").format(
        lang=escape(routine.language),
        title=escape(timeline.title),
        page_title=escape(t.label("handout_title", title=timeline.title)),
        meta=escape(" · ".join(filter(None, [timeline.author, clock(timeline.total_s)]))),
        who=for_line(routine.language, client, day),
        clinic=clinic_block(routine),
        description=f"<p>{escape(routine.description)}</p>" if routine.description else "",
        safety=section_list(t, "safety", routine.safety),
        notes=section_list(t, "notes", routine.notes),
        col_step=escape(t.label("col_step")),
        col_how=escape(t.label("col_how")),
        col_dose=escape(t.label("col_dose")),
        rows=rows,
        subscribe=subscribe(routine.language, client, routine.register),
        css=asset("handout.css"),
    )


def _row_html(t: Table, row: Row) -> str:
    if row.heading:
        return f'<tr class="heading"><th colspan="3">{escape(row.title)}</th></tr>'
    # One paragraph of the routine's lines: a page holds a whole home program.
    how = f"<p>{escape(' '.join(row.how))}</p>" if row.how else ""
    if row.tempo:
        parts = " &rarr; ".join(escape(p) for p in row.tempo[:-1])
        how += (
            f'<p class="tempo"><b>{escape(t.label("each_rep"))}</b> {parts} '
            f"<i>({escape(row.tempo[-1])})</i></p>"
        )
    dose = "".join(f"<li>{escape(d)}</li>" for d in row.dose)
    title = f"<th>{escape(row.title)}</th>"
    if not how:  # nothing to say how: the numbers take the width, in one line
        return f'<tr>{title}<td colspan="2" class="only"><ul>{dose}</ul></td></tr>'
    return f"<tr>{title}<td>{how}</td><td><ul>{dose}</ul></td></tr>"
