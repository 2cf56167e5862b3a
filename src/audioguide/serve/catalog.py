"""What a request for a path on a program's site is, decided at the moment it is asked: the
schedules beside the site say which sessions are out for which token today, and whether a
client's access has ended. A path is a key only as the build wrote it: anything else is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..clients.schedule import Schedule, load_schedule, schedule_file
from ..clients.site import COVER, FEED, PAGE, RELEASE_TIME, EpisodeSource
from ..clients.state import CLIENTS, SiteError, state_dir

TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
"""A file or folder name the build writes: no dot in front (so no "..", no hidden file), no
slash, no backslash, no percent sign."""
SESSION: Final = re.compile(r"[0-9]{1,4}")
BEACON: Final = "played"
"""The path, in a session's folder, the page's player reports to (a static host answers 404)."""


@dataclass(frozen=True)
class Root:
    name: str
    """"" for the top page, "robots.txt"."""


@dataclass(frozen=True)
class FeedOf:
    schedule: Schedule
    day: dt.date


@dataclass(frozen=True)
class PageOf:
    schedule: Schedule
    day: dt.date


@dataclass(frozen=True)
class FileOf:
    schedule: Schedule
    path: Path
    episode: EpisodeSource | None
    """The session the file belongs to (None for the cover)."""


@dataclass(frozen=True)
class BeaconOf:
    schedule: Schedule
    episode: EpisodeSource


@dataclass(frozen=True)
class Gone:
    """A path of a client whose access has ended."""

    schedule: Schedule


@dataclass(frozen=True)
class Missing:
    """Unknown, unreleased or malformed: all look the same from outside."""


Target = Root | FeedOf | PageOf | FileOf | BeaconOf | Gone | Missing


def check_site(site: Path) -> None:
    """A SiteError unless `site` is a program's site whose every client has a schedule,
    checked before anything is written."""
    clients = state_dir(site) / CLIENTS
    if not clients.is_file():
        raise SiteError(
            f"{site} is not a program's site (no {clients}): give the folder "
            "`audioguide program -o` wrote"
        )
    try:
        tokens = [str(m["token"]) for m in json.loads(clients.read_text("utf-8"))["clients"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SiteError(
            f"{clients} is damaged ({type(e).__name__}: {e}): restore it from a backup of "
            f"{state_dir(site)}"
        ) from None
    if any(not schedule_file(site, t).is_file() for t in tokens):
        raise SiteError(
            f"{site} was built by an older audioguide, which kept no release schedule beside "
            "it: run the same `audioguide program` command again (nothing is rebuilt), then "
            "serve it"
        )


def release_day(now: dt.datetime) -> dt.date:
    """The day whose sessions are out at `now`: a session comes out at RELEASE_TIME on its
    day, as its feed's pubDate says."""
    offset = dt.timedelta(hours=RELEASE_TIME.hour, minutes=RELEASE_TIME.minute)
    return (now.astimezone(dt.UTC) - offset).date()


class Catalog:
    """A site's schedules, read again whenever a build rewrites one (a correction or a
    revocation is served at the next request)."""

    def __init__(self, site: Path, today: dt.date | None = None) -> None:
        self.site = site.resolve()
        self.build = (state_dir(self.site) / "build").resolve()
        self.today = today
        self._cache: dict[str, tuple[int, Schedule]] = {}

    def day(self) -> dt.date:
        return self.today or release_day(dt.datetime.now(dt.UTC))

    def schedule(self, token: str) -> Schedule | None:
        if not TOKEN.fullmatch(token):
            return None
        path = schedule_file(self.site, token)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            self._cache.pop(token, None)
            return None
        cached = self._cache.get(token)
        if cached is None or cached[0] != stamp:
            cached = (stamp, load_schedule(path))
            self._cache[token] = cached
        return cached[1]

    def resolve(self, raw_path: str, method: str = "GET") -> Target:
        """What `raw_path` (as sent, still percent-encoded) names today."""
        if "%" in raw_path or "\\" in raw_path or not raw_path.startswith("/"):
            return Missing()  # nothing the build writes needs an escape
        parts = raw_path[1:].split("/")
        if len(parts) == 1 and parts[0] in ("", "robots.txt", PAGE):
            return Root("" if parts[0] == PAGE else parts[0])
        schedule = self.schedule(parts[0])
        if (
            schedule is None
            or not 2 <= len(parts) <= 3
            or not all(NAME.fullmatch(p) for p in parts[1:-1])
        ):
            return Missing()
        if schedule.revoked:
            return Gone(schedule) if parts[1:] != [FEED] else FeedOf(schedule, self.day())
        if len(parts) == 2:
            return self._top(schedule, parts[1])
        return self._in_session(schedule, parts[1], parts[2], method)

    def _top(self, schedule: Schedule, name: str) -> Target:
        if name in ("", PAGE):
            return PageOf(schedule, self.day())
        if name == FEED:
            return FeedOf(schedule, self.day())
        if name == COVER:
            return self._file(schedule, self.site / schedule.token / COVER, self.site, None)
        return Missing()

    def _in_session(self, schedule: Schedule, folder: str, name: str, method: str) -> Target:
        episode = schedule.session(folder) if SESSION.fullmatch(folder) else None
        if episode is None or episode.released > self.day():
            return Missing()
        if name == BEACON:
            return BeaconOf(schedule, episode) if method == "POST" else Missing()
        if name != "" and not NAME.fullmatch(name):
            return Missing()
        path = self.build / schedule.token / folder / (name or PAGE)
        return self._file(schedule, path, self.build, episode)

    def _file(
        self, schedule: Schedule, path: Path, root: Path, episode: EpisodeSource | None
    ) -> Target:
        return FileOf(schedule, path, episode) if _regular_below(root, path) else Missing()


def _regular_below(root: Path, path: Path) -> bool:
    """Whether `path` is a regular file in `root` (resolved) reached through no link: each
    folder between them, and the file, is looked at itself (lstat), never followed."""
    try:
        parts = path.relative_to(root).parts
        for depth in range(1, len(parts)):
            if not stat.S_ISDIR(os.lstat(root.joinpath(*parts[:depth])).st_mode):
                return False
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False
