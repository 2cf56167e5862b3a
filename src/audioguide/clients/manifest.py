"""The manifest: what was built in each client's folder (content hashes, sizes, lengths, the files
each output wrote), so a rerun builds only what changed, a changed output is written again without
its audio, and a feed is written without decoding a track.

Only the submitting process writes it, atomically, after each finished track.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from ..cues import Chapter
from ..files import write_if_changed
from ..publish.outputs import Output
from .jobs import Built, Job, Task

STATE_FILE: Final = ".audioguide.json"
STATE_FORMAT: Final = 2
"""2: the chapters and each output's files and hash (1 had neither: its tracks are built again)."""


@dataclass(frozen=True)
class OutputEntry:
    digest: str
    files: tuple[str, ...]
    """Relative to the client's folder."""


@dataclass(frozen=True)
class TrackEntry:
    """A track as built: its content hash, what a feed says about it, and its outputs."""

    digest: str
    bytes: int
    duration_s: float
    chapters: tuple[Chapter, ...] = ()
    outputs: Mapping[Output, OutputEntry] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "bytes": self.bytes,
            "duration_s": self.duration_s,
            "chapters": [[c.title, c.start_sample, c.end_sample] for c in self.chapters],
            "outputs": {
                o.value: vars(e) | {"files": list(e.files)} for o, e in self.outputs.items()
            },
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TrackEntry:
        return cls(
            str(doc["digest"]),
            int(doc["bytes"]),
            float(doc["duration_s"]),
            tuple(Chapter(str(t), int(s), int(e)) for t, s, e in doc["chapters"]),
            {
                Output(o): OutputEntry(str(e["digest"]), tuple(map(str, e["files"])))
                for o, e in doc["outputs"].items()
            },
        )


@dataclass(frozen=True)
class ClientState:
    """A client's folder as the last build left it (its STATE_FILE)."""

    folder: Path
    name: str
    slug: str
    tracks: Mapping[str, TrackEntry] = field(default_factory=dict)
    program: str = ""
    file: Path | None = None
    """Where the state is kept: the folder's STATE_FILE for a batch, beside the site (never in
    it) for a program's client."""

    @property
    def path(self) -> Path:
        return self.file or self.folder / STATE_FILE

    @classmethod
    def load(cls, folder: Path, file: Path | None = None) -> ClientState | None:
        """The folder's state, or None when it has none (or an unreadable one: rebuild)."""
        try:
            doc = json.loads((file or folder / STATE_FILE).read_text(encoding="utf-8"))
            tracks = {}
            if doc.get("format") == STATE_FORMAT:
                tracks = {k: TrackEntry.from_json(v) for k, v in doc["tracks"].items()}
            return cls(folder, doc["name"], doc["slug"], tracks, doc.get("program", ""), file)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
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

    def task(self, job: Job) -> Task | None:
        """What a run must do for the job: everything, the outputs that changed or went
        missing, or nothing (None)."""
        if not self.current(job):
            return Task(job, audio=True, outputs=job.outputs)
        had = self.tracks[job.track].outputs
        stale = tuple(
            o
            for o in job.outputs
            if o not in had
            or had[o].digest != job.output_digests.get(o)
            or not all((self.folder / f).is_file() for f in had[o].files)
        )
        return Task(job, audio=False, outputs=stale) if stale else None

    def save(self) -> None:
        doc = {
            "format": STATE_FORMAT,
            "name": self.name,
            "slug": self.slug,
            "program": self.program,
            "tracks": {k: v.to_json() for k, v in sorted(self.tracks.items())},
        }
        text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        write_if_changed(self.path, text.encode("utf-8"))


@dataclass(frozen=True)
class Finished:
    """A track written (or its outputs), as the submitting side reports it."""

    job: Job
    duration_s: float
    bytes: int
    audio: bool = True
    """False when only outputs beside a current track were written again."""


class Manifest:
    """The clients' states, kept by the submitting side and saved after each finished track."""

    def __init__(self, states: Mapping[Path, ClientState]) -> None:
        self.states = dict(states)

    def task(self, job: Job) -> Task | None:
        state = self.states.get(job.folder)
        return Task(job, True, job.outputs) if state is None else state.task(job)

    def record(self, task: Task, built: Built) -> Finished:
        """The task's track and outputs as now on disk; the files of an output the job no longer
        asks for are removed, so nothing out of date is left beside the track."""
        job = task.job
        size = job.path.stat().st_size
        state = self.states[job.folder]
        old = state.tracks.get(job.track)
        kept = {} if task.audio or old is None else dict(old.outputs)
        written = {
            o: OutputEntry(job.output_digests.get(o, ""), files)
            for o, files in built.written.items()
        }
        outputs = {o: e for o, e in {**kept, **written}.items() if o in job.outputs}
        if old is not None:
            _remove_dropped(job.folder, old.outputs, outputs)
        entry = TrackEntry(job.digest, size, round(built.duration_s, 3), built.chapters, outputs)
        state = replace(state, tracks={**state.tracks, job.track: entry})
        self.states[job.folder] = state
        state.save()
        return Finished(job, built.duration_s, size, task.audio)


def _remove_dropped(
    folder: Path, before: Mapping[Output, OutputEntry], now: Mapping[Output, OutputEntry]
) -> None:
    keep = {f for e in now.values() for f in e.files}
    inside = folder.resolve()
    for entry in before.values():
        for name in entry.files:
            path = (folder / name).resolve()
            # Only the folder's own files: a state file edited by hand names no other.
            if name not in keep and path.is_relative_to(inside) and path != inside:
                path.unlink(missing_ok=True)
