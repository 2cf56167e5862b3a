"""Many tracks at once: a clients file checked whole before anything renders, its jobs with the
hashes that decide what a rerun builds, and the local pool that speaks each line once.

`build_batch` is one routine for every client; program.py builds a program's sessions with the
same parts. The jobs themselves are in jobs.py, the manifest in manifest.py, Dask in cluster.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from . import __version__
from .errors import AudioguideError, Problems, RoutineError, Where
from .jobs import (
    Failed,
    Job,
    Result,
    RoutineRef,
    build_job,
    close_sessions,
    init_worker,
    session_for,
    speak,
)
from .manifest import ClientState, Finished, Manifest
from .model import Client, Interval, Routine, Sound, SoundFile, walk
from .outputs import OUTPUTS
from .paths import distinct_slugs, slug
from .roster import CLIENT_VAR, NAME, OPTION_COLUMNS, RESERVED, ClientRow, Roster, RosterError
from .session import Options, Session
from .strings import table
from .timeline import speech_of
from .voices import default_engine

CHUNKS_PER_WORKER: Final = 4
"""Lines to speak are dealt out in this many chunks per worker, so one slow chunk (long lines)
does not leave the other workers idle at the end."""


# --- what to build --------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One track every client gets: a routine, with a program session's vars (where written)."""

    ref: RoutineRef
    variables: Mapping[str, str] = field(default_factory=dict)
    where: Where | None = None


@dataclass(frozen=True)
class Checked:
    """A client whose row passed: their folder name, options and routines (one per part)."""

    row: ClientRow
    slug: str
    options: Options
    routines: tuple[Routine, ...]


def client_outputs() -> tuple[str, ...]:
    """What each client gets beside a track: every output but split parts (one track is one
    file for a client), including any added since (a PDF handout)."""
    return tuple(name for name in OUTPUTS if name != "split")


def check_roster(
    roster: Roster,
    parts: Sequence[Part],
    options: Options,
    variables: Mapping[str, str],
    on_warning: Callable[[str], None] | None = None,
) -> list[Checked]:
    """Every client's routines, validated with their row's variables and options; every problem
    in every row found before any is built, raised together as Problems."""
    problems: list[AudioguideError] = list(roster.problems)
    warned: dict[str, None] = {}

    def warn(message: str) -> None:
        warned[message] = None

    sessions = [replace(session_for(p.ref), on_warning=warn) for p in parts]
    declared = [set(s.source.var_names) for s in sessions]
    known = set().union(*declared)
    for name in variables:
        if name not in known:
            problems.append(RoutineError(f"--var {name}: {_no_var(name, parts, sessions)}"))
    usable = []
    for part, session, names in zip(parts, sessions, declared, strict=True):
        usable.append(_check_part(part, session, names, options, variables, problems))
    problems += _column_problems(roster, parts, sessions, known)
    checked = []
    for row, folder in zip(roster.rows, distinct_slugs(r.name for r in roster.rows), strict=True):
        try:
            row_options = row.options(options)
        except RosterError as e:
            problems.append(e)
            continue
        routines = []
        for part, session, names, ok in zip(parts, sessions, declared, usable, strict=True):
            if not ok:
                continue
            given = _row_vars(row, names)
            base = _declared({**variables, **part.variables}, names)
            try:
                routines.append(
                    session.routine(
                        {**base, **given}, variables_from=str(row.where), options=row_options
                    )
                )
            except AudioguideError as e:
                problems.append(_row_problem(e, row, session, base, given, options))
                break
        else:
            checked.append(Checked(row, folder, row_options, tuple(routines)))
    if problems:
        # The clients file's own lines in order, after what is wrong elsewhere.
        in_file = [p for p in problems if p.where and p.where.file == roster.file]
        others = [p for p in problems if p not in in_file]
        raise Problems(others + sorted(in_file, key=lambda p: p.where.line if p.where else 0))
    for warning in warned:
        if on_warning:
            on_warning(warning)
    return checked


def _check_part(
    part: Part,
    session: Session,
    names: set[str],
    options: Options,
    variables: Mapping[str, str],
    problems: list[AudioguideError],
) -> bool:
    """The routine with the command line's vars, then with the part's own: a mistake there is
    named where it is written, and not again for every row."""
    try:
        session.routine(_declared(variables, names), options=options)
        if part.variables:
            session.routine(
                _declared({**variables, **part.variables}, names),
                variables_from=str(part.where),
                options=options,
            )
    except AudioguideError as e:
        problems.append(e)
        return False
    return True


def _column_problems(
    roster: Roster, parts: Sequence[Part], sessions: Sequence[Session], known: set[str]
) -> list[AudioguideError]:
    first: dict[str, Where] = {}
    for row in roster.rows:
        for column, where in row.column_where.items():
            first.setdefault(column, where)
    problems: list[AudioguideError] = []
    for column, where in first.items():
        if column in RESERVED:
            continue
        if column not in known:
            problems.append(
                RosterError(
                    f"column '{column}': {_no_var(column, parts, sessions)}; rename the column, "
                    "or add the var under 'vars:'",
                    where,
                )
            )
        for part in parts:
            if column in part.variables:
                problems.append(
                    RosterError(
                        f"column '{column}': the program's session {part.where} sets "
                        f"'{column}' too: set it in one place",
                        where,
                    )
                )
                break
    return problems


def _no_var(name: str, parts: Sequence[Part], sessions: Sequence[Session]) -> str:
    routines = {
        p.ref.path.name: ", ".join(s.source.var_names) or "none"
        for p, s in zip(parts, sessions, strict=True)
    }
    listed = "; ".join(f"{file}'s vars: {names}" for file, names in routines.items())
    return f"no routine here has a var '{name}' ({listed})"


def _declared(variables: Mapping[str, str], names: set[str]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if k in names}


def _row_vars(row: ClientRow, names: set[str]) -> dict[str, str]:
    """The row's variables this routine declares; the name fills `client` unless a column does."""
    given = _declared(row.variables(), names)
    if CLIENT_VAR in names and CLIENT_VAR not in given:
        given[CLIENT_VAR] = row.name
    return given


def _row_problem(
    error: AudioguideError,
    row: ClientRow,
    session: Session,
    base: dict[str, str],
    given: dict[str, str],
    options: Options,
) -> AudioguideError:
    """The error as the row's, naming the column to fix: the first whose value fails alone
    (an option column with the command line's options, a var with the command line's vars)."""
    for column in OPTION_COLUMNS:
        if column not in row.cells:
            continue
        alone = replace(row, cells={column: row.cells[column]}).options(options)
        try:
            session.routine(base, options=alone)
        except AudioguideError as e:
            # Checked as if typed on the command line: `--bed` says nothing about this row.
            typed = e.where is None or str(e.where).startswith("--")
            return row.error(column, e.message if typed else str(e))
    for var, value in given.items():
        try:
            session.routine({**base, var: value}, variables_from=str(row.where), options=options)
        except AudioguideError:
            column = NAME if var == CLIENT_VAR and CLIENT_VAR not in row.cells else var
            return row.error(column, str(error))
    return RosterError(str(error), row.where)


def job_digest(job: Job, routine: Routine) -> str:
    """What the track depends on: the routine as validated (every include and variable in
    place), the files it names, the options, the voice, the client and this version. Not the
    cache folder, nor where the values were written."""
    options = job.options
    spoken_by = options.voice or routine.voice.engine or default_engine()
    parts = {
        "audioguide": __version__,
        "routine": repr(routine),
        "files": {str(p): _file_hash(p) for p in _named_files(routine)},
        "variables": sorted(job.variables.items()),
        "voice": [spoken_by, options.rate, options.language],
        "options": [options.bed, options.length_s, options.target_lufs, options.bitrate_kbps],
        "sound_dirs": [str(p) for p in options.sound_dirs],
        "client": [job.client.name, job.client.feed_url, str(job.client.date)],
        "track": [job.track, job.album, list(job.outputs)],
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _named_files(routine: Routine) -> list[Path]:
    refs = [s.sound for s in walk(routine.steps) if isinstance(s, Sound | Interval)]
    files = [r.path for r in refs if isinstance(r, SoundFile)]
    if routine.bed and isinstance(routine.bed.sound, SoundFile):
        files.append(routine.bed.sound.path)
    files += [p for p in (routine.cover, routine.clinic.logo if routine.clinic else None) if p]
    return sorted(set(files))


_HASHES: dict[tuple[Path, int, int], str] = {}


def _file_hash(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


# --- running the jobs -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    built: int
    current: int
    """Tracks already built as asked, left as they were."""
    failed: tuple[AudioguideError, ...]
    spoken: int
    """Clips the voice made in this run."""
    from_cache: int
    """Clips served from the speech cache."""
    seconds: float

    @property
    def cache_share(self) -> float:
        total = self.spoken + self.from_cache
        return self.from_cache / total if total else 1.0


def run_jobs(
    jobs: Sequence[Job],
    routines: Sequence[Routine],
    manifest: Manifest,
    *,
    workers: int,
    scheduler: str | None = None,
    on_track: Callable[[Finished], None] | None = None,
) -> RunReport:
    """Build every job whose track is not current: in this process (one worker), in a pool of
    `workers` processes, or on the Dask cluster at `scheduler`."""
    started = time.perf_counter()
    todo = [(j, r) for j, r in zip(jobs, routines, strict=True) if not manifest.current(j)]
    for state in manifest.states.values():
        # Saved before anything is built: a new client's folder (a program's token) is known
        # even if this run is killed before their first track.
        state.save()
    counts = _Counts()

    def done(job: Job, result: Result) -> None:
        if isinstance(result, Failed):
            counts.failed.append(AudioguideError(result.message))
            return
        counts.add(result.hits, result.misses)
        finished = manifest.record(job, result)
        if on_track:
            on_track(finished)

    pending = [j for j, _ in todo]
    if scheduler is not None:
        from .cluster import run_on_cluster

        run_on_cluster(scheduler, pending, done)
    elif workers <= 1 or len(pending) <= 1:
        try:
            for job in pending:
                done(job, build_job(job))
        finally:
            close_sessions()
    else:
        _run_pool(todo, min(workers, len(pending)), done, counts)
    return RunReport(
        built=len(pending) - len(counts.failed),
        current=len(jobs) - len(pending),
        failed=tuple(counts.failed),
        spoken=counts.misses,
        from_cache=counts.hits,
        seconds=time.perf_counter() - started,
    )


class _Counts:
    """Clips and failures, added up as the results arrive."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.failed: list[AudioguideError] = []

    def add(self, hits: int, misses: int) -> None:
        self.hits += hits
        self.misses += misses


def _run_pool(
    todo: Sequence[tuple[Job, Routine]],
    workers: int,
    done: Callable[[Job, Result], None],
    counts: _Counts,
) -> None:
    """Speak every distinct line across the pool first (the cache on disk is shared, so each is
    spoken once), then build the tracks, which find every line in the cache."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker)
    try:
        speaking = [pool.submit(speak, job, texts) for job, texts in _speech(todo, workers)]
        for spoken in as_completed(speaking):
            counts.add(*spoken.result())
        building: dict[Future[Result], Job] = {pool.submit(build_job, j): j for j, _ in todo}
        for built in as_completed(building):
            done(building[built], built.result())
    except BrokenProcessPool:
        raise AudioguideError(
            "a worker process died (out of memory?); run the same command again: the tracks "
            "already built are kept, or use fewer --workers"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _speech(todo: Sequence[tuple[Job, Routine]], workers: int) -> list[tuple[Job, list[str]]]:
    """The distinct lines of all jobs, per voice, in chunks: (a job that speaks with that
    voice, the lines) each."""
    groups: dict[tuple[Any, ...], tuple[Job, dict[str, None]]] = {}
    for job, routine in todo:
        o = job.options
        key = (job.ref.path, o.voice, o.rate, o.cache_dir, routine.voice, routine.language)
        texts = groups.setdefault(key, (job, {}))[1]
        texts.update(dict.fromkeys(speech_of(routine)))
    total = sum(len(texts) for _, texts in groups.values())
    size = max(1, math.ceil(total / (workers * CHUNKS_PER_WORKER)))
    chunks = []
    for job, texts in groups.values():
        lines = list(texts)
        chunks += [(job, lines[i : i + size]) for i in range(0, len(lines), size)]
    return chunks


# --- a batch: one routine for every client ----------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    folder: Path
    clients: int
    report: RunReport
    """Tracks that failed to build are in `report.failed`; the others are written."""


def build_batch(
    routine: Path,
    roster: Roster,
    folder: Path,
    options: Options,
    variables: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_track: Callable[[Finished], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> BatchResult:
    """Build `routine` for every client in `roster`, each into their own folder in `folder`:
    `NAME/ROUTINE-NAME.mp3` and everything client_outputs() writes beside it."""
    part = Part(RoutineRef(routine))
    checked = check_roster(roster, [part], options, variables or {}, on_warning)
    stem = slug(routine.stem, "routine")
    jobs, routines, states = [], [], {}
    for client in checked:
        own = folder / client.slug
        name = client.row.name
        jobs.append(
            client_job(
                client,
                0,
                part,
                variables or {},
                folder=own,
                track=f"{stem}-{client.slug}.mp3",
                client=Client(name),
                album=table(client.routines[0].language).label(
                    "album", title=client.routines[0].title, name=name
                ),
            )
        )
        routines.append(client.routines[0])
        old = ClientState.load(own)
        states[own] = ClientState(own, name, client.slug, old.tracks if old else {})
    report = run_jobs(
        jobs, routines, Manifest(states), workers=workers, scheduler=scheduler, on_track=on_track
    )
    return BatchResult(folder, len(checked), report)


def client_job(
    checked: Checked,
    index: int,
    part: Part,
    variables: Mapping[str, str],
    *,
    folder: Path,
    track: str,
    client: Client,
    album: str,
) -> Job:
    """The job that builds `part` (the client's `index`th routine) for a checked client."""
    names = set(session_for(part.ref).source.var_names)
    given = {**_declared({**variables, **part.variables}, names), **_row_vars(checked.row, names)}
    job = Job(
        folder=folder,
        track=track,
        ref=part.ref,
        variables=given,
        variables_from=str(checked.row.where),
        options=checked.options,
        client=client,
        album=album,
        outputs=client_outputs(),
    )
    return replace(job, digest=job_digest(job, checked.routines[index]))


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
