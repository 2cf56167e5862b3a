"""The server as an ASGI app (Starlette): each request's path resolved by the catalog at that
moment, answered by answers.py, and recorded in the events store when it names a client."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..clients.schedule import Schedule
from ..clients.site import BLANK_PAGE, ROBOTS, client_feed, client_page, ended_html
from ..publish.feed import feed_xml
from . import answers
from .agents import app_of
from .catalog import (
    BeaconOf,
    Catalog,
    FeedOf,
    FileOf,
    Gone,
    Missing,
    PageOf,
    Root,
    Target,
)
from .events import Event, Events, EventsError, Kind, address_hash, secret
from .throttle import Limits, Throttle

LOG = logging.getLogger("audioguide.serve")
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml"


@dataclass(frozen=True)
class Settings:
    site: Path
    today: dt.date | None = None
    """The day the server takes it to be (tests and previews); None for the clock's."""
    limits: Limits = field(default_factory=Limits)
    record: bool = True


class Server:
    def __init__(self, settings: Settings) -> None:
        self.catalog = Catalog(settings.site, settings.today)
        self.throttle = Throttle(settings.limits)
        self.events = Events(settings.site) if settings.record else None
        self.key = secret(settings.site)
        self._rendered: dict[tuple[str, str, dt.date], tuple[Schedule, answers.Text]] = {}

    async def handle(self, request: Request) -> Response:
        raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
        target = self.catalog.resolve(raw, request.method)
        if request.method == "POST" and not isinstance(target, BeaconOf):
            target = Missing()  # the player's report is all that is ever posted
        response, sent = self.answer(request, target)
        if response.status_code == 404:
            address = request.client.host if request.client else ""
            delay = self.throttle.miss(address)
            if delay:
                await asyncio.sleep(delay)
        else:
            self.record(request, target, response, sent)
        return response

    def answer(self, request: Request, target: Target) -> tuple[Response, int]:
        """The answer, and the body bytes it carries."""
        headers = request.headers
        match target:
            case Root(name):
                body = ROBOTS if name else BLANK_PAGE
                return _sized(answers.text(headers, body, "text/plain" if name else HTML))
            case FeedOf():
                return _sized(answers.text(headers, self._feed(target), RSS))
            case PageOf():
                return _sized(answers.text(headers, self._page(target), HTML))
            case FileOf(path=path):
                return answers.file(headers, path, request.method)
            case BeaconOf():
                return Response(None, 204, dict(answers.SECURITY)), 0
            case Gone(schedule):
                body = ended_html(schedule.channel.language).encode()
                return _sized(answers.gone(body, HTML))
            case Missing():
                return _sized(answers.not_found())

    def _feed(self, target: FeedOf) -> answers.Text:
        s, day = target.schedule, target.day

        def render() -> bytes:
            folder = self.catalog.build / s.token
            episodes = () if s.revoked else s.episodes
            exists = lambda name: (folder / name).is_file()  # noqa: E731
            return feed_xml(client_feed(s.token, s.base_url, s.channel, episodes, day, exists))

        return self._made("feed", s, day, render)

    def _page(self, target: PageOf) -> answers.Text:
        s, day = target.schedule, target.day

        def render() -> bytes:
            feed = client_feed(s.token, s.base_url, s.channel, s.episodes, day, lambda n: False)
            return client_page(feed, s.channel, s.episodes, day).encode("utf-8")

        return self._made("page", s, day, render)

    def _made(
        self, what: str, schedule: Schedule, day: dt.date, render: Callable[[], bytes]
    ) -> answers.Text:
        """A feed or page rendered once a schedule and day: a schedule read again (a build
        wrote it) is a new object, and the entry kept for the old one no longer matches."""
        key = (what, schedule.token, day)
        kept = self._rendered.get(key)
        if kept is None or kept[0] is not schedule:
            kept = (schedule, answers.Text.of(render()))
            self._rendered[key] = kept
        return kept[1]

    def record(self, request: Request, target: Target, response: Response, sent: int) -> None:
        event = self.event(request, target, response.status_code, sent)
        if event is not None and self.events is not None:
            try:
                self.events.add([event])
            except EventsError as e:
                # A full disk must not keep a client from their session: they are answered,
                # and the operator is told (uvicorn's log, on stderr).
                LOG.warning("%s", e)

    def event(self, request: Request, target: Target, status: int, sent: int) -> Event | None:
        agent = app_of(request.headers.get("user-agent", ""))
        address = request.client.host if request.client else ""
        now = dt.datetime.now(dt.UTC)
        match target:
            case FeedOf(schedule) | PageOf(schedule):
                kind = Kind.FEED if isinstance(target, FeedOf) else Kind.PAGE
                who = address_hash(self.key, address)
                return Event(now, kind, schedule.token, None, agent, who, status, sent)
            case FileOf(schedule, path, episode) if episode and path.suffix == ".mp3":
                who = address_hash(self.key, address)
                number = episode.number
                return Event(now, Kind.DOWNLOAD, schedule.token, number, agent, who, status, sent)
            case BeaconOf(schedule, episode):
                position, duration = _seconds(request, "t"), _seconds(request, "d")
                who = address_hash(self.key, address)
                return Event(
                    now,
                    Kind.PLAY,
                    schedule.token,
                    episode.number,
                    agent,
                    who,
                    status,
                    0,
                    position,
                    duration or episode.entry.duration_s,
                )
        return None


def _sized(response: Response) -> tuple[Response, int]:
    return response, len(response.body)


def _seconds(request: Request, name: str) -> float | None:
    try:
        value = float(request.query_params.get(name, ""))
    except ValueError:
        return None
    return round(value, 1) if math.isfinite(value) and 0 <= value <= 86_400 else None


def make_app(settings: Settings) -> Starlette:
    server = Server(settings)
    methods = ["GET", "HEAD", "POST"]
    app = Starlette(routes=[Route("/{path:path}", server.handle, methods=methods)])
    app.state.server = server
    return app
