"""The practitioner's dashboard: the client list (subscribed, app, adherence, last activity,
flags) and each client's timeline, as pages that read at phone width. It names every client, so
it listens on 127.0.0.1 only, unless a password (read from a file, never given on a command
line, where every user of the machine can read it) guards it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import AudioguideError
from .answers import SECURITY
from .catalog import release_day
from .events import Event, Events, Kind
from .report import ClientFigures, figures, members
from .show import clock, when

MIN_PASSWORD: Final = 12
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
        if c.places > 1:
            apps += f" from {c.places} places"
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


class DashboardError(AudioguideError):
    """The dashboard's password file cannot be used."""


def read_password(path: Path) -> str:
    """The password in the file's first line; an error unless it is long enough to guard a
    page on a network."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DashboardError(f"{path}: cannot read the dashboard's password ({e})") from None
    password = lines[0].strip() if lines else ""
    if len(password) < MIN_PASSWORD:
        raise DashboardError(
            f"{path}: the dashboard's password must be {MIN_PASSWORD} characters or more on "
            "its first line; make one with: openssl rand -base64 18"
        )
    return password


class Guard:
    """HTTP Basic authentication in front of an app: any user name, the one password."""

    def __init__(self, app: ASGIApp, password: str) -> None:
        self.app, self.password = app, password.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(Headers(scope=scope)):
            challenge = {"www-authenticate": 'Basic realm="audioguide", charset="UTF-8"'}
            await Response("Password needed\n", 401, {**SECURITY, **challenge})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)

    def _allowed(self, headers: Headers) -> bool:
        kind, _, value = headers.get("authorization", "").partition(" ")
        try:
            given = base64.b64decode(value, validate=True).partition(b":")[2]
        except ValueError:
            return False
        return kind.lower() == "basic" and hmac.compare_digest(given, self.password)


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
