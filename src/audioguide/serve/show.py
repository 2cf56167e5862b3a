"""The report as a terminal table and as CSV. Every name is a client's text: escaped for the
terminal, and kept from being read as a formula by a spreadsheet."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Final

from ..text import printable
from .report import ClientFigures, SessionFigures

CSV_COLUMNS: Final = (
    "client",
    "id",
    "subscribed",
    "apps",
    "shared_link",
    "feed_places",
    "revoked",
    "done",
    "released",
    "last_activity_utc",
    "session",
    "title",
    "release_day",
    "downloaded_pct",
    "played_s",
    "duration_s",
    "first_utc",
    "session_done",
)


def when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if at else ""


def clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def table(clients: Sequence[ClientFigures]) -> str:
    """One line per client, one indented line per released session; times in UTC."""
    if not clients:
        return "No clients on this site yet.\n"
    width = max(len(printable(c.name)) for c in clients)
    lines = []
    for c in clients:
        subscribed = f"subscribed ({', '.join(c.apps)})" if c.apps else "not subscribed"
        flags = "".join(
            f"  [{f}]" for f, on in (("access ended", c.revoked), ("shared link?", c.shared)) if on
        )
        last = f"last {when(c.last)}" if c.last else "no activity"
        done = f"{c.done} of {len(c.sessions)} done"
        lines.append(f"{printable(c.name):<{width}}  {subscribed}  {done}  {last}{flags}")
        lines += [f"  {_session_line(s)}" for s in c.sessions]
    return "\n".join(lines) + "\n"


def _session_line(s: SessionFigures) -> str:
    got = f"downloaded {s.downloaded:.0%}" if s.downloaded else "not downloaded"
    played = f"played {clock(s.played_s)} of {clock(s.duration_s)}" if s.played_s else ""
    mark = "done" if s.done else "not done"
    parts = [f"{s.number:>2}  {s.released.isoformat()}", got, played, mark, when(s.first)]
    return "  ".join(p for p in parts if p)


def csv_text(clients: Sequence[ClientFigures]) -> str:
    """One row per client and released session (a client with none has one row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in clients:
        head = [
            _cell(c.name),
            _cell(c.identity),
            "yes" if c.subscribed else "no",
            _cell(" ".join(c.apps)),
            "yes" if c.shared else "no",
            c.places,
            "yes" if c.revoked else "no",
            c.done,
            len(c.sessions),
            when(c.last),
        ]
        for s in c.sessions or (None,):
            writer.writerow(head + (_session_cells(s) if s else [""] * 8))
    return out.getvalue()


def _session_cells(s: SessionFigures) -> list[object]:
    return [
        s.number,
        _cell(s.title),
        s.released.isoformat(),
        round(100 * s.downloaded),
        round(s.played_s, 1),
        round(s.duration_s, 1),
        when(s.first),
        "yes" if s.done else "no",
    ]


def _cell(value: str) -> str:
    # A cell starting with = + - @ (or a tab or return) is a formula to a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
