"""A client's schedule, kept beside the site (never in it): what their feed says of itself, every
session built for them with its release day, and whether their access has ended. A build writes
it; the server reads it at each request, so a session comes out on its day whatever was uploaded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, cast

from ..files import write_if_changed
from ..strings import Register
from .manifest import TrackEntry
from .site import Channel, EpisodeSource
from .state import SiteError, state_dir

SUFFIX: Final = ".schedule.json"
FORMAT: Final = 1


@dataclass(frozen=True)
class Schedule:
    """What the server needs to answer for one client's token."""

    token: str
    base_url: str
    channel: Channel
    episodes: tuple[EpisodeSource, ...] = ()
    """Every session built for the client, released or not."""
    revoked: bool = False

    def released(self, today: dt.date) -> tuple[EpisodeSource, ...]:
        return tuple(e for e in self.episodes if e.released <= today)

    def session(self, folder: str) -> EpisodeSource | None:
        """The session whose files are in `folder` (like "01"), if one is."""
        for episode in self.episodes:
            if Path(episode.track).parent.as_posix() == folder:
                return episode
        return None


def schedule_file(site: Path, token: str) -> Path:
    return state_dir(site) / f"{token}{SUFFIX}"


def save_schedule(site: Path, schedule: Schedule) -> None:
    doc = {
        "format": FORMAT,
        "token": schedule.token,
        "base_url": schedule.base_url,
        "revoked": schedule.revoked,
        "channel": asdict(schedule.channel),
        "episodes": [_episode_json(e) for e in schedule.episodes],
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    write_if_changed(schedule_file(site, schedule.token), text.encode("utf-8"))


def load_schedule(path: Path) -> Schedule:
    """The schedule in `path`; a SiteError naming the file when it cannot be read."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        channel = doc["channel"]
        return Schedule(
            token=str(doc["token"]),
            base_url=str(doc["base_url"]),
            channel=Channel(
                title=str(channel["title"]),
                description=str(channel["description"]),
                author=str(channel["author"]),
                language=str(channel["language"]),
                client=str(channel["client"]),
                register=cast(Register | None, channel.get("register")),
            ),
            episodes=tuple(_episode(e) for e in doc["episodes"]),
            revoked=bool(doc["revoked"]),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise SiteError(
            f"{path} is damaged ({type(e).__name__}: {e}): build the program again to rewrite it"
        ) from None


def _episode_json(e: EpisodeSource) -> dict[str, Any]:
    return {
        "number": e.number,
        "title": e.title,
        "description": e.description,
        "released": e.released.isoformat(),
        "track": e.track,
        "cover": e.cover,
        "entry": e.entry.to_json(),
    }


def _episode(doc: Mapping[str, Any]) -> EpisodeSource:
    return EpisodeSource(
        number=int(doc["number"]),
        title=str(doc["title"]),
        description=str(doc["description"]),
        released=dt.date.fromisoformat(doc["released"]),
        track=str(doc["track"]),
        entry=TrackEntry.from_json(doc["entry"]),
        cover=None if doc["cover"] is None else str(doc["cover"]),
    )


def schedules(site: Path, tokens: Sequence[str]) -> list[Schedule]:
    """The schedules of the tokens that have one."""
    return [load_schedule(f) for t in tokens if (f := schedule_file(site, t)).is_file()]
