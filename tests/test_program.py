"""`audioguide program` through the CLI: every session for every client, a private feed each
(read by gPodder's parser, and by gPodder itself over HTTP), releases on schedule, stable tokens
and GUIDs, a rebuild that changes nothing, and access revoked for a client taken off the list."""

from __future__ import annotations

import io
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import podcastparser
import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.language.program import program_keys
from audioguide.options import Options
from audioguide.publish.feed import ITUNES_NS
from audioguide.session import Session
from audiotools import decode_mp3
from batchtools import KNEE, without_pdf
from podcast_client import GPO, GPO_MISSING, serve, subscribe_and_download

PROGRAM = """\
title: Knee program, three weeks
routine: knee.yaml
start: 2026-12-07
every: 1 week
clinic: {name: Lee's Physio, contact: 555 0100}
sessions:
  - vars: {hold: 2s}
  - vars: {hold: 3s}
    title: Week 2, longer holds
    notes: Three times this week.
  - vars: {hold: 4s}
"""
CLIENTS = "name,start\nAnn Li,\nBo Chen,2026-12-14\nZoë O'Brien,\n"
BASE = "https://clinic.example/p"
HOLDS = ("2s", "3s", "4s")


@pytest.fixture(autouse=True)
def _no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    without_pdf(monkeypatch)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (tmp_path / "knee-program.yaml").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    return tmp_path


def program(runner: CliRunner, folder: Path, *args: str, base: str = BASE) -> tuple[int, str]:
    result = runner.invoke(
        cli,
        [
            *(
                "program",
                str(folder / "knee-program.yaml"),
                "--clients",
                str(folder / "clients.csv"),
            ),
            *("-o", str(folder / "site"), "--base-url", base, "--voice", "fake", "--workers", "1"),
            *args,
        ],
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def feeds(output: str) -> dict[str, str]:
    """Each client's subscribe page, as the command prints it."""
    found = re.findall(r"^  (.+?)  +\d+ sessions?  (\S+)$", output, flags=re.M)
    return dict(found)


def parse(site: Path, page_url: str) -> dict[str, Any]:
    xml = (site / local(page_url) / "feed.xml").read_bytes()
    parsed: dict[str, Any] = podcastparser.parse(page_url + "feed.xml", io.BytesIO(xml))
    return parsed


def local(url: str, base: str = BASE) -> str:
    return unquote(url.removeprefix(base)).strip("/")


def everything(site: Path) -> dict[Path, tuple[int, bytes]]:
    return {
        p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(site.rglob("*")) if p.is_file()
    }


def test_every_client_gets_a_private_feed_of_the_sessions_released(
    runner: CliRunner, files: Path
) -> None:
    code, output = program(runner, files, "--today", "2026-12-15")

    assert code == 0, output
    lines = output.splitlines()
    assert len([line for line in lines if line.startswith("Built ")]) == 9
    site = files / "site.preview"  # a day given is a preview, beside the live site
    assert f"3 clients in {site}: 9 built, 0 up to date; speech: " in output
    preview = "A preview of the feeds on 2026-12-15 (the live site is as it was); each client's"
    assert f"{preview} page would be:" in lines
    assert not (files / "site" / "robots.txt").exists()
    pages = feeds(output)
    assert list(pages) == ["Ann Li", "Bo Chen", "Zoë O'Brien"]
    tokens = [local(url) for url in pages.values()]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", t) for t in tokens), tokens
    assert sorted(p.name for p in site.iterdir()) == sorted([*tokens, "index.html", "robots.txt"])
    assert (site / "robots.txt").read_text() == "User-agent: *\nDisallow: /\n"
    assert 'content="noindex, nofollow"' in (site / "index.html").read_text()
    # No path on the site names a client: only the feeds' contents do.
    for path in site.rglob("*"):
        assert not re.search(r"ann|bo-chen|zoe|brien", str(path.relative_to(site)), re.I), path

    ann = parse(site, pages["Ann Li"])
    assert ann["title"] == "Knee program, three weeks: Ann Li"
    assert ann["itunes_author"] == "Lee's Physio"
    assert [e["title"] for e in ann["episodes"]] == ["Week 2, longer holds", "Session 1: Knee"]
    assert [e["number"] for e in ann["episodes"]] == [2, 1]
    assert [e["published"] for e in ann["episodes"]] == [
        int(datetime(2026, 12, d, 6, tzinfo=UTC).timestamp()) for d in (14, 7)
    ]
    assert ann["episodes"][0]["description"].startswith("Three times this week.\n\n00:00:00 ")
    for episode in ann["episodes"]:
        (enclosure,) = episode["enclosures"]
        assert enclosure["mime_type"] == "audio/mpeg"
        assert enclosure["file_size"] == (site / local(enclosure["url"])).stat().st_size
        assert (site / local(episode["chapters_json_url"])).is_file()
        assert (site / local(episode["transcript_url"])).read_text().startswith("WEBVTT")
    # Bo started a week later: one session out so far.
    bo = parse(site, pages["Bo Chen"])
    assert [e["number"] for e in bo["episodes"]] == [1]
    assert bo["episodes"][0]["published"] == int(datetime(2026, 12, 14, 6, tzinfo=UTC).timestamp())
    channel = ET.parse(site / local(pages["Ann Li"]) / "feed.xml").getroot().find("channel")
    assert channel is not None and channel.findtext(f"{{{ITUNES_NS}}}block") == "Yes"
    page = (site / local(pages["Zoë O'Brien"]) / "index.html").read_text(encoding="utf-8")
    assert pages["Zoë O'Brien"] + "feed.xml" in page and "O&#x27;Brien" in page


def test_a_rebuild_changes_nothing_and_a_later_day_releases_more(
    runner: CliRunner, files: Path
) -> None:
    assert program(runner, files, "--today", "2026-12-15")[0] == 0
    site = files / "site.preview"
    before = everything(site)
    first = feeds(program(runner, files, "--today", "2026-12-15")[1])

    code, output = program(runner, files, "--today", "2026-12-15")

    assert code == 0
    assert output.splitlines()[0] == f"3 clients in {site}: 0 built, 9 up to date"
    assert everything(site) == before  # byte for byte, and not one file rewritten
    assert feeds(output) == first  # the same private addresses

    old = {e["guid"] for e in parse(site, first["Ann Li"])["episodes"]}
    code, output = program(runner, files, "--today", "2027-01-01")
    assert code == 0
    assert output.splitlines()[0] == f"3 clients in {site}: 0 built, 9 up to date"
    now = parse(site, first["Ann Li"])["episodes"]
    assert [e["number"] for e in now] == [3, 2, 1]
    assert old < {e["guid"] for e in now}  # the old episodes keep their GUIDs


def test_a_client_taken_off_the_list_gets_an_empty_feed(runner: CliRunner, files: Path) -> None:
    code, output = program(runner, files, "--today", "2026-12-15")
    assert code == 0, output
    site = files / "site.preview"
    bo = site / local(feeds(output)["Bo Chen"])
    # Bo started on the 14th: one session is out, and the two not out yet are not on the site.
    assert len(list(bo.rglob("*.mp3"))) == 1
    (files / "clients.csv").write_text(CLIENTS.replace("Bo Chen,2026-12-14\n", ""))

    code, output = program(runner, files, "--today", "2026-12-15")

    assert code == 0, output
    assert output.splitlines()[-1] == "  Bo Chen: no longer on the list, their feed is now empty"
    assert sorted(p.name for p in bo.iterdir()) == ["feed.xml", "index.html"]
    assert "Access has ended" in (bo / "index.html").read_text()
    assert parse(site, feeds(output)["Ann Li"])["episodes"]
    assert parse(site, f"{BASE}/{bo.name}/")["episodes"] == []

    (files / "clients.csv").write_text(CLIENTS)  # back on the list: the same address again
    code, output = program(runner, files, "--today", "2026-12-15")
    assert code == 0
    assert local(feeds(output)["Bo Chen"]) == bo.name
    assert len(list(bo.rglob("*.mp3"))) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("every: 1 week", "every: monthly"),
            "{p}:4: 'every' is the time between sessions, like 1 week, 2 weeks or 3 days, up to "
            'a year, got "monthly"',
        ),
        (
            ("start: 2026-12-07", "start: soon"),
            "{p}:3: 'start' is a date like 2026-12-07, got \"soon\"",
        ),
        (
            ("routine: knee.yaml", "routine: kne.yaml"),
            '{p}:2: routine "kne.yaml": no such file ({d}/kne.yaml) and no bundled routine of '
            "that name; `audioguide list` shows the bundled ones",
        ),
        (("every:", "evry:"), "{p}:4: unknown key 'evry': did you mean 'every'?"),
        (
            ("- vars: {hold: 2s}", "- vars: {hold: ten}"),
            "{r}:9: step 2.1: 'hold' needs a duration like 5s, 90s, 1m30s or 1:30, got \"ten\" "
            '({{hold}} is "ten", from {p}:7)',
        ),
    ],
)
def test_a_bad_program_file_says_where(
    runner: CliRunner, files: Path, change: tuple[str, str], message: str
) -> None:
    path = files / "knee-program.yaml"
    path.write_text(PROGRAM.replace(*change, 1), encoding="utf-8")

    code, output = program(runner, files)

    assert code == 1
    expected = message.format(p=path, d=files, r=files / "knee.yaml")
    assert output == f"Error: {expected}\n"
    assert not (files / "site").exists()


def test_a_column_the_program_sets_too_is_refused(runner: CliRunner, files: Path) -> None:
    (files / "clients.csv").write_text("name,hold\nAnn Li,5s\n")

    code, output = program(runner, files)

    assert (code, output) == (
        1,
        f"Error: {files / 'clients.csv'}:1: column 'hold': the program's session "
        f"{files / 'knee-program.yaml'}:7 sets 'hold' too: set it in one place, or list it "
        "under the program's 'personal:' to let a client's row set it over the session's\n",
    )


@pytest.mark.integration
def test_gpo_subscribes_and_downloads_every_session_as_planned(
    runner: CliRunner, files: Path
) -> None:
    if GPO is None:
        pytest.skip(GPO_MISSING)
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    site = files / "site.preview"
    site.mkdir()
    with serve(site) as base:
        code, output = program(runner, files, "--today", "2027-01-01", base=base)
        assert code == 0, output
        page = feeds(output)["Zoë O'Brien"]

        result = subscribe_and_download(page + "feed.xml", files / "listener")

    assert [e.title for e in result.episodes] == [
        "Session 3: Knee",
        "Week 2, longer holds",
        "Session 1: Knee",
    ]
    assert all(e.downloaded for e in result.episodes), result.transcript
    assert len(result.files) == 3, result.transcript
    folder = site / local(page, base)
    with Session.open(files / "knee.yaml", Options(voice="fake")) as session:
        for number, hold in enumerate(HOLDS, start=1):
            name = f"knee-program-{number:02d}.mp3"
            (got,) = [f for f in result.files if f.name == name]
            built = folder / f"{number:02d}" / name
            assert got.read_bytes() == built.read_bytes()
            plan = session.plan({"client": "Zoë O'Brien", "hold": hold}).timeline
            assert len(decode_mp3(got)) == plan.total_samples, name


def test_every_program_key_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "scaling.md").read_text(encoding="utf-8")
    for key in sorted(program_keys()):
        assert f"`{key}:`" in doc, key
