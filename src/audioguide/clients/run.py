"""Running jobs: in this process, in a pool of processes that speaks each line once, or on a Dask
cluster; the tracks reported as they are written.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Final

from ..errors import AudioguideError
from ..model import Routine
from ..timing.compile import speech_of
from .jobs import (
    Failed,
    Job,
    Result,
    build_job,
    close_sessions,
    init_worker,
    speak,
)
from .manifest import Finished, Manifest

CHUNKS_PER_WORKER: Final = 4
"""Lines to speak are dealt out in this many chunks per worker, so one slow chunk (long lines)
does not leave the other workers idle at the end."""


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


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
