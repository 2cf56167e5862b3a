"""Running jobs: in this process, in a pool of processes that speaks each line once, or on a Dask
cluster; each track reported as it is written.
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

from ..errors import AudioguideError, Problems
from ..model import Routine
from ..timing.compile import speech_of
from .jobs import (
    Failed,
    Job,
    Result,
    Task,
    close_sessions,
    init_worker,
    plan_problem,
    run_task,
    speak,
)
from .manifest import Finished, Manifest
from .planner import Planned

CHUNKS_PER_WORKER: Final = 4
"""Lines to speak are dealt out in this many chunks per worker, so one slow chunk (long lines)
does not leave the other workers idle at the end."""


@dataclass(frozen=True)
class Runner:
    """How to run: this machine's processes or a Dask cluster, and who hears what happens."""

    workers: int = 1
    scheduler: str | None = None
    """A Dask scheduler's address; None for this machine."""
    on_track: Callable[[Finished], None] | None = None
    on_warning: Callable[[str], None] | None = None
    on_stage: Callable[[str, int, int], None] | None = None
    """`(stage, done, total)` from the start of each stage: "speaking" (lines, across the pool)
    and "building" (tracks), so a run is never silent until its first track is written."""


@dataclass(frozen=True)
class RunReport:
    built: int
    current: int
    """Tracks already built as asked, left as they were."""
    rewritten: int
    """Tracks already built whose files beside them were written again (their audio was not)."""
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


def run_jobs(planned: Sequence[Planned], manifest: Manifest, runner: Runner) -> RunReport:
    """Do what each job needs (its track and outputs, its outputs alone, or nothing): in this
    process (one worker), in a pool of `workers` processes, or on the Dask cluster."""
    started = time.perf_counter()
    tasks = [t for t in (manifest.task(p.job) for p in planned) if t is not None]
    for state in manifest.states.values():
        # Saved before anything is built: a new client's folder (a program's token) is known
        # even if this run is killed before their first track.
        state.save()
    counts = _Counts()
    stage = runner.on_stage or (lambda name, done, total: None)

    def done(task: Task, result: Result) -> None:
        if isinstance(result, Failed):
            counts.failed.append(result.error)
        else:
            counts.done[task.audio] += 1
            counts.hits += result.hits
            counts.misses += result.misses
            finished = manifest.record(task, result)
            if runner.on_track:
                runner.on_track(finished)
        counts.finished += 1
        stage("building", counts.finished, len(tasks))

    pooled = runner.scheduler is None and runner.workers > 1 and len(tasks) > 1
    if tasks and not pooled:  # a pool speaks every line first, and says so
        stage("building", 0, len(tasks))
    if runner.scheduler is not None:
        from .cluster import run_on_cluster

        run_on_cluster(runner.scheduler, tasks, done)
    elif not pooled:
        try:
            check_plans(tasks)
            for task in tasks:
                done(task, run_task(task))
        finally:
            close_sessions()
    else:
        routines = {id(p.job): p.routine for p in planned}
        speaking = [(t.job, routines[id(t.job)]) for t in tasks if t.audio]
        pool = _Pool(min(runner.workers, len(tasks)), done, counts, stage)
        pool.run(tasks, speaking)
    return RunReport(
        built=counts.done[True],
        current=len(planned) - len(tasks) + counts.done[False],
        rewritten=counts.done[False],
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
        self.done = {True: 0, False: 0}
        """Tasks done, by whether they built the audio."""
        self.finished = 0
        """Tasks done or failed."""


def check_plans(tasks: Sequence[Task]) -> None:
    """Every track planned before any is built, so a session that cannot be built for one
    client (week 3's countdown in a shorter hold) stops the run before weeks 1 and 2 go out."""
    problems = [p for p in (plan_problem(t.job) for t in tasks if t.audio) if p is not None]
    if problems:
        raise Problems(problems)


@dataclass(frozen=True)
class _Pool:
    """This machine's processes, and who hears of each line spoken and each track done."""

    workers: int
    done: Callable[[Task, Result], None]
    counts: _Counts
    stage: Callable[[str, int, int], None]

    def run(self, tasks: Sequence[Task], speaking: Sequence[tuple[Job, Routine]]) -> None:
        """Speak every distinct line across the pool first (the cache on disk is shared, so
        each is spoken once), then build the tracks, which find every line in the cache."""
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=init_worker)
        try:
            self._speak(pool, speaking)
            try:
                check_plans(tasks)  # every line is in the cache now: planning speaks nothing
            finally:
                close_sessions()
            self.stage("building", 0, len(tasks))
            building: dict[Future[Result], Task] = {pool.submit(run_task, t): t for t in tasks}
            for built in as_completed(building):
                self.done(building[built], built.result())
        except BrokenProcessPool:
            raise AudioguideError(
                "a worker process died (out of memory?); run the same command again: the "
                "tracks already built are kept, or use fewer --workers"
            ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _speak(self, pool: ProcessPoolExecutor, speaking: Sequence[tuple[Job, Routine]]) -> None:
        chunks = _speech(speaking, self.workers)
        lines = {pool.submit(speak, job, texts): len(texts) for job, texts in chunks}
        total, said = sum(lines.values()), 0
        if total:
            self.stage("speaking", 0, total)
        for clips in as_completed(lines):
            hits, misses = clips.result()
            self.counts.hits += hits
            self.counts.misses += misses
            said += lines[clips]
            self.stage("speaking", said, total)


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
