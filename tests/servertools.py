"""What the server's tests share: a program site built with the fake voice for two clients, the
server started as its own process on 127.0.0.1 (a free port), and an HTTP client that shows
status, headers and body as sent (urllib, which neither follows nor hides anything here)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.clients.state import CLIENTS, state_dir
from batchtools import KNEE

PROGRAM = """\
title: Knee
routine: knee.yaml
start: 2026-12-07
every: 1 week
sessions:
  - vars: {hold: 2s}
  - vars: {hold: 3s}
"""
START_S = 30.0
"""How long the server may take to answer its first request: far above any load's effect."""
SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Site:
    folder: Path
    base: str
    tokens: Mapping[str, str]
    """Client name -> token."""

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


def build_site(runner: CliRunner, root: Path, clients: str, base: str = "") -> Site:
    """The program built for `clients` (a CSV) with the fake voice, its feeds naming `base`
    (default: a free port on 127.0.0.1). The live site is built (today's), so sessions are
    on disk whatever their day: the server decides."""
    (root / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (root / "program.yaml").write_text(PROGRAM, encoding="utf-8")
    (root / "clients.csv").write_text(clients, encoding="utf-8")
    site = root / "site"
    state = state_dir(site) / CLIENTS
    base = base or f"http://127.0.0.1:{free_port()}"
    args = [
        *("program", str(root / "program.yaml"), "--clients", str(root / "clients.csv")),
        *("-o", str(site), "--base-url", base, "--voice", "fake", "--workers", "1"),
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(state.read_text(encoding="utf-8"))
    return Site(site, base, {m["name"]: m["token"] for m in doc["clients"]})


@contextmanager
def server(site: Site, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`audioguide serve` on the site's port for the block, as its own process."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "NO_PROXY": "127.0.0.1"}
    command = [sys.executable, "-c", "from audioguide.cli.app import main; main()"]
    command += ["serve", str(site.folder)]
    process = subprocess.Popen(
        [*command, "--port", str(site.port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_up(site.base, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def wait_up(base: str, process: subprocess.Popen[bytes] | None) -> None:
    """Until `base` answers anything at all (its robots.txt, or a 401)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr and process.stderr.read()}")
        try:
            with _NO_PROXY.open(base.rstrip("/") + "/robots.txt", timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the server did not answer in {START_S} s")


@dataclass(frozen=True)
class Got:
    status: int
    headers: Mapping[str, str]
    body: bytes


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, method: str = "GET", **headers: str) -> Got:
    """One request; any status is an answer, not an exception."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    request = urllib.request.Request(url, method=method, headers=named)
    try:
        with _NO_PROXY.open(request, timeout=30) as r:
            return Got(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Got(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
