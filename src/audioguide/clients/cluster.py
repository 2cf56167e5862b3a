"""Beyond one machine: jobs rendered on a Dask distributed cluster (the optional extra `cluster`),
each result written here once, atomically, with the files beside it.

Each worker renders a track into a temp file of its own and returns the MP3's bytes with its
plan.

Dask runs a task again elsewhere when its worker dies, and a task's result arrives here once,
so nothing is lost or written twice. Workers read the routine, and every sound, bed, cover and
logo it names, at the same path as this machine: a shared folder (see docs/scaling.md).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from ..errors import AudioguideError
from ..files import write_atomic
from ..publish.outputs import Track, no_audio, write_outputs
from ..publish.tags import Tags
from ..session import Plan, export_track
from .jobs import (
    Failed,
    Result,
    Task,
    album_tags,
    built_result,
    cache_counts,
    plan_of,
    routine_and_voice,
    session_for,
    since,
)

CONNECT_TIMEOUT_S: Final = 20.0
WRITERS: Final = max(1, os.cpu_count() or 1)
"""Threads that write results here: a PDF is Chromium's work, so as many as there are cores."""
INSTALL_CLUSTER: Final = "pip install 'audioguide[cluster]'"


class ClusterError(AudioguideError):
    """The Dask scheduler cannot be reached, or the cluster gave up on a track."""


@dataclass(frozen=True)
class Rendered:
    """A task as a worker did it: the MP3 (None when only the outputs are due) and what the
    files beside it are made from."""

    mp3: bytes | None
    plan: Plan
    tags: Tags
    hits: int
    misses: int


def run_on_cluster(
    address: str, tasks: Sequence[Task], done: Callable[[Task, Result], None]
) -> None:
    """Do every task on the cluster whose scheduler is at `address`; `done` is called here,
    once per task, after its files are written."""
    if not tasks:
        return
    distributed = _distributed()
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({e}); start one with `dask "
            "scheduler`, or check the address (tcp://HOST:8786)"
        ) from None
    futures: dict[Any, Task] = {}
    # Writing a result here (its pages, a PDF through Chromium) takes as long as a worker takes
    # to render one: done one at a time, it would hold the whole cluster to this machine's pace.
    # Each writer reports its own track as soon as it is written, under a lock, as `done` is not
    # made for two threads at once.
    writing = ThreadPoolExecutor(WRITERS, thread_name_prefix="audioguide-write")
    written: list[Future[None]] = []
    reporting = threading.Lock()

    def report(task: Task, result: Result) -> None:
        with reporting:
            done(task, result)

    def write(task: Task, rendered: Rendered) -> None:
        report(task, write_rendered(task, rendered))

    try:
        # pure=False: two clients with the same vars are still two tracks to render.
        futures = {client.submit(render_remote, _portable(t), pure=False): t for t in tasks}
        for future in distributed.as_completed(list(futures), loop=client.loop):
            task = futures[future]
            try:
                rendered = future.result()
            except distributed.KilledWorker:
                rendered = Failed(
                    ClusterError(
                        f"{task.job.path}: every Dask worker that rendered it died; check the "
                        "workers' memory and logs, then run again"
                    )
                )
            if isinstance(rendered, Failed):
                report(task, rendered)
            else:
                written.append(writing.submit(write, task, rendered))
        for writer in as_completed(written):
            writer.result()  # what a writer raised, raised here
    finally:
        for future in futures:
            future.cancel()
        writing.shutdown(wait=True, cancel_futures=True)
        client.close()


def _portable(task: Task) -> Task:
    """The task with every path absolute: a worker runs in a folder of its own."""
    job = task.job
    options = job.options
    bed = options.bed
    if bed is not None and Path(bed).expanduser().exists():
        bed = str(Path(bed).expanduser().resolve())
    options = replace(
        options,
        bed=bed,
        cache_dir=options.cache_dir.resolve() if options.cache_dir else None,
        sound_dirs=tuple(d.resolve() for d in options.sound_dirs),
    )
    ref = replace(job.ref, path=job.ref.path.resolve())
    return replace(task, job=replace(job, ref=ref, options=options))


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(
            f"--scheduler needs Dask distributed, which is not installed: {INSTALL_CLUSTER}"
        ) from None
    return distributed


def render_remote(task: Task) -> Rendered | Failed:
    """On a worker: the task's track rendered into a temp file (when its audio is due),
    returned with its plan and tags. Nothing is written outside the temp folder."""
    job = task.job
    session = session_for(job.ref)
    try:
        _, voice = routine_and_voice(session, job)
        before = cache_counts(voice)
        plan = plan_of(session, job)
        with tempfile.TemporaryDirectory(prefix="audioguide-") as folder:
            path = Path(folder) / job.path.name
            track = session.track(
                path, plan, job.options, job.outputs, client=job.client, tags=album_tags(job)
            )
            if task.audio:
                export_track(track)
            mp3 = path.read_bytes() if task.audio else None
    except AudioguideError as e:
        return Failed(e)
    return Rendered(mp3, plan, track.tags, *since(voice, before))


def write_rendered(task: Task, rendered: Rendered) -> Result:
    """Here: the track written atomically where the job says (when it was rendered), then the
    outputs due beside it. The samples stay on the worker that mixed them, so an output that
    encodes them again (split parts) cannot be made here; a client's folder has none."""
    job = task.job
    plan = rendered.plan
    track = Track(
        job.path,
        plan.routine,
        plan.timeline,
        rendered.tags,
        no_audio,
        job.outputs,
        job.options.bitrate_kbps,
        job.client,
    )
    try:
        if rendered.mp3 is not None:
            write_atomic(job.path, rendered.mp3)
        written = write_outputs(track, task.outputs)
    except AudioguideError as e:
        return Failed(e)
    counts = (rendered.hits, rendered.misses)
    return built_result(job, plan.timeline, written, counts)
