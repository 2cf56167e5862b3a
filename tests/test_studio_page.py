"""The studio as a practitioner uses it: `audioguide studio` started as a command, its page
clicked and typed into in headless Chromium (Playwright over Debian's Chromium), its audio heard
by the browser's player, its files compared with what the command line writes.

With AUDIOGUIDE_SCREENSHOTS=DIR the test saves the page at each stage as DIR/studio-*.png
(docs/studio.md shows them: AUDIOGUIDE_SCREENSHOTS=docs/images).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audioguide import Options, Session
from audioguide.serve.studio_play import read_wav
from audioguide.voices.choose import voice_options
from audiotools import decode_mp3
from chromium import needs_chromium, page, watch

pytestmark = [pytest.mark.integration, needs_chromium]

NAME = "psoas-release.yaml"
AUDIOGUIDE = [sys.executable, "-c", "from audioguide.cli import main; main()"]
SECOND = 44100


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDIOGUIDE, *args], cwd=folder, capture_output=True, text=True, timeout=600
    )


@contextmanager
def _studio(tmp_path: Path, routine: str) -> Iterator[tuple[str, Path]]:
    """`audioguide studio ROUTINE` (bundled), run in an empty folder: the address it prints."""
    folder = tmp_path / "work"
    folder.mkdir()
    command = [*AUDIOGUIDE, "studio", routine, "--voice", "fake", "--no-open"]
    proc = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        copied = proc.stdout.readline()
        assert copied.startswith(f"Wrote {routine}.yaml (a copy of {routine})"), copied
        line = proc.stdout.readline()
        assert line.startswith(f"Studio for {routine}.yaml at http://127.0.0.1:"), line
        yield line.split(" at ", 1)[1].split()[0], folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with _studio(tmp_path, "psoas-release") as running:
        yield running


def _shot(p: Any, name: str) -> None:
    folder = os.environ.get("AUDIOGUIDE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(Path(folder) / f"studio-{name}.png"))


def _checked(p: Any, before: str | None) -> str:
    """Waits for the page's next exact plan (after `before`); its id."""
    p.wait_for_function(
        "b => document.body.dataset.checked && document.body.dataset.checked !== b", arg=before
    )
    return str(p.evaluate("document.body.dataset.checked"))


def _left(p: Any, chapter: int) -> float:
    return float(p.eval_on_selector(f'[data-chapter="{chapter}"]', "e => parseFloat(e.style.left)"))


def _typo_shown_at_its_line(p: Any, folder: Path, text: str) -> None:
    line = text.splitlines().index("  - pause: 2") + 1
    typo = text.replace("  - pause: 2\n", "  - pause: two\n", 1)
    p.fill("#text", typo)
    p.wait_for_selector(f"#line-{line}.bad")
    shown = p.inner_text("#problems li.problem")
    side = folder / "cli"
    side.mkdir()
    (side / NAME).write_text(typo, encoding="utf-8")
    said = _run(side, "check", NAME, "--voice", "fake")
    assert said.returncode == 1 and shown == said.stderr.strip()
    assert shown.startswith(f"Error: {NAME}:{line}: step 2: 'pause' needs a duration")
    p.click("#problems li.problem")  # takes the caret to the line
    p.wait_for_selector(f"#line-{line}.bad.here")
    _shot(p, "error")


def _chapter_three_is_the_builds(p: Any, folder: Path, text: str) -> None:
    p.click('[data-chapter="3"]')
    p.wait_for_function("document.getElementById('player').currentTime > 0.2")
    src = p.eval_on_selector("#player", "a => a.currentSrc")
    assert "/play/" in src
    played, _ = read_wav(p.request.get(src).body())
    # What the build hands its encoder, exactly; and its MP3, within the coding error.
    side = folder / "side"
    side.mkdir()
    (side / NAME).write_text(text, encoding="utf-8")
    with Session.open(side / NAME, Options(voice="fake")) as session:
        plan = session.plan()
        start = plan.timeline.chapters[2].start_sample
        full = np.concatenate(
            list(session.track(side / "x.mp3", plan, session.options, ()).audio())
        )
    mix = np.rint(np.clip(full[start : start + 5 * SECOND] * 32768.0, -32768, 32767))
    np.testing.assert_array_equal(played[: 5 * SECOND, 0], mix)
    assert _run(side, "build", NAME, "--voice", "fake").returncode == 0
    decoded = decode_mp3(side / "output" / "psoas-release.mp3")[start : start + 5 * SECOND]
    error = decoded * 32768.0 - played[: 5 * SECOND, 0]
    assert np.count_nonzero(mix)
    assert 10 * np.log10(np.sum(mix**2) / np.sum(error**2)) > 20  # dB: the MP3's own error


def test_writing_a_routine_by_ear(studio: tuple[str, Path]) -> None:
    url, folder = studio
    female = next(o.spec for o in voice_options("en") if o.gender == "female")
    with page("--autoplay-policy=no-user-gesture-required") as p:
        seen = watch(p)
        p.set_viewport_size({"width": 1360, "height": 900})
        p.goto(url)
        first = _checked(p, None)
        assert p.locator(".chapter").count() == 5
        text = p.input_value("#text")
        assert text == (folder / NAME).read_text(encoding="utf-8")
        p.click("#text")
        _shot(p, "overview")

        _typo_shown_at_its_line(p, folder, text)
        p.fill("#text", text)
        p.wait_for_selector("#problems li", state="detached")

        before = _left(p, 4)
        longer = text.replace("hold: {duration: 3,", "hold: {duration: 8,", 1)
        p.fill("#text", longer)
        p.wait_for_function(
            f"parseFloat(document.querySelector('[data-chapter=\"4\"]').style.left) > {before}"
        )
        checked = _checked(p, first)

        _chapter_three_is_the_builds(p, folder, longer)

        p.click(f'.sample[data-voice="{female}"]')
        p.wait_for_function("document.getElementById('player').currentSrc.includes('/sample/')")
        p.wait_for_function("document.getElementById('player').currentTime > 0.2")
        sample, _ = read_wav(
            p.request.get(p.eval_on_selector("#player", "a => a.currentSrc")).body()
        )
        assert np.abs(sample).max() > 1000  # a voice, not silence
        p.check(f'input[name=voice][value="{female}"]')
        _checked(p, checked)
        assert female in p.inner_text("#command")

        p.click("#save")
        p.wait_for_function("document.getElementById('status').textContent.startsWith('Saved')")
        assert (folder / NAME).read_text(encoding="utf-8") == longer
        p.click("#build")
        p.wait_for_function(
            "document.getElementById('result').textContent.startsWith('Wrote')", timeout=300_000
        )
        assert p.inner_text("#result").startswith("Wrote output/psoas-release.mp3 (")
        _shot(p, "built")
        assert seen.errors == []

    cli = folder / "cli-build"
    built = _run(folder, "build", NAME, "--voice", female, "-o", str(cli / "psoas-release.mp3"))
    assert built.returncode == 0, built.stderr
    studio_mp3 = (folder / "output" / "psoas-release.mp3").read_bytes()
    assert studio_mp3 == (cli / "psoas-release.mp3").read_bytes()


def test_the_timeline_shows_breathing_and_follows_the_caret(tmp_path: Path) -> None:
    with _studio(tmp_path, "psoas-relax") as (url, _), page() as p:
        p.set_viewport_size({"width": 1360, "height": 900})
        p.goto(url)
        _checked(p, None)
        for phase in ("inhale", "exhale"):
            assert p.locator(f".block.breath.{phase}").count() > 0, phase
        text = p.input_value("#text")
        line = next(i for i, t in enumerate(text.splitlines(), 1) if "- breathe:" in t)
        plan = p.evaluate("state.plan")
        # The top-level step it lies in (a section holds it).
        step = [s for s in plan["steps"] if s["line"] <= line][-1]
        assert step["line"] < line
        p.evaluate(f"goToLine({line})")
        shaded = p.eval_on_selector("#step-span", "e => parseFloat(e.style.left)")
        assert shaded == pytest.approx(100 * step["start"] / plan["total_samples"], abs=1e-4)
        p.click("#play-step")
        p.wait_for_function("document.getElementById('player').currentSrc.includes('/play/')")
        src = p.eval_on_selector("#player", "a => a.currentSrc")
        assert src.endswith(f"from={step['start']}&to={step['end']}")
        _shot(p, "breathing")
