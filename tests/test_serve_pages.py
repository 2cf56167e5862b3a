"""The pages in headless Chromium at phone width: a client plays a session on its page served
by `audioguide serve` and seeks a chapter, and the report shows the play and how far it went;
the practitioner's dashboard lists the clients and each one's timeline."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.clients.state import state_dir
from audioguide.serve.report import site_figures
from chromium import needs_chromium, page
from podcast_client import serve as static_host
from servertools import Site, free_port, get, server
from test_serve import (
    ANN,
    BO,
    built_site,  # noqa: F401 (the fixture `site`, built once a module)
    copy_state,
    events,
    url,
)

pytestmark = [pytest.mark.integration, needs_chromium]


def test_a_play_on_the_page_and_a_seek_are_in_the_report(
    site: Site,
    tmp_path: Path,
    runner: CliRunner,
) -> None:
    fresh = copy_state(site, tmp_path)
    dashboard = free_port()
    with (
        server(fresh, "--today", "2026-12-07", "--dashboard-port", str(dashboard)),
        page("--autoplay-policy=no-user-gesture-required", phone=True) as tab,
    ):
        tab.goto(url(fresh, ANN, ""))
        tab.click("text=Session 1: Knee")
        tab.wait_for_selector("audio")
        tab.evaluate("document.querySelector('audio').play()")
        tab.wait_for_function("document.querySelector('audio').currentTime > 0.5")
        with tab.expect_request(lambda r: "/played?e=seek" in r.url):
            tab.click(".chapters li:nth-child(2) button")
        start = float(tab.get_attribute(".chapters li:nth-child(2) button", "data-start") or 0)
        tab.wait_for_function(f"document.querySelector('audio').currentTime > {start + 1.5}")
        # Answered means recorded: the server commits an event before it answers.
        with tab.expect_response(lambda r: "/played?e=pause" in r.url):
            tab.evaluate("document.querySelector('audio').pause()")
        position = tab.evaluate("document.querySelector('audio').currentTime")

        tab.goto(f"http://127.0.0.1:{dashboard}/")
        names = tab.locator("li.client a").all_inner_texts()
        width = tab.evaluate("document.documentElement.scrollWidth")
        tab.click(f"text={ANN}")
        timeline = tab.locator("ol.timeline").inner_text()
        remote = get(f"{fresh.base}/").status  # the client-facing side still answers
    assert remote == 200
    plays = [(kind, name) for kind, name, *_ in events(fresh) if kind == "play"]
    assert plays and set(plays) == {("play", ANN)}
    result = runner.invoke(cli, ["report", str(fresh.folder), "--today", "2026-12-07"])
    line = r"^   1  2026-12-07  not downloaded  played 0:0\d of 0:1\d  not done"
    assert re.search(line, result.output, re.M), result.output
    (ann,) = [c for c in site_figures(fresh.folder, dt.date(2026, 12, 7)) if c.name == ANN]
    assert start + 1.4 <= ann.sessions[0].played_s <= position + 0.1, "as far as it played"
    assert names == [ANN, BO, "Cy Doe"]
    assert width <= 390, "the dashboard reads at phone width without sideways scrolling"
    assert "played session 1 to" in timeline and "opened the page" in timeline


def test_on_a_static_host_the_page_plays_and_its_report_fails_quietly(
    site: Site, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    shutil.copytree(state_dir(site.folder) / "build" / site.tokens[ANN] / "01", static / "01")
    errors: list[str] = []
    with static_host(static) as base, page("--autoplay-policy=no-user-gesture-required") as tab:
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"{base}/01/")
        with tab.expect_response(lambda r: "/played?e=start" in r.url) as report:
            tab.evaluate("document.querySelector('audio').play()")
        tab.wait_for_function("document.querySelector('audio').currentTime > 1")
        status = report.value.status
    assert status >= 400, "the static host has no such address"
    assert errors == [], "the page plays on as before"
