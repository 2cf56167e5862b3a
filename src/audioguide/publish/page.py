"""The share page: self-contained HTML in the routine's language, no network requests.

The page is one file that works opened from disk or served by any static host: who it is for and
from which clinic, the player, the chapter list (click to seek), the transcript with its counts
folded in (the line being spoken is highlighted), the routine's notes and safety lines, and the
client's feed to subscribe to. Everything is inline; the only other files it names are the MP3,
the cover and the handout beside it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html import escape

from ..cues import Timeline
from ..model import Client, Routine
from ..strings import clock, number_pattern, table, words
from .companions import Line, transcript
from .html import asset, clinic_block, for_line, script_json, section_list, subscribe


@dataclass(frozen=True)
class Folded:
    """A transcript line with the counts that belong to it folded in ("Squeeze. 3, 2, 1")."""

    start_s: float
    end_s: float
    text: str


def folded_transcript(timeline: Timeline, routine: Routine) -> list[Folded]:
    """The transcript to read: a countdown's numbers join the line before them, a rep's number
    the line after it, so "3", "2", "1" never take a line each."""
    spoken = words(routine.language, routine.words, routine.register)
    count, rep = number_pattern(spoken["countdown"]), number_pattern(spoken["rep"])
    out: list[Folded] = []
    counted = False
    """Whether the last line already has counts folded in."""
    pending: Line | None = None
    """A rep number, waiting for the line it starts."""
    for line in transcript(timeline):
        if count.fullmatch(line.text) and (out or pending):
            if pending is not None:  # a rep that is only a counted hold: the number stands alone
                out.append(Folded(pending.start_s, pending.end_s, pending.text))
                pending, counted = None, False
            last = out[-1]
            text = f"{last.text}{', ' if counted else ' '}{line.text}"
            out[-1], counted = Folded(last.start_s, line.end_s, text), True
        elif _matches(rep, line.text):
            if pending is not None:
                out.append(Folded(pending.start_s, pending.end_s, pending.text))
            pending = line
        else:
            start, text = line.start_s, line.text
            if pending is not None:
                start, text, pending = pending.start_s, f"{pending.text} {text}", None
            out.append(Folded(start, line.end_s, text))
            counted = False
    if pending is not None:
        out.append(Folded(pending.start_s, pending.end_s, pending.text))
    return out


def _matches(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.fullmatch(text) is not None


def share_page(
    timeline: Timeline,
    routine: Routine,
    *,
    mp3_name: str,
    cover_name: str | None = None,
    handout_name: str | None = None,
    pdf_name: str | None = None,
    client: Client | None = None,
    day: dt.date | None = None,
) -> str:
    """The page, in the routine's language: `client` names who it is for (and their feed's QR
    code), `day` the session's date (default: the client's, else today)."""
    t = table(routine.language, routine.register)
    day = day or (client.date if client and client.date else dt.date.today())
    lines = folded_transcript(timeline, routine)
    data = {
        "chapters": [{"title": c.title, "start": c.start_s} for c in timeline.chapters],
        "lines": [{"start": x.start_s, "end": x.end_s, "text": x.text} for x in lines],
    }
    chapters, spoken = _chapter_items(timeline), _line_items(lines)
    cover = (
        f'<img class="cover" src="{escape(cover_name)}" alt="" width="160" height="160">'
        if cover_name
        else ""
    )
    links = [
        f'<a href="{escape(name)}">{escape(t.label(key))}</a>'
        for key, name in (("handout_link", handout_name), ("pdf_link", pdf_name))
        if name
    ]
    return asset("page.html").format(
        lang=escape(routine.language),
        title=escape(timeline.title),
        meta=escape(" · ".join(filter(None, [timeline.author, clock(timeline.total_s)]))),
        who=for_line(routine.language, client, day),
        clinic=clinic_block(routine),
        description=_paragraph(routine.description),
        cover=cover,
        mp3=escape(mp3_name),
        safety=section_list(t, "safety", routine.safety),
        notes=section_list(t, "notes", routine.notes),
        chapters_heading=escape(t.label("chapters")),
        transcript_heading=escape(t.label("transcript")),
        chapters=chapters,
        lines=spoken,
        links=f'<p class="links">{" &middot; ".join(links)}</p>' if links else "",
        subscribe=subscribe(routine.language, client, routine.register),
        css=asset("page.css"),
        data=script_json(data),
        js=asset("page.js"),
    )


def _chapter_items(timeline: Timeline) -> str:
    return "\n".join(
        f'<li><button type="button" data-start="{c.start_s:.3f}">'
        f'<span class="t">{clock(c.start_s)}</span> {escape(c.title)}</button></li>'
        for c in timeline.chapters
    )


def _line_items(lines: list[Folded]) -> str:
    return "\n".join(
        f'<li data-start="{x.start_s:.3f}"><span class="t">{clock(x.start_s)}</span> '
        f"{escape(x.text)}</li>"
        for x in lines
    )


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""
