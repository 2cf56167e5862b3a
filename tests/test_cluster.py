"""A batch on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, one of them killed mid-batch, and every track still arrives whole, written once by
the submitting side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from audioguide.options import Options
from audioguide.session import Session
from audiotools import decode_mp3
from batchtools import KNEE
from servertools import free_port

pytestmark = pytest.mark.integration
pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


@contextmanager
def cluster(
    folder: Path, n_workers: int = 2, *, nanny: bool = False
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and `n_workers` single-threaded workers, without nannies (a killed worker
    stays dead) unless `nanny` (the default of `dask worker`, as the docs start them), each with
    a speech cache of its own, all stopped and waited for on the way out, whatever happened."""
    address = f"tcp://127.0.0.1:{free_port()}"
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = folder / f"{name}.log"
        env = {**os.environ, "AUDIOGUIDE_CACHE_DIR": str(folder / f"{name}-speech")}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / "dask"), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=folder,
                env=env,
            )
        started.append(proc)
        return proc, log

    try:
        host, port = address.removeprefix("tcp://").split(":")
        scheduler, log = start(
            "scheduler", "scheduler", "--host", host, "--port", port, "--no-dashboard"
        )
        _wait_for(log, "Scheduler at:", scheduler)
        workers = []
        for i in range(n_workers):
            worker, log = start(
                f"worker-{i}",
                *("worker", address, "--nthreads", "1", "--no-dashboard"),
                *(() if nanny else ("--no-nanny",)),
                *("--name", f"worker-{i}", "--host", host, "--local-directory", str(folder)),
            )
            workers.append((worker, log))
        for worker, log in workers:
            _wait_for(log, "Registered to:", worker)
        yield address, [w for w, _ in workers]
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    routine = tmp_path / "knee.yaml"
    routine.write_text(KNEE, encoding="utf-8")
    names = [f"Client {n}" for n in range(1, 9)]
    holds = [f"{2 + n % 3}s" for n in range(1, 9)]
    clients = tmp_path / "clients.csv"
    rows = [f"{n},{h}" for n, h in zip(names, holds, strict=True)]
    clients.write_text("name,hold\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"

    with cluster(tmp_path) as (address, workers):
        errors_log = tmp_path / "batch.err"
        with errors_log.open("w", encoding="utf-8") as errors_file:
            batch = subprocess.Popen(
                [
                    *(str(BIN / "audioguide"), "batch", str(routine), "--clients", str(clients)),
                    *("-o", str(out), "--voice", "fake", "--scheduler", address),
                ],
                stdout=subprocess.PIPE,
                stderr=errors_file,
                text=True,
                start_new_session=True,
            )
        try:
            assert batch.stdout is not None
            first = batch.stdout.readline()
            assert first.startswith("Built "), first + errors_log.read_text(encoding="utf-8")
            built_before = len(list(out.glob("*/*.mp3")))
            os.kill(workers[0].pid, signal.SIGKILL)  # mid-batch: its tasks must run again
            # Read on from the same buffered stream: readline may hold the next lines already.
            rest = batch.stdout.read()
            batch.wait(timeout=300)
        finally:
            if batch.poll() is None:
                os.killpg(batch.pid, signal.SIGKILL)
                batch.wait(timeout=20)
            if batch.stdout:
                batch.stdout.close()
        assert workers[0].wait(timeout=20) == -signal.SIGKILL
        errors = errors_log.read_text(encoding="utf-8")

    assert batch.returncode == 0, errors
    assert built_before < len(names)
    lines = (first + rest).splitlines()
    assert len([line for line in lines if line.startswith("Built ")]) == len(names), lines
    assert lines[-1].startswith(f"8 clients in {out}: 8 built, 0 up to date; speech: "), lines
    with Session.open(routine, Options(voice="fake")) as session:
        for name, hold in zip(names, holds, strict=True):
            folder = name.lower().replace(" ", "-")
            track = out / folder / f"knee-{folder}.mp3"
            plan = session.plan({"client": name, "hold": hold}).timeline
            assert len(decode_mp3(track)) == plan.total_samples, track  # whole
            for beside in (".vtt", ".chapters.json"):
                assert track.with_suffix(beside).is_file()
            assert (out / folder / "index.html").is_file()
    assert list(out.rglob("*.part")) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the system voice is espeak-ng's on Linux")
def test_workers_started_as_the_docs_say_build_what_this_machine_builds_with_the_system_voice(
    tmp_path: Path,
) -> None:
    """`dask worker ADDRESS` with its default nanny, each worker with a cold speech cache of its
    own: the tracks equal a local build's, byte for byte (the system voice is deterministic)."""
    routine = tmp_path / "knee.yaml"
    routine.write_text(KNEE, encoding="utf-8")
    clients = tmp_path / "clients.csv"
    clients.write_text("name,hold\nAnn Li,2s\nBo Chen,3s\nCy Dee,4s\n", encoding="utf-8")
    args = [str(BIN / "audioguide"), "batch", str(routine), "--clients", str(clients)]
    args += ["--voice", "system"]
    with cluster(tmp_path, nanny=True) as (address, _):
        remote = subprocess.run(
            [*args, "-o", str(tmp_path / "remote"), "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "AUDIOGUIDE_CACHE_DIR": str(tmp_path / "submitter-speech")},
        )
    assert remote.returncode == 0, remote.stderr
    local = subprocess.run(
        [*args, "-o", str(tmp_path / "local"), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "AUDIOGUIDE_CACHE_DIR": str(tmp_path / "local-speech")},
    )
    assert local.returncode == 0, local.stderr
    for folder in ("ann-li", "bo-chen", "cy-dee"):
        track = f"{folder}/knee-{folder}.mp3"
        assert (tmp_path / "remote" / track).read_bytes() == (
            tmp_path / "local" / track
        ).read_bytes()
