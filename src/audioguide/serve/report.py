"""Who listened: for each client, whether they subscribed and with which app, each released
session downloaded or played and how far, adherence (sessions done of sessions released), last
activity, and a flag for a feed fetched by many apps (a link that was shared). Read from the
events, whether the server recorded them or an access log did (logs.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..clients.schedule import Schedule, schedules
from ..clients.state import CLIENTS, Member, SiteError, SiteState, state_dir
from .agents import BROWSER
from .catalog import check_site, release_day
from .events import Event, Events, Kind

DONE_DOWNLOADED: Final = 0.95
"""A session counts as done once an app has fetched this much of its MP3 (an app downloads a
session to play it: the best a feed can tell) ..."""
DONE_PLAYED: Final = 0.9
"""... or the page's player reported this far into it."""
SHARED_APPS: Final = 3
"""A feed fetched by this many different apps is flagged: one client has one or two."""


@dataclass(frozen=True)
class SessionFigures:
    number: int
    title: str
    released: dt.date
    downloaded: float
    """The share of the MP3's bytes sent to the client's apps (capped at 1); a browser's
    bytes are not counted: its player streams, and reports how far it played."""
    played_s: float
    """The furthest the page's player reported, in seconds (0 if never played there)."""
    duration_s: float
    first: dt.datetime | None
    """The first download or play, UTC."""

    @property
    def done(self) -> bool:
        return (
            self.downloaded >= DONE_DOWNLOADED or self.played_s >= DONE_PLAYED * self.duration_s > 0
        )


@dataclass(frozen=True)
class ClientFigures:
    name: str
    identity: str
    revoked: bool
    apps: tuple[str, ...]
    """The apps that fetched the feed, most used first; none: not subscribed."""
    sessions: tuple[SessionFigures, ...]
    """The sessions released to them, in order."""
    last: dt.datetime | None
    shared: bool
    places: int
    """How many addresses (as hashes) fetched the feed: a phone on Wi-Fi and on mobile data
    is two, so it is shown, not flagged."""

    @property
    def subscribed(self) -> bool:
        return bool(self.apps)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.sessions)


def members(site: Path) -> list[Member]:
    """The site's clients, as the builds left them."""
    path = state_dir(site) / CLIENTS
    try:
        program = str(json.loads(path.read_text(encoding="utf-8"))["program"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SiteError(
            f"{path} cannot be read ({type(e).__name__}: {e}): give the folder "
            "`audioguide program -o` wrote"
        ) from None
    return list(SiteState.load(site, program).members.values())


def figures(site: Path, events: Iterable[Event], today: dt.date) -> list[ClientFigures]:
    """Every client's figures as of `today`, in the order of their names."""
    people = members(site)
    plans = {s.token: s for s in schedules(site, [m.token for m in people])}
    by_token: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_token[event.token].append(event)
    out = [_client(m, plans[m.token], by_token[m.token], today) for m in people if m.token in plans]
    return sorted(out, key=lambda c: (c.name.casefold(), c.identity))


def _client(
    member: Member, schedule: Schedule, events: Sequence[Event], today: dt.date
) -> ClientFigures:
    fetched = [e for e in events if e.kind is Kind.FEED and e.status in (200, 304)]
    counts: dict[str, int] = defaultdict(int)
    for e in fetched:
        counts[e.app] += 1
    apps = tuple(sorted(counts, key=lambda a: (-counts[a], a)))
    sessions = tuple(
        _session(s.number, s.title, s.released, s.entry.bytes, s.entry.duration_s, events)
        for s in sorted(schedule.released(today), key=lambda s: s.number)
    )
    last = max((e.at for e in events), default=None)
    return ClientFigures(
        member.name,
        member.identity,
        schedule.revoked,
        apps,
        sessions,
        last,
        len(apps) >= SHARED_APPS,
        len({e.who for e in fetched}),
    )


def _session(
    number: int,
    title: str,
    released: dt.date,
    size: int,
    duration_s: float,
    events: Sequence[Event],
) -> SessionFigures:
    own = [e for e in events if e.session == number]
    # A browser's player streams what it plays: the page reports how far, its bytes say less.
    fetched = [e for e in own if e.kind is Kind.DOWNLOAD and e.app != BROWSER]
    sent = sum(e.bytes for e in fetched if e.status in (200, 206))
    played = [e.position_s or 0.0 for e in own if e.kind is Kind.PLAY]
    touched = [e.at for e in own if (e.kind is Kind.DOWNLOAD and e.bytes) or e.kind is Kind.PLAY]
    return SessionFigures(
        number,
        title,
        released,
        min(1.0, sent / size) if size else 0.0,
        min(max(played, default=0.0), duration_s),
        duration_s,
        min(touched, default=None),
    )


def site_figures(site: Path, today: dt.date | None = None) -> list[ClientFigures]:
    """The figures from the site's events database, as of `today` (default: the clock's)."""
    check_site(site)
    store = Events(site)
    try:
        return figures(site, list(store.all()), today or release_day(dt.datetime.now(dt.UTC)))
    finally:
        store.close()
