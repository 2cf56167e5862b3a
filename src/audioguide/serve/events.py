"""The events store: every feed fetch, page view, download and play, per client token and
session, in one SQLite file beside the site (WAL: a reader never blocks the server, and a
killed server loses no committed event).

No address is kept in the clear: `who` is a keyed hash (HMAC-SHA-256, truncated to 64 bits)
of the address under a secret made once per site and kept beside it, so the report can tell
that two fetches came from one place (a shared link shows as many places and apps) while the
file alone, copied or subpoenaed, names no address: without the secret, trying every IPv4
address gives nothing to compare against.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

from ..clients.state import state_dir
from ..errors import AudioguideError
from ..files import write_atomic

DATABASE: Final = "events.sqlite3"
SECRET: Final = "events.key"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    at TEXT NOT NULL,            -- UTC, ISO 8601, to the second
    kind TEXT NOT NULL,          -- feed, page, download, play
    token TEXT NOT NULL,
    session INTEGER,             -- the session's number; NULL for the feed and page
    app TEXT NOT NULL,           -- from the User-Agent (agents.py)
    who TEXT NOT NULL,           -- keyed hash of the address, never the address
    status INTEGER NOT NULL,
    bytes INTEGER NOT NULL,      -- body bytes sent (a download's part; 0 for a 304)
    position_s REAL,             -- play: how far the player was
    duration_s REAL,             -- play: the session's length
    source TEXT NOT NULL,        -- "server", or the access log it was read from
    ref TEXT UNIQUE              -- an imported log line's hash: read twice, counted once
);
CREATE INDEX IF NOT EXISTS events_token ON events (token, session, at);
"""


class EventsError(AudioguideError):
    """The events database cannot be opened or written."""


class Kind(enum.StrEnum):
    FEED = "feed"
    PAGE = "page"
    DOWNLOAD = "download"
    PLAY = "play"


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: Kind
    token: str
    session: int | None
    app: str
    who: str
    status: int
    bytes: int = 0
    position_s: float | None = None
    duration_s: float | None = None
    source: str = "server"
    ref: str | None = None


def secret(site: Path) -> bytes:
    """The site's hashing secret, made on first use (readable by its owner only)."""
    path = state_dir(site) / SECRET
    try:
        return path.read_bytes()
    except FileNotFoundError:
        write_atomic(path, secrets.token_bytes(32))
        os.chmod(path, 0o600)
        return path.read_bytes()


def address_hash(key: bytes, address: str) -> str:
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:16]


class Events:
    """The site's events database, opened for one thread (the server's event loop, or a
    command)."""

    def __init__(self, site: Path) -> None:
        self.path = state_dir(site) / DATABASE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: each commit is in the WAL before the server answers; a killed process
            # loses nothing, a power cut at most the last moments (sync on checkpoint).
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise EventsError(f"{self.path}: cannot open the events database ({e})") from None

    def add(self, events: Iterable[Event]) -> int:
        """Records the events (one transaction); returns how many were new."""
        rows = [_row(e) for e in events]
        marks = ", ".join("?" * len(fields(Event)))
        try:
            with self.db:
                before = self.db.total_changes
                self.db.executemany(f"INSERT OR IGNORE INTO events VALUES ({marks})", rows)
                return self.db.total_changes - before
        except sqlite3.Error as e:
            raise EventsError(f"{self.path}: cannot record events ({e})") from None

    def all(self) -> Iterator[Event]:
        for row in self.db.execute("SELECT * FROM events ORDER BY at, rowid"):
            yield Event(dt.datetime.fromisoformat(row[0]), Kind(row[1]), *row[2:])

    def forget_before(self, when: dt.datetime) -> int:
        """Deletes the events older than `when` (the retention period); returns how many."""
        with self.db:
            cursor = self.db.execute("DELETE FROM events WHERE at < ?", (_at(when),))
        return cursor.rowcount

    def close(self) -> None:
        self.db.close()


def _at(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def _row(e: Event) -> tuple[object, ...]:
    # By hand: dataclasses.astuple deep-copies, a fifth of a feed fetch's time (profiled).
    return (
        *(_at(e.at), str(e.kind), e.token, e.session, e.app, e.who, e.status, e.bytes),
        *(e.position_s, e.duration_s, e.source, e.ref),
    )
