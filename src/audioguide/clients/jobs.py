"""A job: one track for one client, as plain data that runs the same here, in a pool process or
on a Dask worker; and what a process keeps to run them (a Session per routine file, sharing one
pool of voices).
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..cues import Chapter, Timeline
from ..errors import AudioguideError, RoutineError
from ..language.load import RoutineSource
from ..model import Client, Clinic, Routine
from ..options import Options
from ..publish.outputs import Output, no_audio, write_outputs
from ..publish.tags import Tags
from ..session import Plan, Session
from ..strings import Register, table
from ..voices.cache import CachedVoice
from ..voices.choose import VoicePool
from ..voices.clips import Voice


@dataclass(frozen=True)
class RoutineRef:
    """A routine file as a batch builds it. A program's session is numbered and may give it its
    own title and notes, and the program its clinic and register."""

    path: Path
    number: int | None = None
    """The session's number in a program; its title then reads "Session 2: Knee"."""
    title: str | None = None
    notes: tuple[str, ...] = ()
    clinic: Clinic | None = None
    register: Register | None = None


@dataclass(frozen=True)
class _Dressed(RoutineSource):
    """A routine source whose routines carry a program session's title, notes, clinic and
    register."""

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
            register=ref.register or routine.register,
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
    outputs: tuple[Output, ...]
    digest: str = ""
    """What the MP3 depends on (digest.py): when it changes, the track is built again."""
    output_digests: Mapping[Output, str] = field(default_factory=dict)
    """What each output depends on: when one changes, that output alone is written again."""

    @property
    def path(self) -> Path:
        return self.folder / self.track


@dataclass(frozen=True)
class Task:
    """What a run does for a job: build the track and its outputs, or only write `outputs`
    again beside a track that is current."""

    job: Job
    audio: bool
    outputs: tuple[Output, ...]


@dataclass(frozen=True)
class Built:
    duration_s: float
    chapters: tuple[Chapter, ...]
    written: Mapping[Output, tuple[str, ...]]
    """The files each output wrote, relative to the job's folder."""
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True)
class Failed:
    error: AudioguideError
    """Its type and place kept: it pickles across processes and Dask as it was raised."""


Result = Built | Failed


class _Worker(threading.local):
    """A process's (a thread's, on a Dask worker with threads) sessions, one per routine file
    and one per program session's dressing, all sharing one pool of voices."""

    def __init__(self) -> None:
        self.voices = VoicePool()
        self.files: dict[Path, Session] = {}
        self.dressed: dict[RoutineRef, Session] = {}


_WORKER = _Worker()


def session_for(ref: RoutineRef) -> Session:
    worker = _WORKER
    if ref not in worker.dressed:
        if ref.path not in worker.files:
            source = RoutineSource.read(ref.path)
            worker.files[ref.path] = Session(source, voices=worker.voices)
        base = worker.files[ref.path]
        worker.dressed[ref] = base.with_source(_Dressed(**vars(base.source), ref=ref))
    return worker.dressed[ref]


def close_sessions() -> None:
    """Close the voices this process (thread) opened."""
    worker = _WORKER
    voices = worker.voices
    worker.files, worker.dressed, worker.voices = {}, {}, VoicePool()
    voices.close()


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
    routine = session.routine(
        job.variables,
        variables_from=job.variables_from,
        options=job.options,
        pronounce=job.client.pronounce,
    )
    return routine, session.voice(routine, job.options)


def plan_of(session: Session, job: Job) -> Plan:
    """The job's plan: its client's values and options, their name said as they say it."""
    return session.plan(
        job.variables,
        variables_from=job.variables_from,
        options=job.options,
        pronounce=job.client.pronounce,
    )


def speak(job: Job, texts: Iterable[str]) -> tuple[int, int]:
    """Put each text in the speech cache with the job's voice: (clips found, clips made)."""
    _, voice = routine_and_voice(session_for(job.ref), job)
    before = cache_counts(voice)
    for text in texts:
        voice.synthesize(text)
    return since(voice, before)


def plan_problem(job: Job) -> AudioguideError | None:
    """What planning the job's track finds wrong (a countdown that does not fit one client's
    hold, a length its ranges cannot reach), before any track is built: None when it plans."""
    session = session_for(job.ref)
    try:
        plan_of(session, job)
    except AudioguideError as e:
        # Whose track it is, and which session: the routine's line alone fits every client.
        session_no = f", session {job.ref.number}" if job.ref.number else ""
        whose = f"{job.variables_from} ({job.client.name}{session_no})"
        return type(e)(f"{whose}: {e}") if isinstance(e, RoutineError) else e
    return None


def run_task(task: Task) -> Result:
    """Do the task in place: the track and its outputs, or the outputs alone (atomically)."""
    job = task.job
    session = session_for(job.ref)
    try:
        _, voice = routine_and_voice(session, job)
        before = cache_counts(voice)
        if task.audio:
            built = session.build(
                job.path,
                job.variables,
                variables_from=job.variables_from,
                options=job.options,
                outputs=task.outputs,
                client=job.client,
                tags=album_tags(job),
            )
            timeline = built.timeline
            written: Mapping[Output, Sequence[Path]] = built.written
        else:
            plan = plan_of(session, job)
            track = session.track(
                job.path, plan, job.options, job.outputs, client=job.client, tags=album_tags(job)
            )
            timeline = plan.timeline
            written = write_outputs(replace(track, audio=no_audio), task.outputs)
    except AudioguideError as e:
        return Failed(e)
    return built_result(job, timeline, written, since(voice, before))


def built_result(
    job: Job,
    timeline: Timeline,
    written: Mapping[Output, Iterable[Path]],
    counts: tuple[int, int] = (0, 0),
) -> Built:
    files = {o: tuple(str(p.relative_to(job.folder)) for p in ps) for o, ps in written.items()}
    return Built(timeline.total_s, timeline.chapters, files, *counts)


def album_tags(job: Job) -> Callable[[Tags], Tags]:
    """The client's name on the track, in the album that players show under the title, unless
    the track's own tags name them already."""
    return lambda tags: tags if job.client.name in tags.album else replace(tags, album=job.album)


def cache_counts(voice: Voice) -> tuple[int, int]:
    return (voice.hits, voice.misses) if isinstance(voice, CachedVoice) else (0, 0)


def since(voice: Voice, before: tuple[int, int]) -> tuple[int, int]:
    hits, misses = cache_counts(voice)
    return hits - before[0], misses - before[1]
