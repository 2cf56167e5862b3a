"""How a Timeline is shown: a readable table for people, a JSON document for other tools."""

from __future__ import annotations

from typing import Any, assert_never

import numpy as np

from ..audio import to_seconds
from ..cues import (
    BreathCue,
    Cue,
    HoldCue,
    RestCue,
    SilenceCue,
    SoundCue,
    Speech,
    Timeline,
    WorkCue,
    pan_of,
)
from ..model import sound_label
from ..strings import clock, plural
from ..text import printable


def plan_dict(timeline: Timeline) -> dict[str, Any]:
    """The `plan --json` document. Other tools build on this shape: only ever add to it."""
    return {
        "title": timeline.title,
        "author": timeline.author,
        "total_s": _s(timeline.total_samples),
        "chapters": [
            {"title": c.title, "start_s": _s(c.start_sample), "end_s": _s(c.end_sample)}
            for c in timeline.chapters
        ],
        "cues": [_cue_dict(c) for c in timeline.cues],
    }


def _cue_dict(cue: Cue) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": cue.kind.value,
        "start_s": _s(cue.start_sample),
        "end_s": _s(cue.end_sample),
    }
    match cue:
        case Speech(text=text):
            out["text"] = text
        case SoundCue(sound=sound):
            out["sound"] = sound_label(sound)
        case WorkCue(exercise=exercise, tone=tone):
            out["text"] = exercise
            if tone is not None:
                out["sound"] = sound_label(tone)
        case BreathCue(phase=phase, pacer=pacer):
            out |= {"sound": pacer, "phase": phase}  # "sound" is the pacer, as it always was
        case HoldCue() | RestCue() | SilenceCue():
            pass
        case _:
            assert_never(cue)
    pan = pan_of(cue)
    if pan:
        out["pan"] = pan
    return out


def _s(samples: int) -> float:
    return round(to_seconds(samples), 3)


def format_plan(timeline: Timeline) -> str:
    """One line per cue, chapter headings between them, the total at the end: for a terminal,
    so the text in it is printable (text.printable)."""
    lines = [printable(timeline.title), ""]
    chapters = list(timeline.chapters)
    for cue in timeline.cues:
        while chapters and chapters[0].start_sample <= cue.start_sample:
            lines.append(f"== {printable(chapters.pop(0).title)}")
        start = clock(to_seconds(cue.start_sample), tenths=True)
        length = f"{to_seconds(cue.n_samples):5.1f}s"
        side = {-1: "  (left)", 1: "  (right)"}.get(int(np.sign(pan_of(cue))), "")
        lines.append(f"{start:>9} {length}  {cue.kind.value:<8} {_what(cue)}{side}")
    lines += [
        "",
        f"Total {clock(timeline.total_s, tenths=True)} "
        f"({plural(len(timeline.cues), 'cue')}, {plural(len(timeline.chapters), 'chapter')})",
    ]
    return "\n".join(lines)


def _what(cue: Cue) -> str:
    match cue:
        case Speech(text=text):
            return f'"{printable(text)}"'
        case SoundCue(sound=sound):
            return sound_label(sound)
        case WorkCue(exercise=exercise, tone=tone):
            return f"{exercise} (starts with {sound_label(tone)})" if tone else exercise
        case BreathCue(phase=phase):
            return phase
        case HoldCue() | RestCue() | SilenceCue():
            return ""
        case _:
            assert_never(cue)
