"""The share page: self-contained HTML in the routine's language, no network requests.

The page is one file that works opened from disk or served by any static host: who it is for and
from which clinic, the player, the chapter list (click to seek), the transcript with its counts
folded in (the line being spoken is highlighted), the routine's notes and safety lines, and the
client's feed to subscribe to. Everything is inline; the only other files it names are the MP3,
the cover and the handout beside it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from html import escape

from ..cues import Timeline
from ..model import Client, Routine
from ..strings import clock, number_pattern, table, words
from .companions import Line, transcript
from .handout import clinic_block, for_line, section_list, subscribe


@dataclass(frozen=True)
class Folded:
    """A transcript line with the counts that belong to it folded in ("Squeeze. 3, 2, 1")."""

    start_s: float
    end_s: float
    text: str


def folded_transcript(timeline: Timeline, routine: Routine) -> list[Folded]:
    """The transcript to read: a countdown's numbers join the line before them, a rep's number
    the line after it, so "3", "2", "1" never take a line each."""
    spoken = words(routine.language, routine.words)
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
    t = table(routine.language)
    day = day or (client.date if client and client.date else dt.date.today())
    lines = folded_transcript(timeline, routine)
    data = {
        "chapters": [{"title": c.title, "start": c.start_s} for c in timeline.chapters],
        "lines": [{"start": x.start_s, "end": x.end_s, "text": x.text} for x in lines],
    }
    chapters = "\n".join(
        f'<li><button type="button" data-start="{c.start_s:.3f}">'
        f'<span class="t">{clock(c.start_s)}</span> {escape(c.title)}</button></li>'
        for c in timeline.chapters
    )
    spoken = "\n".join(
        f'<li data-start="{x.start_s:.3f}"><span class="t">{clock(x.start_s)}</span> '
        f"{escape(x.text)}</li>"
        for x in lines
    )
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
    return _PAGE.format(
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
        subscribe=subscribe(routine.language, client),
        css=_CSS,
        # "</" would end the script element early; JSON allows escaping the slash.
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        js=_JS,
    )


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""


_CSS = """
:root { color-scheme: light dark; --accent: #2f6f73; --hl: #e3f1ef; }
@media (prefers-color-scheme: dark) { :root { --accent: #7cc4c0; --hl: #1f3a3a; } }
body { font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 46rem; padding: 1.5rem; }
header { display: flex; gap: 1.25rem; align-items: center; }
.cover { border-radius: 12px; flex: none; }
h1 { margin: 0; font-size: 1.7rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.meta { opacity: .75; margin: .25rem 0 0; }
audio { width: 100%; margin: 1.25rem 0 .5rem; }
ol, ul { padding-left: 1.2rem; }
.chapters ol { list-style: none; padding: 0; }
.chapters button { font: inherit; background: none; border: 0; padding: .3rem .2rem; width: 100%;
                   text-align: left; cursor: pointer; color: inherit; border-radius: 6px; }
.chapters button:hover, .chapters button:focus-visible { background: var(--hl); }
.chapters li.now button { color: var(--accent); font-weight: 600; }
.t { font-variant-numeric: tabular-nums; opacity: .7; margin-right: .4rem; }
.transcript ol { list-style: none; padding: 0; max-height: 22rem; overflow-y: auto; }
.transcript li { padding: .2rem .4rem; border-radius: 6px; cursor: pointer; }
.transcript li.now { background: var(--hl); }
.safety { border-left: 4px solid var(--accent); padding-left: 1rem; }
.for { margin: .35rem 0 0; font-weight: 600; }
.clinic { display: flex; gap: .75rem; align-items: center; margin-top: 1rem; }
.clinic p { margin: 0; } .clinic-name { font-weight: 700; } .contact { opacity: .8; }
.logo { max-height: 3rem; max-width: 8rem; }
.subscribe { display: flex; gap: 1.25rem; align-items: center; flex-wrap: wrap;
             border-top: 1px solid var(--hl); margin-top: 1.5rem; padding-top: .5rem; }
.subscribe .qr { background: #fff; padding: .25rem; border-radius: 6px; line-height: 0; }
.subscribe h2 { margin-top: 0; } .subscribe div:last-child { flex: 1 1 16rem; }
.url { word-break: break-all; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.links { margin-top: 1.5rem; }
@media (max-width: 30rem) { header { flex-direction: column; align-items: flex-start; } }
"""

_JS = """
const data = JSON.parse(document.getElementById("data").textContent);
const audio = document.querySelector("audio");
const chapterItems = [...document.querySelectorAll(".chapters li")];
const lineItems = [...document.querySelectorAll(".transcript li")];
function seek(t) { audio.currentTime = t; audio.play().catch(() => {}); }
for (const b of document.querySelectorAll(".chapters button")) {
  b.addEventListener("click", () => seek(parseFloat(b.dataset.start)));
}
for (const li of lineItems) li.addEventListener("click", () => seek(parseFloat(li.dataset.start)));
function current(starts, t) {
  let lo = 0, hi = starts.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}
const chapterStarts = data.chapters.map(c => c.start), lineStarts = data.lines.map(l => l.start);
let lastLine = -1;
audio.addEventListener("timeupdate", () => {
  const t = audio.currentTime, c = current(chapterStarts, t);
  chapterItems.forEach((li, i) => li.classList.toggle("now", i === c));
  let l = current(lineStarts, t);
  if (l >= 0 && t > data.lines[l].end + 1.5) l = -1;
  if (l !== lastLine) {
    lineItems.forEach((li, i) => li.classList.toggle("now", i === l));
    if (l >= 0) lineItems[l].scrollIntoView({block: "nearest"});
    lastLine = l;
  }
});
"""

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>{cover}<div><h1>{title}</h1><p class="meta">{meta}</p>
{who}</div></header>
{clinic}
<audio controls preload="metadata" src="{mp3}"></audio>
{description}
{safety}
<section class="chapters"><h2>{chapters_heading}</h2><ol>
{chapters}
</ol></section>
<section class="transcript"><h2>{transcript_heading}</h2><ol>
{lines}
</ol></section>
{notes}
{subscribe}
{links}
<script type="application/json" id="data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
