#!/usr/bin/env python3
"""Benchmark many clients: a program of 3 sessions of psoas-release for 8 clients (each named in
the routine's `client` var), built with 1 local worker, with 2, and on a local Dask cluster of 2
workers, each from a cold speech cache, in one run so the ratios compare like with like.

Prints tracks per minute, each run's speed against 1 worker, the share of speech served from
the cache, and Dask against the local pool. Shared machines are noisy: with --rounds N the three
runs are interleaved N times and each keeps its fastest round. Usage:

    .venv/bin/python scripts/bench_batch.py [--clients 8] [--sessions 3] [--voice system]
                                            [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
NAMES = ("Ann Li", "Bo Chen", "Cy Diaz", "Di Evans", "Ed Fox", "Flo Gray", "Gus Hill", "Hal Ito")


def write_inputs(folder: Path, clients: int, sessions: int) -> tuple[Path, Path]:
    program = folder / "bench-program.yaml"
    lines = ["title: Bench program", "routine: psoas-release", "start: 2026-01-05", "sessions:"]
    lines += [f"  - title: Week {n}" for n in range(1, sessions + 1)]
    program.write_text("\n".join(lines) + "\n", encoding="utf-8")
    roster = folder / "clients.csv"
    names = [
        NAMES[i % len(NAMES)] + (f" {i // len(NAMES) + 1}" * (i >= len(NAMES)))
        for i in range(clients)
    ]
    roster.write_text("name\n" + "\n".join(names) + "\n", encoding="utf-8")
    return program, roster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def dask_cluster(folder: Path, env: dict[str, str], workers: int) -> Iterator[str]:
    """`dask scheduler` and `workers` single-threaded `dask worker` processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(name: str, *args: str) -> None:
        log = folder / f"{name}.log"
        with log.open("wb") as out:
            started.append(
                subprocess.Popen([str(BIN / "dask"), *args], env=env, stdout=out, stderr=out)
            )
        logs.append(log)

    try:
        start(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"
        )
        for i in range(workers):
            start(
                f"worker-{i}",
                *("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"),
                *("--host", "127.0.0.1", "--local-directory", str(folder)),
            )
        deadline = time.monotonic() + 60
        for log, text in zip(logs, ["Scheduler at:", *["Registered to:"] * workers], strict=True):
            while text not in log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    sys.exit(f"the Dask cluster did not start: see {log}")
                time.sleep(0.1)
        yield address
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def build(
    program: Path, roster: Path, out: Path, env: dict[str, str], extra: list[str]
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the command and every process under it (the local pool's
    workers, ffmpeg, Chromium; not Dask's workers, which are not its children), and its summary
    line."""
    cmd = [str(BIN / "audioguide"), "program", str(program), "--clients", str(roster)]
    cmd += ["-o", str(out), "--base-url", "https://clinic.example/p", "--today", "2026-03-01"]
    log = out.with_name("stdout.txt")
    t0 = time.perf_counter()
    with log.open("w") as stdout:
        proc = subprocess.Popen([*cmd, *extra], env=env, stdout=stdout, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd + extra)}\n{log.read_text()}")
    summary = next(line for line in log.read_text().splitlines() if " built, " in line)
    return wall, usage.ru_utime + usage.ru_stime, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--voice", default="system")
    parser.add_argument("--rounds", type=int, default=1)
    run(parser.parse_args())


def run(args: argparse.Namespace) -> None:
    """The three runs and their table: what `scripts/bench.py batch` prints too."""
    tracks = args.clients * args.sessions

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        program, roster = write_inputs(tmp, args.clients, args.sessions)
        runs = [
            ("1 local worker", ["--workers", "1"]),
            ("2 local workers", ["--workers", "2"]),
            ("Dask, 2 workers", []),
        ]
        results: dict[str, tuple[float, float, str]] = {}
        for round_ in range(args.rounds):
            for label, extra in runs:
                folder = tmp / f"{label.replace(' ', '-').replace(',', '')}-{round_}"
                folder.mkdir()
                # A cold cache for each run: every run speaks the same lines from nothing.
                env = {**os.environ, "AUDIOGUIDE_CACHE_DIR": str(folder / "speech")}
                options = ["--voice", args.voice, *extra]
                if extra:
                    result = build(program, roster, folder / "site", env, options)
                else:
                    with dask_cluster(folder, env, 2) as address:
                        options += ["--scheduler", address]
                        result = build(program, roster, folder / "site", env, options)
                print(f"  round {round_ + 1}, {label}: {result[0]:.1f} s", file=sys.stderr)
                if label not in results or result[0] < results[label][0]:
                    results[label] = result

    one = results["1 local worker"][0]
    print(
        f"{args.clients} clients x {args.sessions} sessions of psoas-release ({tracks} tracks), "
        f"--voice {args.voice}, {os.cpu_count()} cores, cold speech cache each run, "
        f"fastest of {args.rounds} interleaved round(s)"
    )
    header = f"{'run':<18} {'wall s':>7} {'tracks/min':>11} {'vs 1 worker':>12} {'cores busy':>11}"
    print(header + "  speech")
    for label, (wall, cpu, summary) in results.items():
        speech = re.search(r"speech: (.*)$", summary)
        busy = f"{cpu / wall:.2f}" if "Dask" not in label else "-"
        print(
            f"{label:<18} {wall:>7.1f} {tracks * 60 / wall:>11.1f} {one / wall:>11.2f}x "
            f"{busy:>11}  {speech[1] if speech else '-'}"
        )
    pool, dask = results["2 local workers"][0], results["Dask, 2 workers"][0]
    print(f"Dask (2 workers) against the local pool (2 workers): {pool / dask:.2f}x the speed")


if __name__ == "__main__":
    main()
