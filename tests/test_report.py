"""The report's figures from events alone (no server): subscribed and with which apps, what
counts as done, a shared link, a browser's bytes, and the retention period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.clients.manifest import TrackEntry
from audioguide.clients.schedule import Schedule, save_schedule
from audioguide.clients.site import Channel, EpisodeSource
from audioguide.clients.state import Member, SiteState
from audioguide.serve.events import Event, Events, Kind
from audioguide.serve.report import figures
from audioguide.serve.show import csv_text, table

DAY = dt.date(2026, 12, 7)
AT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
SIZE, LENGTH_S = 1_000_000, 300.0


def make_site(tmp_path: Path, names: dict[str, str]) -> Path:
    """A site's state for `names` (token -> name), two sessions a week apart, no audio."""
    site = tmp_path / "site"
    state = SiteState(site, "knee", [Member(f"id:{t}", t, n) for t, n in names.items()])
    state.save()
    for token, name in names.items():
        episodes = tuple(
            EpisodeSource(n, f"Session {n}", "", DAY + dt.timedelta(weeks=n - 1),
                          f"{n:02d}/knee-{n:02d}.mp3", TrackEntry(f"d{n}", SIZE, LENGTH_S))
            for n in (1, 2)
        )  # fmt: skip
        channel = Channel("Knee", "About", "Clinic", "en", name)
        save_schedule(site, Schedule(token, "https://c.example/p", channel, episodes))
    return site


def event(token: str, kind: Kind, app: str = "AntennaPod", **fields: object) -> Event:
    values: dict[str, object] = {"session": None, "who": "h1", "status": 200, "bytes": 0}
    values |= fields
    return Event(AT, kind, token, app=app, **values)  # type: ignore[arg-type]


TOKENS = {"A" * 22: "Ann Li", "B" * 22: '=HYPERLINK("x")', "C" * 22: "Cy Doe"}


def test_what_counts_as_done(tmp_path: Path) -> None:
    site = make_site(tmp_path, TOKENS)
    a, b, c = TOKENS
    events = [
        event(a, Kind.FEED),
        event(a, Kind.DOWNLOAD, session=1, status=206, bytes=SIZE // 2),
        event(a, Kind.DOWNLOAD, session=1, status=206, bytes=SIZE // 2),
        event(b, Kind.DOWNLOAD, session=1, app="browser", bytes=SIZE),
        event(b, Kind.PLAY, session=1, app="browser", position_s=269.0, duration_s=LENGTH_S),
        event(c, Kind.PLAY, session=1, app="browser", position_s=271.0, duration_s=LENGTH_S),
        event(c, Kind.DOWNLOAD, session=1, status=404, bytes=SIZE),
    ]
    got = {f.name: f for f in figures(site, events, DAY)}
    ann, link, cy = got["Ann Li"], got['=HYPERLINK("x")'], got["Cy Doe"]
    assert (ann.subscribed, ann.apps, ann.done, len(ann.sessions)) == (True, ("AntennaPod",), 1, 1)
    assert ann.sessions[0].downloaded == 1.0, "two halves make the whole"
    assert (link.subscribed, link.done, link.sessions[0].downloaded) == (False, 0, 0.0)
    assert cy.done == 1, "90% played on the page is done"
    assert [len(f.sessions) for f in figures(site, events, DAY + dt.timedelta(days=7))] == [2] * 3
    assert "'=HYPERLINK" in csv_text(list(got.values()))
    assert "Ann Li" in table(list(got.values()))


def test_a_feed_fetched_by_many_apps_is_flagged(tmp_path: Path) -> None:
    site = make_site(tmp_path, TOKENS)
    a, b, _ = TOKENS
    apps = ["AntennaPod", "gPodder", "Overcast"]
    events = [event(a, Kind.FEED, app=x) for x in apps] + [
        event(b, Kind.FEED, app=x) for x in apps[:2]
    ]
    got = {f.name: f.shared for f in figures(site, events, DAY)}
    assert got == {"Ann Li": True, '=HYPERLINK("x")': False, "Cy Doe": False}
    lines = table(figures(site, events, DAY)).splitlines()
    assert [line.startswith("Ann Li") for line in lines if "[shared link?]" in line] == [True]


def test_events_older_than_the_retention_period_are_forgotten(tmp_path: Path) -> None:
    site = make_site(tmp_path, TOKENS)
    store = Events(site)
    old = Event(AT - dt.timedelta(days=400), Kind.FEED, "A" * 22, None, "gPodder", "h", 200)
    assert store.add([old, event("A" * 22, Kind.FEED)]) == 2
    assert store.forget_before(AT - dt.timedelta(days=365)) == 1
    assert [e.at for e in store.all()] == [AT]
    store.close()


def test_the_report_in_csv(tmp_path: Path, runner: CliRunner) -> None:
    site = make_site(tmp_path, {"A" * 22: "Ann Li"})
    store = Events(site)
    store.add([event("A" * 22, Kind.FEED, app="gPodder"),
               event("A" * 22, Kind.DOWNLOAD, app="gPodder", session=1, bytes=SIZE)])  # fmt: skip
    store.close()
    from audioguide.cli import cli

    result = runner.invoke(cli, ["report", str(site), "--csv", "--today", "2026-12-07"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "client,id,subscribed,apps,shared_link,feed_places,revoked,done,released,"
        "last_activity_utc,session,title,release_day,downloaded_pct,played_s,duration_s,"
        "first_utc,session_done\n"
        f"Ann Li,id:{'A' * 22},yes,gPodder,no,1,no,1,1,2026-12-07 09:00,1,Session 1,2026-12-07,"
        "100,0.0,300.0,2026-12-07 09:00,yes\n"
    )


@pytest.mark.parametrize(
    ("agent", "app"),
    [
        ("gPodder/3.11.1 (+http://gpodder.org/) Linux", "gPodder"),
        ("AntennaPod/3.4.0", "AntennaPod"),
        ("Podcasts/1650.20 CFNetwork/1408.0.4 Darwin/22.5.0", "Apple Podcasts"),
        (
            "AppleCoreMedia/1.0.0.20G75 (iPhone; U; CPU OS 16_6 like Mac OS X; en_us)",
            "Apple Podcasts",
        ),
        ("Pocket Casts", "Pocket Casts"),
        ("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", "Overcast"),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
            "browser",
        ),
        ("", "other"),
    ],
)
def test_the_app_is_named_from_its_user_agent(agent: str, app: str) -> None:
    from audioguide.serve.agents import app_of

    assert app_of(agent) == app


def test_a_log_under_a_prefix_gives_the_events_a_server_would_record(
    tmp_path: Path, runner: CliRunner
) -> None:
    """A static host serving the site under /p/: feed, download, play report (a POST that host
    answered 404), and what is not a client's (robots.txt, an unknown token, a session's
    other files) passed over."""
    from audioguide.cli import cli

    token = "A" * 22
    site = make_site(tmp_path, {token: "Ann Li"})
    pod, browser = "AntennaPod/3.4.0", "Mozilla/5.0 Chrome/126.0"
    lines = [
        combined("09:00:00", f"GET /p/{token}/feed.xml", 200, 2100, pod),
        combined("09:00:05", f"GET /p/{token}/01/knee-01.mp3", 200, SIZE, pod),
        combined("09:00:06", f"GET /p/{token}/01/knee-01.vtt", 200, 900, pod),
        combined("09:10:00", f"POST /p/{token}/01/played?e=pause&t=271.5&d=300.0", 404, 9, browser),
        combined("09:10:01", f"GET /p/{'B' * 22}/feed.xml", 404, 9, pod),
        combined("09:10:02", "GET /robots.txt", 200, 26, "-"),
    ]
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["report", str(site), "--log", str(log), "--today", "2026-12-07"])
    assert result.exit_code == 0, result.output
    store = Events(site)
    got = [(e.kind, e.session, e.app, e.status, e.bytes, e.position_s) for e in store.all()]
    whos = {e.who for e in store.all()}
    store.close()
    assert got == [
        (Kind.FEED, None, "AntennaPod", 200, 2100, None),
        (Kind.DOWNLOAD, 1, "AntennaPod", 200, SIZE, None),
        (Kind.PLAY, 1, "browser", 204, 0, 271.5),
    ]
    assert len(whos) == 1 and "203.0.113.9" not in next(iter(whos))
    assert "203.0.113.9" not in (
        site.parent / "site.audioguide" / "events.sqlite3"
    ).read_bytes().decode("latin-1")
    assert "2 of 1 done" not in result.output and "1 of 1 done" in result.output


def combined(time: str, request: str, status: int, size: int, agent: str) -> str:
    """A line of nginx's combined log on 7 December 2026."""
    when = f"[07/Dec/2026:{time} +0000]"
    return f'203.0.113.9 - - {when} "{request} HTTP/1.1" {status} {size} "-" "{agent}"'


def test_an_object_stores_access_log(tmp_path: Path, runner: CliRunner) -> None:
    """Amazon S3's server access log (path-style: the bucket's name in front of the key)."""
    from audioguide.cli import cli

    token = "A" * 22
    site = make_site(tmp_path, {token: "Ann Li"})
    owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    tail = (
        '"-" "AntennaPod/3.4.0" - s9lzHYrFp76Z= SigV4 ECDHE-RSA-AES128-GCM-SHA256 - '
        "c.s3.amazonaws.com TLSv1.2 - -"
    )
    lines = [
        f'{owner} clinic [07/Dec/2026:09:00:00 +0000] 203.0.113.9 - 3E57427F3EXAMPLE '
        f'REST.GET.OBJECT {token}/feed.xml "GET /clinic/{token}/feed.xml HTTP/1.1" 200 - 2100 '
        f"2100 7 6 {tail}",
        f'{owner} clinic [07/Dec/2026:09:00:05 +0000] 203.0.113.9 - 3E57427F3EXAMPLF '
        f'REST.GET.OBJECT {token}/01/knee-01.mp3 "GET /clinic/{token}/01/knee-01.mp3 HTTP/1.1" '
        f"206 - {SIZE} {SIZE} 70 6 {tail}",
    ]  # fmt: skip
    log = tmp_path / "s3.log"
    log.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["report", str(site), "--log", str(log), "--today", "2026-12-07"])
    assert result.exit_code == 0, result.output
    assert "Ann Li  subscribed (AntennaPod)  1 of 1 done" in result.output
