"""`audioguide serve` started on 127.0.0.1 and spoken to over HTTP: a session is served from its
release day and not before, a revoked client gets 410 and an empty feed, a path is a key only
as the build wrote it, files answer as podcast apps expect (ranges, HEAD, 304, types, gzip), a
burst of 404s is slowed down, and every fetch and download is in the report."""

from __future__ import annotations

import base64
import gzip
import re
import shutil
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.clients.state import state_dir
from audioguide.serve.events import DATABASE
from batchtools import without_pdf
from servertools import Got, Site, build_site, free_port, get, server, wait_up

ANN, BO, CY = "Ann Li", "Bo Chen", "Cy Doe"
GPODDER = "gPodder/3.11.1 (+http://gpodder.org/) Linux"


@pytest.fixture(scope="module", name="site")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Three clients built, then Cy taken off the list: theirs is revoked."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        without_pdf(monkeypatch)
        root = tmp_path_factory.mktemp("serve")
        runner = CliRunner()
        first = build_site(runner, root, f"id,name\n1,{ANN}\n2,{BO}\n3,{CY}\n")
        return build_site(runner, root, f"id,name\n1,{ANN}\n2,{BO}\n", first.base)


def mp3(site: Site, name: str, session: int) -> Path:
    token = site.tokens[name]
    (track,) = (state_dir(site.folder) / "build" / token / f"{session:02d}").glob("*.mp3")
    return track


def url(site: Site, name: str, path: str) -> str:
    return f"{site.base}/{site.tokens[name]}/{path}"


def items(got: Got) -> list[str]:
    assert got.status == 200 and got.headers["content-type"] == "application/rss+xml"
    return [t.text or "" for t in ET.fromstring(got.body).iter("item") for t in t.iter("title")]


def events(site: Site) -> list[tuple[str, str, int | None, str, int, int]]:
    with sqlite3.connect(state_dir(site.folder) / DATABASE) as db:
        rows = db.execute("SELECT kind, token, session, app, status, bytes FROM events")
        names = {t: n for n, t in site.tokens.items()}
        return [(k, names[t], s, a, st, b) for k, t, s, a, st, b in rows]


def test_a_session_is_served_from_its_release_day_and_not_before(site: Site) -> None:
    second = f"02/{mp3(site, ANN, 2).name}"
    with server(site, "--today", "2026-12-13"):
        assert items(get(url(site, ANN, "feed.xml"))) == ["Session 1: Knee"]
        unreleased = get(url(site, ANN, second))
        assert (unreleased.status, unreleased.body) == (404, b"Not found\n")
        assert get(url(site, ANN, "02/")).status == 404
    with server(site, "--today", "2026-12-14"):
        assert items(get(url(site, ANN, "feed.xml"))) == ["Session 2: Knee", "Session 1: Knee"]
        got = get(url(site, ANN, second))
        assert got.status == 200 and got.body == mp3(site, ANN, 2).read_bytes()
        page = get(url(site, ANN, ""))
        assert page.status == 200 and b'href="02/"' in page.body


def test_a_revoked_client_gets_410_and_an_empty_feed(site: Site) -> None:
    token = site.tokens[CY]
    assert not (site.folder / token / "01").exists()
    with server(site, "--today", "2026-12-14"):
        assert items(get(url(site, CY, "feed.xml"))) == []
        page = get(url(site, CY, ""))
        assert page.status == 410 and b"<h1>" in page.body
        for path in ("01/", "01/program-01.mp3", "cover.png", "02/program-02.vtt"):
            assert get(url(site, CY, path)).status == 410, path


def test_unknown_unreleased_and_outside_paths_all_get_the_same_404(site: Site) -> None:
    token = site.tokens[ANN]
    build = state_dir(site.folder) / "build" / token / "01"
    (build / "link.mp3").symlink_to(mp3(site, BO, 1))  # a link, even to a real session
    (build / ".hidden.mp3").write_bytes(b"x")
    paths = [
        "/AAAAAAAAAAAAAAAAAAAAAA/feed.xml",
        f"/{token}/02/{mp3(site, ANN, 2).name}",
        f"/{token}/01/link.mp3",
        f"/{token}/01/.hidden.mp3",
        f"/{token}/01/../../{site.tokens[BO]}/feed.xml",
        f"/{token}/%2e%2e/{site.tokens[BO]}/feed.xml",
        f"/{token}/01/%2e%2e%2f%2e%2e%2fclients.json",
        f"/{token}/..%5c..%5cclients.json",
        "/../site.audioguide/clients.json",
        "/site.audioguide/clients.json",
        f"/{token}/01",
        f"/{token}",
        "/index.html/",
    ]
    try:
        with server(site, "--today", "2026-12-07"):
            answers = {p: get(site.base + p) for p in paths}
            posted = get(url(site, ANN, "feed.xml"), method="POST")
    finally:
        (build / "link.mp3").unlink()
        (build / ".hidden.mp3").unlink()
    for path, got in answers.items():
        assert (got.status, got.body) == (404, b"Not found\n"), path
        assert got.headers["x-content-type-options"] == "nosniff"
    assert posted.status == 404


def test_files_answer_as_podcast_apps_expect(site: Site) -> None:
    track = mp3(site, ANN, 1)
    data = track.read_bytes()
    audio = url(site, ANN, f"01/{track.name}")
    with server(site, "--today", "2026-12-07"):
        whole = get(audio)
        head = get(audio, method="HEAD")
        first = get(audio, Range="bytes=0-99")
        middle = get(audio, Range="bytes=1000-1999")
        tail = get(audio, Range="bytes=-500")
        several = get(audio, Range="bytes=0-9,100-109")
        beyond = get(audio, Range=f"bytes={len(data)}-")
        nonsense = get(audio, Range="bytes=ten-twenty")
        old = get(audio, Range="bytes=0-9", If_Range='"an-older-version"')
        same = get(audio, If_None_Match=whole.headers["etag"])
        since = get(audio, If_Modified_Since=whole.headers["last-modified"])
        feed = get(url(site, ANN, "feed.xml"))
        feed_again = get(url(site, ANN, "feed.xml"), If_None_Match=feed.headers["etag"])
        feed_head = get(url(site, ANN, "feed.xml"), method="HEAD")
        zipped = get(url(site, ANN, "feed.xml"), Accept_Encoding="gzip")
        page = get(url(site, ANN, ""))
        vtt = get(url(site, ANN, f"01/{track.stem}.vtt"))
    assert whole.status == 200 and whole.body == data
    assert whole.headers["content-type"] == "audio/mpeg"
    assert whole.headers["accept-ranges"] == "bytes"
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(data)
    assert (first.status, first.body) == (206, data[:100])
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert (middle.status, middle.body) == (206, data[1000:2000])
    assert (tail.status, tail.body) == (206, data[-500:])
    assert several.status == 206
    assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert data[:10] in several.body and data[100:110] in several.body
    assert (beyond.status, beyond.headers["content-range"]) == (416, f"bytes */{len(data)}")
    assert (nonsense.status, nonsense.body) == (200, data), "a malformed Range is ignored"
    assert (old.status, old.body) == (200, data), "If-Range for another version: the whole"
    assert (same.status, same.body, since.status) == (304, b"", 304)
    assert (feed_again.status, feed_again.body) == (304, b"")
    assert (feed_head.status, feed_head.body) == (200, b"")
    assert feed_head.headers["content-length"] == str(len(feed.body))
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == feed.body
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for header in ("x-content-type-options", "referrer-policy", "x-frame-options"):
        assert header in page.headers and header in whole.headers
    assert "server" not in page.headers


def test_a_burst_of_404s_from_one_address_is_slowed_down(site: Site) -> None:
    with server(site, "--today", "2026-12-07"):
        for i in range(24):
            get(f"{site.base}/nothing-{i}")
        started = time.monotonic()
        assert get(f"{site.base}/nothing-more").status == 404
        waited = time.monotonic() - started
        assert get(url(site, ANN, "feed.xml")).status == 200, "a known path is answered"
    assert waited >= 1.0, "the 25th 404 in a minute waits 5 x 0.25 s"


def test_the_report_shows_each_clients_fetches_downloads_and_adherence(
    site: Site, runner: CliRunner
) -> None:
    fresh = copy_state(site, site.folder.parent / "report")
    track = mp3(fresh, ANN, 1)
    with server(fresh, "--today", "2026-12-07"):
        ann = get(url(fresh, ANN, "feed.xml"), User_Agent=GPODDER)
        get(url(fresh, ANN, f"01/{track.name}"), User_Agent=GPODDER)
        bo = get(url(fresh, BO, "feed.xml"), User_Agent="AntennaPod/3.4.0")
        get(url(fresh, BO, f"01/{track.name}"), Range="bytes=0-999", User_Agent="AntennaPod/3")
    assert sorted(events(fresh)) == [
        ("download", ANN, 1, "gPodder", 200, track.stat().st_size),
        ("download", BO, 1, "AntennaPod", 206, 1000),
        ("feed", ANN, None, "gPodder", 200, len(ann.body)),
        ("feed", BO, None, "AntennaPod", 200, len(bo.body)),
    ]
    lines = report(runner, fresh, "2026-12-07")
    assert lines[0].startswith("Ann Li   subscribed (gPodder)  1 of 1 done  last 20")
    assert lines[1].startswith("   1  2026-12-07  downloaded 100%  done  20")
    assert lines[2].startswith("Bo Chen  subscribed (AntennaPod)  0 of 1 done  last 20")
    assert lines[4].startswith("Cy Doe   not subscribed  0 of 0 done  no activity  [access ended]")
    csv = runner.invoke(cli, ["report", str(fresh.folder), "--csv", "--today", "2026-12-07"])
    assert csv.output.splitlines()[0].startswith("client,id,subscribed,apps,shared_link")


def report(runner: CliRunner, site: Site, day: str, *args: str) -> list[str]:
    """`audioguide report`'s lines on `day`."""
    result = runner.invoke(cli, ["report", str(site.folder), "--today", day, *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def copy_state(site: Site, to: Path) -> Site:
    """A copy of the site and its state, without events: a report of its own."""
    shutil.copytree(site.folder, to / "site", symlinks=True)
    shutil.copytree(
        state_dir(site.folder),
        state_dir(to / "site"),
        symlinks=True,
        ignore=shutil.ignore_patterns("events.sqlite3*"),
    )
    return Site(to / "site", site.base, site.tokens)


def test_a_correction_is_served_at_once(site: Site, tmp_path: Path, runner: CliRunner) -> None:
    fresh = copy_state(site, tmp_path)
    root = tmp_path / "again"
    shutil.copytree(site.folder.parent, root, ignore=shutil.ignore_patterns("site*"))
    shutil.copytree(fresh.folder, root / "site", symlinks=True)
    shutil.copytree(state_dir(fresh.folder), state_dir(root / "site"), symlinks=True)
    moved = Site(root / "site", site.base, site.tokens)
    with server(moved, "--today", "2026-12-07"):
        before = get(url(moved, ANN, "feed.xml")).body
        program = root / "program.yaml"
        program.write_text(program.read_text().replace("{hold: 2s}", "{hold: 1s}"))
        with pytest.MonkeyPatch.context() as monkeypatch:
            without_pdf(monkeypatch)
            build_site(runner, root, f"id,name\n1,{ANN}\n2,{BO}\n", site.base)
        after = get(url(moved, ANN, "feed.xml")).body
        track = mp3(moved, ANN, 1)
        served = get(url(moved, ANN, f"01/{track.name}")).body
    guid = re.compile(rb"<guid[^>]*>([^<]+)</guid>")
    assert guid.findall(before) != guid.findall(after), "a new GUID: every app fetches it"
    assert served == track.read_bytes()


def test_serving_or_reporting_a_folder_that_is_no_site_is_one_error(
    tmp_path: Path, runner: CliRunner
) -> None:
    served = runner.invoke(cli, ["serve", str(tmp_path), "--port", "0"])
    assert served.exit_code == 1
    assert served.output.endswith(
        f"Error: {tmp_path} is not a program's site (no {state_dir(tmp_path)}/clients.json): "
        "give the folder `audioguide program -o` wrote\n"
    )
    reported = runner.invoke(cli, ["report", str(tmp_path)])
    assert reported.exit_code == 1
    assert reported.output == served.output
    assert not state_dir(tmp_path).exists(), "nothing written"


def test_a_log_in_another_format_is_one_error_naming_its_line(
    site: Site, tmp_path: Path, runner: CliRunner
) -> None:
    log = tmp_path / "access.log"
    good = '127.0.0.1 - - [07/Dec/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'
    log.write_text(f"{good}\n2026-12-07 GET /feed.xml 200\n")
    result = runner.invoke(cli, ["report", str(site.folder), "--log", str(log)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {log}:2: not an nginx/Apache combined, Caddy JSON or S3 access log line; give "
        "the server's access log in one of those formats\n"
    )


def test_the_dashboard_behind_a_password_from_a_file(site: Site, tmp_path: Path) -> None:
    secret = tmp_path / "dashboard.password"
    secret.write_text("correct horse battery\n")
    port = free_port()
    args = ("--dashboard-port", str(port), "--dashboard-password-file", str(secret))
    board = f"http://127.0.0.1:{port}/"
    with server(site, "--today", "2026-12-07", *args):
        wait_up(board, None)
        none = get(board)
        wrong = get(board, Authorization=basic("sam:guess"))
        right = get(board, Authorization=basic("any:correct horse battery"))
    assert (none.status, wrong.status) == (401, 401)
    assert none.headers["www-authenticate"].startswith("Basic ")
    assert right.status == 200 and b"Ann Li" in right.body and b"Bo Chen" in right.body


def test_a_dashboard_password_too_short_is_refused(
    site: Site, tmp_path: Path, runner: CliRunner
) -> None:
    secret = tmp_path / "dashboard.password"
    secret.write_text("short\n")
    args = ["--dashboard-port", "9", "--dashboard-password-file", str(secret)]
    result = runner.invoke(cli, ["serve", str(site.folder), *args])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {secret}: the dashboard's password must be 12 characters or more on its first "
        "line; make one with: openssl rand -base64 18\n",
    )


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_a_site_built_before_schedules_were_kept_asks_for_one_more_build(
    site: Site, tmp_path: Path, runner: CliRunner
) -> None:
    old = copy_state(site, tmp_path)
    (state_dir(old.folder) / f"{site.tokens[BO]}.schedule.json").unlink()
    result = runner.invoke(cli, ["serve", str(old.folder)])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {old.folder} was built by an older audioguide, which kept no release schedule "
        "beside it: run the same `audioguide program` command again (nothing is rebuilt), "
        "then serve it\n",
    )
