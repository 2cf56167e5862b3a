"""The server with real clients: gPodder (`gpo`) subscribes to two clients and downloads, and the
report shows exactly those downloads; a server killed mid-download loses no event and the app
resumes with a Range request; nginx serving the same site writes an access log that gives the
report the same figures as the server's own events."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apachelogs
import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.clients.state import state_dir
from audioguide.serve.report import site_figures
from podcast_client import GPO, GPO_MISSING, subscribe_and_download
from servertools import Site, free_port, get, server
from test_serve import (
    ANN,
    BO,
    CY,
    GPODDER,
    built_site,  # noqa: F401 (the fixture `site`, built once a module)
    copy_state,
    events,
    mp3,
    report,
    url,
)

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
NGINX_MISSING = "nginx is not installed: apt-get install nginx"

pytestmark = pytest.mark.integration


def test_gpodder_subscribes_two_clients_and_the_report_shows_exactly_those(
    site: Site, tmp_path: Path, runner: CliRunner
) -> None:
    if GPO is None:
        pytest.skip(GPO_MISSING)
    fresh = copy_state(site, tmp_path)
    with server(fresh, "--today", "2026-12-14"):
        ann = subscribe_and_download(url(fresh, ANN, "feed.xml"), tmp_path / "ann")
        bo = subscribe_and_download(url(fresh, BO, "feed.xml"), tmp_path / "bo")
    assert sorted(p.read_bytes() for p in ann.files) == sorted(
        mp3(fresh, ANN, n).read_bytes() for n in (1, 2)
    )
    assert len(bo.files) == 2
    downloads = {(name, s, app) for kind, name, s, app, _, _ in events(fresh) if kind == "download"}
    assert downloads == {
        (ANN, 1, "gPodder"),
        (ANN, 2, "gPodder"),
        (BO, 1, "gPodder"),
        (BO, 2, "gPodder"),
    }
    lines = report(runner, fresh, "2026-12-14")
    assert lines[0].startswith("Ann Li   subscribed (gPodder)  2 of 2 done")
    assert lines[3].startswith("Bo Chen  subscribed (gPodder)  2 of 2 done")
    assert lines[6].startswith("Cy Doe   not subscribed  0 of 0 done  no activity")


def test_a_server_killed_mid_download_loses_nothing_and_the_app_resumes(
    site: Site, tmp_path: Path
) -> None:
    fresh = copy_state(site, tmp_path)
    track = mp3(fresh, ANN, 1)
    # Longer than all that can sit between the server and an app that stopped reading (the
    # server's socket buffer at its largest, the app's as it starts, a megabyte read ahead),
    # so the kill lands mid-download however fast the machine.
    whole = track.read_bytes()
    track.write_bytes(whole * (1 + in_flight_bytes() // len(whole)))
    audio = url(fresh, ANN, f"01/{track.name}")
    with server(fresh, "--today", "2026-12-07") as process:
        assert get(url(fresh, ANN, "feed.xml"), User_Agent=GPODDER).status == 200
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        response = opener.open(urllib.request.Request(audio, headers={"User-Agent": GPODDER}))
        part = response.read(4096)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        try:
            part += response.read()  # what was already in flight, then the connection drops
        except http.client.IncompleteRead as e:
            part += e.partial  # what was in flight when it died: the app keeps it
        response.close()
    assert len(part) < track.stat().st_size, "killed before the download finished"
    with server(fresh, "--today", "2026-12-07"):
        rest = get(audio, Range=f"bytes={len(part)}-", User_Agent=GPODDER)
    assert rest.status == 206
    assert part + rest.body == track.read_bytes()
    kinds = [(kind, name, status) for kind, name, _, _, status, _ in events(fresh)]
    assert kinds == [("feed", ANN, 200), ("download", ANN, 200), ("download", ANN, 206)]


def in_flight_bytes() -> int:
    def sysctl(name: str, field: int) -> int:
        return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[field])

    return sysctl("tcp_wmem", 2) + 2 * sysctl("tcp_rmem", 1) + 4 * 1024 * 1024


def test_an_nginx_access_log_gives_the_same_figures_as_the_servers_events(
    site: Site, tmp_path: Path, runner: CliRunner
) -> None:
    if NGINX is None:
        pytest.skip(NGINX_MISSING)
    ours = copy_state(site, tmp_path / "ours")
    theirs = copy_state(site, tmp_path / "theirs")
    preview = tmp_path / "theirs" / "static"
    # The static site as of the 7th, as a host would hold it: session 1 for Ann and Bo.
    for name in (ANN, BO):
        folder = preview / site.tokens[name]
        shutil.copytree(site.folder / site.tokens[name], folder)
        shutil.copytree(state_dir(site.folder) / "build" / site.tokens[name] / "01", folder / "01")
    track = mp3(site, ANN, 1)
    visits = [
        (ANN, "feed.xml", {}),
        (ANN, f"01/{track.name}", {}),
        (BO, "feed.xml", {}),
        (BO, f"01/{track.name}", {"Range": "bytes=0-9999"}),
        (BO, f"01/{track.name}", {"Range": "bytes=10000-"}),
    ]
    with server(ours, "--today", "2026-12-07"):
        for name, path, headers in visits:
            get(url(ours, name, path), User_Agent=GPODDER, **headers)
    with nginx(preview, tmp_path / "nginx") as (base, log):
        for name, path, headers in visits:
            got = get(f"{base}/{site.tokens[name]}/{path}", User_Agent=GPODDER, **headers)
            assert got.status in (200, 206), path
    day = ["--today", "2026-12-07"]
    result = runner.invoke(cli, ["report", str(theirs.folder), "--log", str(log), *day])
    assert result.exit_code == 0, result.output
    assert f"Read {log}: 5 new events" in result.output
    again = runner.invoke(cli, ["report", str(theirs.folder), "--log", str(log), *day])
    assert f"Read {log}: 0 new events" in again.output, "a line read before counts once"
    assert figures(theirs) == figures(ours)
    assert figures(ours) == [
        (ANN, ("gPodder",), False, False, 1, (1, 1.0, 0.0, True)),
        (BO, ("gPodder",), False, False, 1, (1, 1.0, 0.0, True)),
        (CY, (), True, False, 0),
    ]

    caddy = copy_state(site, tmp_path / "caddy")
    written = tmp_path / "caddy.log"
    written.write_text("".join(caddy_line(line) for line in log.read_text().splitlines()))
    result = runner.invoke(cli, ["report", str(caddy.folder), "--log", str(written), *day])
    assert f"Read {written}: 5 new events" in result.output, result.output
    assert figures(caddy) == figures(ours)


def figures(site: Site) -> list[tuple[object, ...]]:
    """Each client's figures on the 7th, all but the times (the two servers were asked a
    moment apart)."""
    return [
        (
            *(c.name, c.apps, c.revoked, c.shared, c.done),
            *((s.number, s.downloaded, s.played_s, s.done) for s in c.sessions),
        )
        for c in site_figures(site.folder, dt.date(2026, 12, 7))
    ]


def caddy_line(combined: str) -> str:
    """The request an nginx log line records, as Caddy's JSON access log writes it."""
    entry = apachelogs.parse(apachelogs.COMBINED, combined)
    method, uri, proto = entry.request_line.split(" ")
    doc = {
        "level": "info",
        "ts": entry.request_time.timestamp(),
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": {
            "remote_ip": entry.remote_host,
            "remote_port": "51234",
            "client_ip": entry.remote_host,
            "proto": proto,
            "method": method,
            "host": "clinic.example",
            "uri": uri,
            "headers": {"User-Agent": [entry.headers_in["User-Agent"]], "Accept": ["*/*"]},
        },
        "bytes_read": 0,
        "user_id": "",
        "duration": 0.0012,
        "size": entry.bytes_sent or 0,
        "status": entry.final_status,
        "resp_headers": {"Server": ["Caddy"], "Content-Type": ["audio/mpeg"]},
    }
    return json.dumps(doc) + "\n"


@contextmanager
def nginx(root: Path, work: Path) -> Iterator[tuple[str, Path]]:
    """Debian's nginx serving `root` on a free port of 127.0.0.1, its access log in the
    combined format; yields the base URL and the log's path."""
    work.mkdir(parents=True)
    port, log = free_port(), work / "access.log"
    conf = work / "nginx.conf"
    conf.write_text(
        # As root, nginx's workers would drop to nobody, who cannot read a test's folder.
        ("user root;\n" if os.getuid() == 0 else "")
        + f"""daemon off; pid {work}/nginx.pid; error_log {work}/error.log; worker_processes 1;
events {{ worker_connections 256; }}
http {{
  access_log {log} combined;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  types {{ audio/mpeg mp3; application/rss+xml xml; text/html html; }}
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""",
        encoding="utf-8",
    )
    assert NGINX is not None
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
