"""The text files that travel with a track: transcript (WebVTT, LRC) and chapter lists.

Each holds one line a cue or chapter: text that spans lines (a say: written as a block) or holds
a control character is put on one line (text.one_line); WebVTT's markup is escaped (vtt_text).

Players and apps each read a different one: podcast apps read Podcasting 2.0 JSON chapters,
Apple and Spotify read `00:00:00 Title` lines in an episode description, music players show an
.lrc beside the .mp3 as lyrics, and browsers caption with WebVTT.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..audio import to_seconds
from ..cues import Chapter, Speech, Timeline
from ..files import write_atomic
from ..text import one_line


@dataclass(frozen=True)
class Line:
    """One spoken cue of the transcript."""

    start_s: float
    end_s: float
    text: str


def transcript(timeline: Timeline) -> tuple[Line, ...]:
    spoken = sorted(
        (c for c in timeline.cues if isinstance(c, Speech) and c.text),
        key=lambda c: c.start_sample,
    )
    return tuple(Line(to_seconds(c.start_sample), to_seconds(c.end_sample), c.text) for c in spoken)


def webvtt(timeline: Timeline) -> str:
    blocks = ["WEBVTT", ""]
    for i, line in enumerate(transcript(timeline), start=1):
        blocks += [
            str(i),
            f"{_clock(line.start_s)} --> {_clock(line.end_s)}",
            vtt_text(line.text),
            "",
        ]
    return "\n".join(blocks)


def lrc(timeline: Timeline) -> str:
    """LRC lyrics: a line shows from its start until the next; a long silence clears it."""
    out = [f"[ti:{one_line(timeline.title)}]"]
    if timeline.author:
        out.append(f"[ar:{one_line(timeline.author)}]")
    out.append(f"[length:{_lrc_clock(timeline.total_s)[:5]}]")
    lines = transcript(timeline)
    for line, following in zip(lines, [*lines[1:], None], strict=True):
        out.append(f"[{_lrc_clock(line.start_s)}]{one_line(line.text)}")
        next_start = following.start_s if following else timeline.total_s
        if next_start - line.end_s >= 2.0:
            out.append(f"[{_lrc_clock(line.end_s)}]")
    return "\n".join(out) + "\n"


def chapter_lines(timeline: Timeline) -> str:
    """`00:00:00 Title`, one per chapter: what Apple and Spotify read from a description."""
    return chapter_list(timeline.chapters)


def chapter_list(chapters: Iterable[Chapter]) -> str:
    return "".join(f"{_hms(c.start_s)} {one_line(c.title)}\n" for c in chapters)


def chapters_json(timeline: Timeline) -> str:
    """Podcasting 2.0 JSON chapters (version 1.2.0)."""
    doc = {
        "version": "1.2.0",
        "title": timeline.title,
        "chapters": [
            {"startTime": round(c.start_s, 3), "endTime": round(c.end_s, 3), "title": c.title}
            for c in timeline.chapters
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def m3u(entries: Sequence[tuple[str, float, str]]) -> str:
    """An extended M3U playlist of (file name, duration in seconds, title)."""
    out = ["#EXTM3U"]
    for name, duration_s, title in entries:
        out += [f"#EXTINF:{round(duration_s)},{one_line(title)}", name]
    return "\n".join(out) + "\n"


def vtt_text(text: str) -> str:
    """A line of text as WebVTT cue text: on one line (a blank line would end the cue), with
    `&`, `<` and `>` escaped (cue text is markup: `<b>`, `<v Ann>`; and `-->` ends a cue)."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _lrc_clock(seconds: float) -> str:
    cs = round(seconds * 100)
    m, rest = divmod(cs, 6000)
    s, cs = divmod(rest, 100)
    return f"{m:02d}:{s:02d}.{cs:02d}"


def _hms(seconds: float) -> str:
    return _clock(seconds)[:8]


def write_companions(track: Path, timeline: Timeline) -> list[Path]:
    """Write the transcript and chapter lists beside the track, named after it."""
    files = {".vtt": webvtt, ".lrc": lrc}
    if timeline.chapters:
        files |= {".chapters.txt": chapter_lines, ".chapters.json": chapters_json}
    written = []
    for suffix, make in files.items():
        path = track.with_name(track.stem + suffix)
        write_atomic(path, make(timeline).encode("utf-8"))
        written.append(path)
    return written
