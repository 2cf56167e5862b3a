"""Another host's access log read into the site's events, so a site uploaded anywhere still
shows who listened: nginx's and Apache's combined format (read by apachelogs, from the same
LogFormat string the servers use), Caddy's JSON lines and Amazon S3's server access log. Each
request for a client's path becomes the event the server would have recorded for it; the rest
of the log is passed over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import apachelogs

from ..clients.schedule import Schedule
from ..clients.site import FEED, PAGE
from ..errors import AudioguideError
from .agents import app_of
from .catalog import BEACON, Catalog, check_site
from .events import Event, Events, Kind, address_hash, secret

COMBINED: Final = apachelogs.COMBINED
"""nginx's default `combined` log_format, and Apache's."""
S3: Final = re.compile(
    r'\S+ \S+ \[(?P<time>[^\]]+)\] (?P<ip>\S+) \S+ \S+ \S+ \S+ "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) \S+ (?P<bytes>\S+) \S+ \S+ \S+ "[^"]*" "(?P<agent>[^"]*)"'
)
"""S3's fields, in order: owner, bucket, [time], remote IP, requester, request id, operation,
key, "request-URI", status, error code, bytes sent, object size, total and turn-around time,
"referer", "user agent", then more that differ between versions (not read)."""


class LogError(AudioguideError):
    """An access log that cannot be read as any format known here."""


@dataclass(frozen=True)
class Request:
    """One line of a log, whatever its format."""

    at: dt.datetime
    address: str
    method: str
    target: str
    status: int
    bytes: int
    agent: str
    line: str


def import_log(site: Path, log: Path) -> int:
    """Reads `log` into the site's events; returns how many events were new."""
    check_site(site)
    catalog, key = Catalog(site), secret(site)
    events = [e for r in read_log(log) if (e := event_of(catalog, key, r, log.name))]
    store = Events(site)
    try:
        return store.add(events)
    finally:
        store.close()


def read_log(log: Path) -> Iterator[Request]:
    parser = apachelogs.LogParser(COMBINED)
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise LogError(f"{log}: cannot be read ({e.strerror})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield _one(parser, line)
        except (ValueError, KeyError, TypeError, apachelogs.Error):
            raise LogError(
                f"{log}:{number}: not an nginx/Apache combined, Caddy JSON or S3 access log "
                "line; give the server's access log in one of those formats"
            ) from None


def _one(parser: apachelogs.LogParser, line: str) -> Request:
    if line.lstrip().startswith("{"):
        return _caddy(line)
    s3 = S3.match(line)
    return _s3(s3, line) if s3 else _combined(parser, line)


def _s3(match: re.Match[str], line: str) -> Request:
    method, _, rest = match["request"].partition(" ")
    return Request(
        dt.datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z"),
        match["ip"],
        method,
        rest.rsplit(" ", 1)[0],
        int(match["status"]),
        0 if match["bytes"] == "-" else int(match["bytes"]),
        "" if match["agent"] == "-" else match["agent"],
        line,
    )


def _combined(parser: apachelogs.LogParser, line: str) -> Request:
    entry = parser.parse(line)
    method, _, rest = (entry.request_line or "").partition(" ")
    return Request(
        entry.request_time,
        entry.remote_host or "",
        method,
        rest.rsplit(" ", 1)[0],
        int(entry.final_status),
        int(entry.bytes_sent or 0),
        entry.headers_in["User-Agent"] or "",
        line,
    )


def _caddy(line: str) -> Request:
    doc: dict[str, Any] = json.loads(line)
    request = doc["request"]
    agents = request.get("headers", {}).get("User-Agent") or [""]
    return Request(
        dt.datetime.fromtimestamp(float(doc["ts"]), dt.UTC),
        str(request.get("client_ip") or request.get("remote_ip") or ""),
        str(request["method"]),
        str(request["uri"]),
        int(doc["status"]),
        int(doc.get("size") or 0),
        str(agents[0]),
        line,
    )


def event_of(catalog: Catalog, key: bytes, request: Request, source: str) -> Event | None:
    """The event the server would have recorded for the request, if it names a client."""
    url = urlsplit(request.target)
    parts = url.path.split("/")
    found = [i for i, p in enumerate(parts) if catalog.schedule(p) is not None]
    if not found or request.method not in ("GET", "POST"):
        return None
    schedule = catalog.schedule(parts[found[0]])
    assert schedule is not None
    rest = parts[found[0] + 1 :]
    what = _what(schedule, rest, request.method)
    if what is None:
        return None
    kind, session = what
    query = parse_qs(url.query)
    return Event(
        at=request.at,
        kind=kind,
        token=schedule.token,
        session=session,
        app=app_of(request.agent),
        who=address_hash(key, request.address),
        status=request.status if kind is not Kind.PLAY else 204,
        bytes=request.bytes if kind is not Kind.PLAY else 0,
        position_s=_number(query, "t") if kind is Kind.PLAY else None,
        duration_s=_number(query, "d") if kind is Kind.PLAY else None,
        source=source,
        ref=hashlib.sha256(request.line.encode()).hexdigest()[:32],
    )


def _what(schedule: Schedule, rest: list[str], method: str) -> tuple[Kind, int | None] | None:
    if rest in ([FEED],) and method == "GET":
        return Kind.FEED, None
    if rest in ([""], [PAGE]) and method == "GET":
        return Kind.PAGE, None
    if len(rest) != 2:
        return None
    episode = schedule.session(rest[0])
    if episode is None:
        return None
    if rest[1] == BEACON and method == "POST":
        return Kind.PLAY, episode.number
    if rest[1] == Path(episode.track).name and method == "GET":
        return Kind.DOWNLOAD, episode.number
    return None


def _number(query: dict[str, list[str]], name: str) -> float | None:
    try:
        return round(float(query[name][0]), 1)
    except (KeyError, ValueError):
        return None
