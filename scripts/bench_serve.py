#!/usr/bin/env python3
"""Benchmark `audioguide serve` beside nginx serving the same site, in one run: range downloads
(256 KB from the middle of a 5-minute session, as a player seeking asks) and feed fetches, at 64
and 256 connections kept open, each for --seconds; requests per second, MB/s, p50/p99 latency
(wrk's), and each server's peak RSS (VmHWM), with the ratio to nginx. Then the events database's
size per 10,000 events. Both servers run one process; wrk (Debian's `wrk`) is the client for
both. Usage:

    .venv/bin/python scripts/bench_serve.py [--seconds 60] [--connections 64 256]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RANGE_BYTES = 256 * 1024
ROUTINE = """\
title: Bench
vars: {client: friend}
steps:
  - say: Hello {client}.
  - exercise: Long hold
    say: Hold it.
    reps: 2
    rep:
      - hold: 150s
      - say: Release.
  - say: Goodbye.
"""
PROGRAM = "title: Bench\nroutine: bench.yaml\nstart: 2026-01-05\nsessions:\n  - title: One\n"


@dataclass(frozen=True)
class Run:
    requests_s: float
    mb_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(folder: Path, port: int) -> tuple[Path, str, str]:
    """The program site for 8 clients; the first client's feed and session paths."""
    (folder / "bench.yaml").write_text(ROUTINE)
    (folder / "program.yaml").write_text(PROGRAM)
    (folder / "clients.csv").write_text("name\n" + "\n".join(f"Client {i}" for i in range(8)))
    site = folder / "site"
    subprocess.run(
        [BIN / "audioguide", "program", folder / "program.yaml", "--clients",
         folder / "clients.csv", "-o", site, "--base-url", f"http://127.0.0.1:{port}",
         "--voice", "fake", "--workers", "1"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    token = next(p.name for p in site.iterdir() if p.is_dir())
    (track,) = (site / token / "01").glob("*.mp3")
    return site, f"/{token}/feed.xml", f"/{token}/01/{track.name}"


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


@contextmanager
def ours(site: Path, port: int) -> Iterator[list[int]]:
    process = subprocess.Popen(
        [BIN / "audioguide", "serve", site, "--port", str(port)],
        stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    try:
        wait_port(port)
        yield [process.pid]
    finally:
        process.terminate()
        process.wait()


@contextmanager
def nginx(root: Path, port: int, work: Path) -> Iterator[list[int]]:
    work.mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.getuid() == 0 else "")
        + f"daemon off; pid {work}/nginx.pid; error_log {work}/error.log; worker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log {work}/access.log combined; sendfile on; gzip on;\n"
        "  gzip_types application/rss+xml;\n"
        f"  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};\n"
        f"  uwsgi_temp_path {work}; scgi_temp_path {work};\n"
        "  types { audio/mpeg mp3; application/rss+xml xml; text/html html; }\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
    )
    process = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf])
    try:
        wait_port(port)
        yield [process.pid, *children(process.pid)]
    finally:
        process.terminate()
        process.wait()


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def peak_rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(r"VmHWM:\s+(\d+) kB", status)[1])  # type: ignore[index]
    return total / 1024


def wrk(url: str, connections: int, seconds: int, headers: list[str]) -> Run:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return Run(
        float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        _mb(re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)),
        _ms(re.search(r"50%\s+([\d.]+)(\w+)", out)),
        _ms(re.search(r"99%\s+([\d.]+)(\w+)", out)),
        (int(errors[1]) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    )


def _ms(match: re.Match[str] | None) -> float:
    assert match
    return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match[2]]


def _mb(match: re.Match[str] | None) -> float:
    assert match
    return float(match[1]) * {"B": 1e-6, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[match[2]]


def db_bytes_per_10k(folder: Path) -> int:
    """The events database's size after 10,000 events of the kinds a week of clients makes."""
    sys.path.insert(0, str(ROOT / "src"))
    from audioguide.serve.events import Event, Events, Kind

    site = folder / "dbsite"
    site.mkdir()
    store = Events(site)
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    kinds = (Kind.FEED, Kind.FEED, Kind.DOWNLOAD, Kind.PLAY)
    batch = [
        Event(now + dt.timedelta(seconds=i), kinds[i % 4], f"token{i % 200:017d}",
              None if i % 4 < 2 else 1 + i % 12, "AntennaPod", f"{i % 500:016x}", 200,
              2_000_000 if i % 4 == 2 else 0)
        for i in range(10_000)
    ]  # fmt: skip
    store.add(batch)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return sum(f.stat().st_size for f in site.parent.glob("dbsite.audioguide/events.sqlite3*"))


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None or shutil.which("nginx") is None:
        raise SystemExit("the serve bench needs wrk and nginx: apt-get install wrk nginx")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        port = free_port()
        site, feed, track = build(folder, port)
        size = (site / track.lstrip("/")).stat().st_size
        middle = size // 2
        ranged = [f"Range: bytes={middle}-{middle + RANGE_BYTES - 1}", "User-Agent: AntennaPod/3"]
        feeds = ["User-Agent: AntennaPod/3", "Accept-Encoding: gzip"]
        print(
            f"Serving a program of 8 clients ({size / 1e6:.1f} MB sessions), {args.seconds} s a run"
        )
        print(f"{'what':<28}{'server':<10}{'req/s':>9}{'MB/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'errors':>8}{'peak MB':>9}{'vs nginx':>10}")  # fmt: skip
        for connections in args.connections:
            for what, path, headers in (("range 256 KB", track, ranged), ("feed", feed, feeds)):
                runs = {}
                for label, server in (("audioguide", ours(site, port)),
                                      ("nginx", nginx(site, port, folder / "nginx"))):  # fmt: skip
                    with server as pids:
                        wrk(f"http://127.0.0.1:{port}{path}", 8, 1, headers)  # warm up
                        runs[label] = (wrk(f"http://127.0.0.1:{port}{path}", connections,
                                           args.seconds, headers), peak_rss_mb(pids))  # fmt: skip
                for label, (r, rss) in runs.items():
                    ratio = r.requests_s / runs["nginx"][0].requests_s
                    print(f"{what + f' x{connections}':<28}{label:<10}{r.requests_s:>9.0f}"
                          f"{r.mb_s:>9.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}"
                          f"{rss:>9.1f}{ratio:>10.2f}")  # fmt: skip
        print(f"Events database: {db_bytes_per_10k(folder) / 1e6:.2f} MB per 10,000 events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 256])
    run(parser.parse_args())


if __name__ == "__main__":
    main()
