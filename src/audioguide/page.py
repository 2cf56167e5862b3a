"""The share page and the printable handout: self-contained HTML, no network requests.

The page is one file that works opened from disk or served by any static host: the player, the
chapter list (click to seek), the transcript (the line being spoken is highlighted), and the
routine's notes and safety lines. Everything is inline; the only other file it names is the MP3
(and the cover image) beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .companions import transcript
from .model import Exercise, Hold, Routine, Step, Timeline, walk
from .strings import clock


@dataclass(frozen=True)
class Handout:
    """One exercise as the handout lists it."""

    title: str
    how: tuple[str, ...]
    dose: str


def share_page(
    timeline: Timeline,
    routine: Routine,
    *,
    mp3_name: str,
    cover_name: str | None = None,
    handout_name: str | None = None,
) -> str:
    data = {
        "chapters": [{"title": c.title, "start": c.start_s} for c in timeline.chapters],
        "lines": [
            {"start": x.start_s, "end": x.end_s, "text": x.text} for x in transcript(timeline)
        ],
    }
    chapters = "\n".join(
        f'<li><button type="button" data-start="{c.start_s:.3f}">'
        f'<span class="t">{clock(c.start_s)}</span> {escape(c.title)}</button></li>'
        for c in timeline.chapters
    )
    lines = "\n".join(
        f'<li data-start="{x.start_s:.3f}"><span class="t">{clock(x.start_s)}</span> '
        f"{escape(x.text)}</li>"
        for x in transcript(timeline)
    )
    cover = (
        f'<img class="cover" src="{escape(cover_name)}" alt="" width="160" height="160">'
        if cover_name
        else ""
    )
    handout = (
        f'<p><a href="{escape(handout_name)}">Printable handout</a></p>' if handout_name else ""
    )
    return _PAGE.format(
        title=escape(timeline.title),
        author=escape(timeline.author),
        length=clock(timeline.total_s),
        description=_paragraph(routine.description),
        cover=cover,
        mp3=escape(mp3_name),
        safety=_list("Safety", routine.safety),
        notes=_list("Notes", routine.notes),
        chapters=chapters,
        lines=lines,
        handout=handout,
        css=_CSS,
        # "</" would end the script element early; JSON allows escaping the slash.
        data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"),
        js=_JS,
    )


def handout_items(steps: Sequence[Step]) -> list[Handout]:
    """The exercises of a routine, in order, with how to do them and how much."""
    return [
        Handout(step.title, step.intro, _dose(step))
        for step in walk(tuple(steps))
        if isinstance(step, Exercise)
    ]


def handout_page(timeline: Timeline, routine: Routine) -> str:
    rows = "\n".join(
        f"<tr><th>{escape(item.title)}</th><td>{''.join(f'<p>{escape(h)}</p>' for h in item.how)}"
        f"</td><td>{escape(item.dose)}</td></tr>"
        for item in handout_items(routine.steps)
    )
    return _HANDOUT.format(
        title=escape(timeline.title),
        author=escape(timeline.author),
        length=clock(timeline.total_s),
        description=_paragraph(routine.description),
        safety=_list("Safety", routine.safety),
        notes=_list("Notes", routine.notes),
        rows=rows,
    )


def _dose(ex: Exercise) -> str:
    parts = []
    if ex.sets > 1:
        parts.append(f"{ex.sets} sets")
    if ex.reps > 1:
        parts.append(f"{ex.reps} reps")
    holds = [s.duration_s for s in ex.body if isinstance(s, Hold)]
    if holds:
        parts.append("hold " + ", ".join(f"{h:g} s" for h in holds))
    if ex.sides:
        parts.append("each side (" + ", ".join(ex.sides) + ")")
    if ex.rest_s:
        parts.append(f"rest {ex.rest_s:g} s between sets")
    return "; ".join(parts) or "once"


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""


def _list(heading: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f'<section class="{heading.lower()}"><h2>{heading}</h2><ul>{lis}</ul></section>'


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
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>{cover}<div><h1>{title}</h1><p class="meta">{author} &middot; {length}</p></div></header>
<audio controls preload="metadata" src="{mp3}"></audio>
{description}
{safety}
<section class="chapters"><h2>Chapters</h2><ol>
{chapters}
</ol></section>
<section class="transcript"><h2>Transcript</h2><ol>
{lines}
</ol></section>
{notes}
{handout}
<script type="application/json" id="data">{data}</script>
<script>{js}</script>
</body>
</html>
"""

_HANDOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}: handout</title>
<style>
body {{ font: 12pt/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 44rem; color: #111; }}
h1 {{ margin-bottom: 0; }} .meta {{ margin-top: .2rem; color: #555; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 1rem; }}
th, td {{ text-align: left; vertical-align: top; border-top: 1px solid #bbb; padding: .5rem; }}
th {{ width: 22%; }} td p {{ margin: 0 0 .3rem; }}
.safety {{ border: 2px solid #333; padding: .2rem 1rem; margin-top: 1rem; }}
@media print {{ body {{ margin: 0; max-width: none; }} tr {{ break-inside: avoid; }}
  a {{ color: inherit; text-decoration: none; }} }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">{author} &middot; {length}</p>
{description}
{safety}
<table>
<thead><tr><th>Exercise</th><td><b>How</b></td><td><b>How much</b></td></tr></thead>
<tbody>
{rows}
</tbody>
</table>
{notes}
</body>
</html>
"""
