"""The manifest: what was built in each client's folder (content hashes, sizes, lengths), so a
rerun builds only what changed and a feed is written without decoding a track.

Only the submitting process writes it, atomically, after each finished track.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from ..files import write_if_changed
from .jobs import Built, Job

STATE_FILE: Final = ".audioguide.json"
STATE_FORMAT: Final = 1


@dataclass(frozen=True)
class TrackEntry:
    """A track as built: its content hash, and what a feed says about it."""

    digest: str
    bytes: int
    duration_s: float
    chapters: bool


@dataclass(frozen=True)
class ClientState:
    """A client's folder as the last build left it (its STATE_FILE)."""

    folder: Path
    name: str
    slug: str
    tracks: Mapping[str, TrackEntry] = field(default_factory=dict)
    program: str = ""

    @classmethod
    def load(cls, folder: Path) -> ClientState | None:
        """The folder's state, or None when it has none (or an unreadable one: rebuild)."""
        try:
            doc = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            tracks = {k: TrackEntry(**v) for k, v in doc["tracks"].items()}
            return cls(folder, doc["name"], doc["slug"], tracks, doc.get("program", ""))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def current(self, job: Job) -> bool:
        """Whether the job's track is built as it asks, and still there, whole."""
        entry = self.tracks.get(job.track)
        if entry is None or entry.digest != job.digest:
            return False
        try:
            return job.path.stat().st_size == entry.bytes
        except OSError:
            return False

    def save(self) -> None:
        doc = {
            "format": STATE_FORMAT,
            "name": self.name,
            "slug": self.slug,
            "program": self.program,
            "tracks": {k: vars(v) for k, v in sorted(self.tracks.items())},
        }
        text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        write_if_changed(self.folder / STATE_FILE, text.encode("utf-8"))


@dataclass(frozen=True)
class Finished:
    """A track written, as the submitting side reports it."""

    job: Job
    duration_s: float
    bytes: int


class Manifest:
    """The clients' states, kept by the submitting side and saved after each finished track."""

    def __init__(self, states: Mapping[Path, ClientState]) -> None:
        self.states = dict(states)

    def current(self, job: Job) -> bool:
        state = self.states.get(job.folder)
        return state is not None and state.current(job)

    def record(self, job: Job, built: Built) -> Finished:
        size = job.path.stat().st_size
        state = self.states[job.folder]
        entry = TrackEntry(job.digest, size, round(built.duration_s, 3), built.chapters)
        state = replace(state, tracks={**state.tracks, job.track: entry})
        self.states[job.folder] = state
        state.save()
        return Finished(job, built.duration_s, size)
