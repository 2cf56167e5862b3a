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
from typing import Any, Final, NoReturn

from ..errors import AudioguideError, ExportError
from ..files import write_atomic
from ..publish.outputs import Track, write_outputs
from ..publish.tags import Tags
from ..session import Plan
from .jobs import Built, Failed, Job, Result, album_tags, routine_and_voice, session_for, since
from .jobs import cache_counts as _counts

CONNECT_TIMEOUT_S: Final = 20.0
WRITERS: Final = max(1, os.cpu_count() or 1)
"""Threads that write results here: a PDF is Chromium's work, so as many as there are cores."""
INSTALL_CLUSTER: Final = "pip install 'audioguide[cluster]'"


class ClusterError(AudioguideError):
    """The Dask scheduler cannot be reached, or the cluster gave up on a track."""


@dataclass(frozen=True)
class Rendered:
    """A track as a worker made it: the MP3 and what the files beside it are made from."""

    mp3: bytes
    plan: Plan
    tags: Tags
    hits: int
    misses: int


def run_on_cluster(address: str, jobs: Sequence[Job], done: Callable[[Job, Result], None]) -> None:
    """Render every job on the cluster whose scheduler is at `address`; `done` is called here,
    once per job, after its files are written."""
    if not jobs:
        return
    distributed = _distributed()
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({e}); start one with `dask "
            "scheduler`, or check the address (tcp://HOST:8786)"
        ) from None
    futures: dict[Any, Job] = {}
    # Writing a result here (its pages, a PDF through Chromium) takes as long as a worker takes
    # to render one: done one at a time, it would hold the whole cluster to this machine's pace.
    # Each writer reports its own track as soon as it is written, under a lock, as `done` is not
    # made for two threads at once.
    writing = ThreadPoolExecutor(WRITERS, thread_name_prefix="audioguide-write")
    written: list[Future[None]] = []
    reporting = threading.Lock()

    def report(job: Job, result: Result) -> None:
        with reporting:
            done(job, result)

    def write(job: Job, rendered: Rendered) -> None:
        report(job, write_rendered(job, rendered))

    try:
        # pure=False: two clients with the same vars are still two tracks to render.
        futures = {client.submit(render_remote, _portable(job), pure=False): job for job in jobs}
        for future in distributed.as_completed(list(futures), loop=client.loop):
            job = futures[future]
            try:
                rendered = future.result()
            except distributed.KilledWorker:
                rendered = Failed(
                    f"{job.path}: every Dask worker that rendered it died; check the workers' "
                    "memory and logs, then run again"
                )
            if isinstance(rendered, Failed):
                report(job, rendered)
            else:
                written.append(writing.submit(write, job, rendered))
        for writer in as_completed(written):
            writer.result()  # what a writer raised, raised here
    finally:
        for future in futures:
            future.cancel()
        writing.shutdown(wait=True, cancel_futures=True)
        client.close()


def _portable(job: Job) -> Job:
    """The job with every path absolute: a worker runs in a folder of its own."""
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
    return replace(job, ref=replace(job.ref, path=job.ref.path.resolve()), options=options)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(
            f"--scheduler needs Dask distributed, which is not installed: {INSTALL_CLUSTER}"
        ) from None
    return distributed


def render_remote(job: Job) -> Rendered | Failed:
    """On a worker: the job's track rendered into a temp file, returned with its plan and
    tags. Nothing is written outside the temp folder."""
    session = session_for(job.ref)
    kept: list[Tags] = []
    album = album_tags(job)

    def tags(made: Tags) -> Tags:
        kept.append(album(made))
        return kept[-1]

    try:
        _, voice = routine_and_voice(session, job)
        before = _counts(voice)
        plan = session.plan(job.variables, variables_from=job.variables_from, options=job.options)
        with tempfile.TemporaryDirectory(prefix="audioguide-") as folder:
            path = Path(folder) / job.path.name
            session.build(
                path,
                job.variables,
                variables_from=job.variables_from,
                options=job.options,
                outputs=(),
                client=job.client,
                tags=tags,
            )
            mp3 = path.read_bytes()
    except AudioguideError as e:
        return Failed(str(e))
    return Rendered(mp3, plan, kept[-1], *since(voice, before))


def write_rendered(job: Job, rendered: Rendered) -> Result:
    """Here: the track written atomically where the job says, then the outputs beside it."""
    timeline = rendered.plan.timeline
    track = Track(
        job.path,
        rendered.plan.routine,
        timeline,
        rendered.tags,
        _no_audio,
        job.outputs,
        job.options.bitrate_kbps,
        job.client,
    )
    try:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(job.path, rendered.mp3)
        write_outputs(track)
    except (AudioguideError, OSError) as e:
        return Failed(str(e))
    return Built(timeline.total_s, bool(timeline.chapters), rendered.hits, rendered.misses)


def _no_audio() -> NoReturn:
    # Only split parts re-encode the samples, and a client's folder has none: the samples stay
    # on the worker that mixed them.
    raise ExportError("a track rendered on a Dask worker has no samples here to encode again")
