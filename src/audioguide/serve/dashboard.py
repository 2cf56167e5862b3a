"""The practitioner's dashboard: the client list (subscribed, app, adherence, last activity,
flags) and each client's timeline, as pages that read at phone width. It listens on 127.0.0.1
only (reach it from elsewhere through an SSH tunnel): it names every client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .answers import SECURITY
from .catalog import release_day
from .events import Event, Events, Kind
from .report import ClientFigures, figures, members
from .show import clock, when

STYLE: Final = (
    "body{font:1rem/1.45 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.4rem}ul{list-style:none;padding:0}li.client{border:1px solid #ccc;"
    "border-radius:.5rem;padding:.6rem .8rem;margin:.6rem 0}a{color:#05c}"
    ".flag{background:#fde2c8;border-radius:.3rem;padding:0 .3rem;margin-left:.3rem}"
    ".meta{color:#555;font-size:.9rem;overflow-wrap:anywhere}"
    "ol.timeline{padding-left:1.2rem}ol.timeline li{margin:.3rem 0}"
)


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def client_list(clients: Sequence[ClientFigures]) -> str:
    items = []
    for number, c in enumerate(clients, 1):
        apps = escape(", ".join(c.apps)) if c.apps else "not subscribed"
        flags = "".join(
            f'<span class="flag">{f}</span>'
            for f, on in (("access ended", c.revoked), ("shared link?", c.shared))
            if on
        )
        last = f"last {when(c.last)} UTC" if c.last else "no activity"
        items.append(
            f'<li class="client"><a href="client/{number}">{escape(c.name)}</a>{flags}'
            f'<div class="meta">{apps} · {c.done} of {len(c.sessions)} sessions done · '
            f"{last}</div></li>"
        )
    return page("Clients", f"<h1>Clients</h1><ul>{''.join(items)}</ul>")


def timeline(client: ClientFigures, events: Sequence[Event]) -> str:
    items = "".join(
        f"<li>{when(e.at)} · {escape(_what(e))} <span class='meta'>{escape(e.app)}</span></li>"
        for e in sorted(events, key=lambda e: e.at, reverse=True)
    )
    sessions = "".join(
        f"<li>Session {s.number} ({s.released.isoformat()}): "
        f"{'done' if s.done else 'not done'}, downloaded {s.downloaded:.0%}"
        + (f", played {clock(s.played_s)} of {clock(s.duration_s)}" if s.played_s else "")
        + "</li>"
        for s in client.sessions
    )
    body = (
        f'<p><a href="../">All clients</a></p><h1>{escape(client.name)}</h1>'
        f"<h2>Sessions</h2><ul>{sessions}</ul><h2>Timeline (UTC)</h2>"
        f'<ol class="timeline">{items or "<li>No activity yet.</li>"}</ol>'
    )
    return page(client.name, body)


def _what(e: Event) -> str:
    match e.kind:
        case Kind.FEED:
            return "fetched the feed"
        case Kind.PAGE:
            return "opened the page"
        case Kind.DOWNLOAD:
            return f"downloaded session {e.session} ({e.bytes:,} bytes, {e.status})"
        case Kind.PLAY:
            return f"played session {e.session} to {clock(e.position_s or 0)}"


def make_dashboard(site: Path, today: dt.date | None = None) -> Starlette:
    def read() -> tuple[list[ClientFigures], list[Event]]:
        store = Events(site)
        try:
            events = list(store.all())
        finally:
            store.close()
        day = today or release_day(dt.datetime.now(dt.UTC))
        return figures(site, events, day), events

    async def clients(request: Request) -> Response:
        return HTMLResponse(client_list(read()[0]), headers=dict(SECURITY))

    async def one(request: Request) -> Response:
        listed, events = read()
        number = int(request.path_params["number"])
        if not 1 <= number <= len(listed):
            return HTMLResponse(page("Not found", "<p>No such client.</p>"), 404)
        client = listed[number - 1]
        tokens = {m.token for m in members(site) if m.identity == client.identity}
        own = [e for e in events if e.token in tokens]
        return HTMLResponse(timeline(client, own), headers=dict(SECURITY))

    routes = [Route("/", clients), Route("/client/{number:int}", one)]
    return Starlette(routes=routes)
