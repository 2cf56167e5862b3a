"""A job: one track for one client, as plain data that runs the same here, in a pool process or
on a Dask worker; and what a process keeps to run them (a Session per routine file).
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import AudioguideError
from ..language.load import RoutineSource
from ..model import Client, Clinic, Routine
from ..options import Options
from ..publish.tags import Tags
from ..session import Session
from ..strings import table
from ..voices.cache import CachedVoice
from ..voices.clips import Voice


@dataclass(frozen=True)
class RoutineRef:
    """A routine file as a batch builds it. A program's session is numbered and may give it its
    own title and notes, and the program its clinic."""

    path: Path
    number: int | None = None
    """The session's number in a program; its title then reads "Session 2: Knee"."""
    title: str | None = None
    notes: tuple[str, ...] = ()
    clinic: Clinic | None = None


@dataclass(frozen=True)
class _Dressed(RoutineSource):
    """A routine source whose routines carry a program session's title, notes and clinic."""

    ref: RoutineRef | None = None

    def routine(self, *args: Any, **kwargs: Any) -> Routine:
        routine = super().routine(*args, **kwargs)
        ref = self.ref
        if ref is None:
            return routine
        title = ref.title or routine.title
        if ref.title is None and ref.number is not None:
            title = table(routine.language).label(
                "session_title", n=ref.number, title=routine.title
            )
        return replace(
            routine,
            title=title,
            notes=(*routine.notes, *ref.notes),
            clinic=ref.clinic or routine.clinic,
        )


@dataclass(frozen=True)
class Job:
    """One track for one client: everything a worker needs, and nothing it has to look up."""

    folder: Path
    """The client's folder, where the manifest lives."""
    track: str
    """The MP3's path inside the folder."""
    ref: RoutineRef
    variables: Mapping[str, str]
    variables_from: str
    options: Options
    client: Client
    album: str
    outputs: tuple[str, ...]
    digest: str = ""

    @property
    def path(self) -> Path:
        return self.folder / self.track


@dataclass(frozen=True)
class Built:
    duration_s: float
    chapters: bool
    hits: int
    misses: int


@dataclass(frozen=True)
class Failed:
    message: str


Result = Built | Failed


class _Worker(threading.local):
    """A process's (a thread's, on a Dask worker with threads) sessions, one per routine file,
    so each voice is opened once and kept open."""

    def __init__(self) -> None:
        self.files: dict[Path, Session] = {}
        self.dressed: dict[RoutineRef, Session] = {}


_WORKER = _Worker()


def session_for(ref: RoutineRef) -> Session:
    worker = _WORKER
    if ref not in worker.dressed:
        if ref.path not in worker.files:
            worker.files[ref.path] = Session.open(ref.path)
        base = worker.files[ref.path]
        source = _Dressed(**vars(base.source), ref=ref)
        # `replace` keeps the base session's voices: every dressing shares them.
        worker.dressed[ref] = replace(base, source=source)
    return worker.dressed[ref]


def close_sessions() -> None:
    """Close the voices this process (thread) opened."""
    worker = _WORKER
    files, worker.files, worker.dressed = worker.files, {}, {}
    for session in files.values():
        session.close()


def init_worker() -> None:
    atexit.register(close_sessions)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A parent killed outright (SIGKILL, the OOM killer) cannot tell its pool to stop: the
        # workers watch it, so none is left building for nobody.
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def routine_and_voice(session: Session, job: Job) -> tuple[Routine, Voice]:
    routine = session.routine(job.variables, variables_from=job.variables_from, options=job.options)
    return routine, session.voice(routine, job.options)


def speak(job: Job, texts: Iterable[str]) -> tuple[int, int]:
    """Put each text in the speech cache with the job's voice: (clips found, clips made)."""
    _, voice = routine_and_voice(session_for(job.ref), job)
    before = cache_counts(voice)
    for text in texts:
        voice.synthesize(text)
    return since(voice, before)


def build_job(job: Job) -> Result:
    """Build the job's track and the outputs beside it, in place (written atomically)."""
    session = session_for(job.ref)
    try:
        _, voice = routine_and_voice(session, job)
        before = cache_counts(voice)
        job.path.parent.mkdir(parents=True, exist_ok=True)
        result = session.build(
            job.path,
            job.variables,
            variables_from=job.variables_from,
            options=job.options,
            outputs=job.outputs,
            client=job.client,
            tags=album_tags(job),
        )
    except AudioguideError as e:
        return Failed(str(e))
    timeline = result.timeline
    return Built(timeline.total_s, bool(timeline.chapters), *since(voice, before))


def album_tags(job: Job) -> Callable[[Tags], Tags]:
    """The client's name on the track, in the album that players show under the title, unless
    the track's own tags name them already."""
    return lambda tags: tags if job.client.name in tags.album else replace(tags, album=job.album)


def cache_counts(voice: Voice) -> tuple[int, int]:
    return (voice.hits, voice.misses) if isinstance(voice, CachedVoice) else (0, 0)


def since(voice: Voice, before: tuple[int, int]) -> tuple[int, int]:
    hits, misses = cache_counts(voice)
    return hits - before[0], misses - before[1]
