"""What a build writes beside its MP3 is a closed set decided in one place: an unknown output is an
error, a machine without Chromium gets everything but the PDF with one warning (and a rerun builds
nothing), and an output that changes is written again without its audio."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.errors import AudioguideError
from audioguide.options import Options
from audioguide.publish import outputs
from audioguide.publish.outputs import COMMAND_OUTPUTS, WRITERS, Output, outputs_for, parse_outputs
from audioguide.session import Session
from batchtools import KNEE

CLIENTS = "name,hold\nAnn Li,2s\nBo Chen,3s\nZoë O'Brien,\n"
PROGRAM = """\
title: Knee, two weeks
routine: knee.yaml
start: 2026-12-07
sessions:
  - vars: {hold: 2s}
  - vars: {hold: 3s}
"""
NO_CHROMIUM = "Warning: no handout.pdf: Chromium is needed"


def test_an_unknown_output_is_an_error(write_routine: object, tmp_path: Path) -> None:
    with pytest.raises(AudioguideError, match=r"unknown output 'pfd': use one of companions, "):
        parse_outputs(["page", "pfd"])
    assert parse_outputs(["pdf", Output.PAGE, "companions"]) == (
        Output.COMPANIONS,
        Output.PAGE,
        Output.PDF,
    )


def test_every_command_writes_what_its_row_says_in_the_writers_order() -> None:
    assert set(COMMAND_OUTPUTS) == {"build", "share", "batch", "program"}
    for chosen in COMMAND_OUTPUTS.values():
        assert list(chosen) == [o for o in WRITERS if o in chosen]
    assert set(WRITERS) == set(Output)


def test_without_chromium_the_pdf_is_left_out_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(outputs, "find_chromium", lambda: None)
    chosen = outputs_for("share", [Output.SPLIT], warnings.append)
    assert chosen == (Output.COMPANIONS, Output.SPLIT, Output.PAGE, Output.HANDOUT)
    assert len(warnings) == 1 and warnings[0].startswith("no handout.pdf: Chromium is needed")


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with the encoder on it and no browser: what the README's quickstart installs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("ffmpeg", "ffprobe"):
        found = shutil.which(program)
        assert found, f"{program} is needed"
        (bin_dir / program).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))


def _files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(runner: CliRunner, *args: object) -> tuple[int, list[str], list[str]]:
    result = runner.invoke(cli, [*map(str, args), "--voice", "fake", "--workers", "1"])
    return result.exit_code, result.stdout.splitlines(), result.stderr.splitlines()


@pytest.mark.integration
@pytest.mark.usefixtures("no_chromium")
def test_a_batch_without_chromium_writes_all_but_the_pdf_and_a_rerun_builds_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (tmp_path / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    out = tmp_path / "out"
    args = ("batch", tmp_path / "knee.yaml", "--clients", tmp_path / "clients.csv", "-o", out)

    code, stdout, stderr = _run(runner, *args)

    assert code == 0, (stdout, stderr)
    assert [line for line in stderr if line.startswith("Warning")] == [
        next(line for line in stderr if line.startswith(NO_CHROMIUM))
    ]
    assert stdout[-1].startswith(f"3 clients in {out}: 3 built, 0 up to date;")
    for folder in ("ann-li", "bo-chen", "zoe-obrien"):
        names = {p.name for p in (out / folder).iterdir()}
        assert {"index.html", "handout.html", "cover.png", f"knee-{folder}.vtt"} <= names
        assert "handout.pdf" not in names
    before = _files(out)

    code, stdout, stderr = _run(runner, *args)

    assert code == 0 and stdout == [f"3 clients in {out}: 0 built, 3 up to date"]
    assert _files(out) == before


@pytest.mark.integration
@pytest.mark.usefixtures("no_chromium")
def test_a_program_without_chromium_writes_all_but_the_pdf_and_a_rerun_builds_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (tmp_path / "program.yaml").write_text(PROGRAM, encoding="utf-8")
    (tmp_path / "clients.csv").write_text("name\nAnn Li\nBo Chen\nZoë O'Brien\n")
    args = ("program", tmp_path / "program.yaml", "--clients", tmp_path / "clients.csv")
    args += ("-o", tmp_path / "site", "--base-url", "https://clinic.example/p")
    args += ("--today", "2026-12-14")
    site = tmp_path / "site.preview"

    code, stdout, stderr = _run(runner, *args)

    assert code == 0, (stdout, stderr)
    assert sum(line.startswith("Warning") for line in stderr) == 1
    assert stdout[6].startswith(f"3 clients in {site}: 6 built, 0 up to date;")
    assert len(list(site.glob("*/0[12]"))) == 6  # released by the 14th, placed in the site
    sessions = sorted((tmp_path / "site.audioguide" / "build").glob("*/0[12]"))
    assert len(sessions) == 6
    for session in sessions:
        names = {p.name for p in session.iterdir()}
        assert {"index.html", "handout.html"} <= names and "handout.pdf" not in names
    before = _files(tmp_path)

    code, stdout, _ = _run(runner, *args)

    assert code == 0 and stdout[0] == f"3 clients in {site}: 0 built, 6 up to date"
    assert _files(tmp_path) == before


@pytest.mark.integration
def test_an_output_that_changes_is_written_again_without_its_audio(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when a release changes the handout's writer (its version) or the PDF becomes possible:
    the handout is written again beside each track, and no MP3 is encoded."""
    monkeypatch.setitem(COMMAND_OUTPUTS, "batch", (Output.COMPANIONS, Output.PAGE))
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (tmp_path / "clients.csv").write_text(CLIENTS, encoding="utf-8")
    out = tmp_path / "out"
    args = ("batch", tmp_path / "knee.yaml", "--clients", tmp_path / "clients.csv", "-o", out)
    assert _run(runner, *args)[0] == 0
    tracks = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*/*.mp3")}
    assert len(tracks) == 3 and not list(out.glob("*/handout.html"))

    monkeypatch.setitem(COMMAND_OUTPUTS, "batch", (Output.COMPANIONS, Output.PAGE, Output.HANDOUT))
    code, stdout, _ = _run(runner, *args)

    assert code == 0
    assert stdout[-1] == (
        f"3 clients in {out}: 0 built, 3 up to date (3 with the files beside them written again)"
    )
    assert len(list(out.glob("*/handout.html"))) == 3
    # The page now links the handout; the tracks are the very same files.
    assert all('href="handout.html"' in p.read_text() for p in out.glob("*/index.html"))
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*/*.mp3")} == tracks

    handout = WRITERS[Output.HANDOUT]
    monkeypatch.setitem(WRITERS, Output.HANDOUT, dataclasses.replace(handout, version=2))
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/handout.html")}
    code, stdout, _ = _run(runner, *args)
    assert code == 0 and "(3 with the files beside them written again)" in stdout[-1]
    assert all(p.stat().st_mtime_ns != t for p, t in stamps.items())
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*/*.mp3")} == tracks

    monkeypatch.setitem(COMMAND_OUTPUTS, "batch", (Output.COMPANIONS, Output.PAGE))
    code, stdout, _ = _run(runner, *args)
    assert code == 0 and not list(out.glob("*/handout.html")), "a dropped output is removed"


@pytest.mark.integration
def test_a_library_build_names_its_outputs(tmp_path: Path) -> None:
    routine = tmp_path / "knee.yaml"
    routine.write_text(KNEE, encoding="utf-8")
    with Session.open(routine, Options(voice="fake")) as session:
        result = session.build(tmp_path / "k.mp3", {"hold": "2s"}, outputs=["page", "companions"])
        with pytest.raises(AudioguideError, match="unknown output 'pdff'"):
            session.build(tmp_path / "x.mp3", outputs=["pdff"])
    assert set(result.written) == {Output.COMPANIONS, Output.PAGE}
    assert {p.name for p in result.written[Output.PAGE]} == {"index.html", "cover.png"}
    assert not (tmp_path / "x.mp3").exists()
    assert os.path.getsize(result.path) > 0
