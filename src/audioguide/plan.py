"""How a Timeline is shown: a readable table for people, a JSON document for other tools."""

from __future__ import annotations

from typing import Any

import numpy as np

from .audio import to_seconds
from .timeline import Cue, CueKind, Timeline


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
    if cue.text is not None:
        out["text"] = cue.text
    if cue.sound is not None:
        out["sound"] = cue.sound
    if cue.phase is not None:
        out["phase"] = cue.phase
    if cue.pan:
        out["pan"] = cue.pan
    return out


def _s(samples: int) -> float:
    return round(to_seconds(samples), 3)


def format_clock(seconds: float, decimals: bool = False) -> str:
    """`m:ss` (`mm:ss.s` with decimals), with hours in front only when there are any."""
    if decimals:
        seconds = round(seconds, 1)  # first, so 4:59.96 reads 5:00.0, not 4:60.0
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    secs_text = f"{secs:04.1f}" if decimals else f"{int(secs):02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs_text}"
    return f"{minutes:02d}:{secs_text}" if decimals else f"{minutes}:{secs_text}"


def format_plan(timeline: Timeline) -> str:
    """One line per cue, chapter headings between them, the total at the end."""
    lines = [timeline.title, ""]
    chapters = list(timeline.chapters)
    for cue in timeline.cues:
        while chapters and chapters[0].start_sample <= cue.start_sample:
            lines.append(f"== {chapters.pop(0).title}")
        start = format_clock(to_seconds(cue.start_sample), decimals=True)
        length = f"{to_seconds(cue.n_samples):5.1f}s"
        side = {-1: "  (left)", 1: "  (right)"}.get(int(np.sign(cue.pan)), "")
        lines.append(f"{start:>9} {length}  {cue.kind.value:<8} {_what(cue)}{side}")
    lines += [
        "",
        f"Total {format_clock(timeline.total_s)} "
        f"({len(timeline.cues)} cues, {len(timeline.chapters)} chapters)",
    ]
    return "\n".join(lines)


def _what(cue: Cue) -> str:
    if cue.kind is CueKind.SPEECH:
        return f'"{cue.text}"'
    if cue.kind is CueKind.SOUND:
        return str(cue.sound)
    if cue.kind is CueKind.WORK:
        return f"{cue.text} (starts with {cue.sound})" if cue.sound else str(cue.text)
    return cue.phase or ""
