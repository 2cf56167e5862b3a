"""`audioguide batch` through the CLI: a clients file becomes one folder per client, every bad
row is reported before anything renders, a rerun builds only what changed, an interrupted batch
resumes, and a pool of processes speaks each line once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioguide.cli import cli
from audioguide.clients.jobs import RoutineRef, session_for
from audioguide.clients.manifest import STATE_FILE
from audioguide.options import Options
from audioguide.publish.companions import vtt_text
from audioguide.session import Session
from audioguide.strings import clock
from audioguide.timing.compile import speech_of
from batchtools import KNEE, session_processes, without_pdf

AUDIOGUIDE = Path(sys.executable).with_name("audioguide")

ROUTINE = KNEE

AWKWARD = """\
name,hold
Zoë O'Brien,4s
Ann Li,
Ann Li,2s
../<script>x,3s
"""
FOLDERS = ["zoe-obrien", "ann-li", "ann-li-2", "script-x"]
NAMES = ["Zoë O'Brien", "Ann Li", "Ann Li", "../<script>x"]
HOLDS = ["4s", "3s", "2s", "3s"]


@pytest.fixture
def no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    without_pdf(monkeypatch)


@pytest.fixture
def knee(tmp_path: Path) -> Path:
    path = tmp_path / "knee.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    return path


def batch(runner: CliRunner, *args: object) -> tuple[int, str]:
    result = runner.invoke(
        cli, ["batch", *map(str, args), "--voice", "fake", "--workers", "1"], catch_exceptions=False
    )
    return result.exit_code, result.output


def plan_s(routine: Path, **variables: str) -> float:
    with Session.open(routine, Options(voice="fake")) as session:
        return session.plan(variables).timeline.total_s


def files(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_awkward_names_get_safe_distinct_folders(
    runner: CliRunner, knee: Path, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(AWKWARD, encoding="utf-8")
    out = tmp_path / "out"

    code, output = batch(runner, knee, "--clients", clients, "-o", out)

    assert code == 0, output
    lengths = [plan_s(knee, client=n, hold=h) for n, h in zip(NAMES, HOLDS, strict=True)]
    assert output.splitlines() == [
        *(
            f"Built {out}/{f}/knee-{f}.mp3 ({clock(s)})"
            for f, s in zip(FOLDERS, lengths, strict=True)
        ),
        f"4 clients in {out}: 4 built, 0 up to date; speech: "
        + re.search(r"speech: (.*)$", output.splitlines()[-1])[1],  # type: ignore[index]
    ]
    # The folders, and the hidden lock that keeps a second run from writing them at once.
    assert sorted(p.name for p in out.iterdir()) == sorted([".audioguide.lock", *FOLDERS])
    # Nothing outside the output folder: ../ in a name is text, never a path.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "knee.yaml", "out"]
    for folder, name in zip(FOLDERS, NAMES, strict=True):
        own = out / folder
        track = own / f"knee-{folder}.mp3"
        for beside in (".vtt", ".lrc", ".chapters.json", ".chapters.txt"):
            assert track.with_suffix(beside).is_file(), beside
        for page in ("index.html", "handout.html", "cover.png", STATE_FILE):
            assert (own / page).is_file(), page
        # WebVTT cue text is markup, so its < and & are escaped; LRC holds the text as it is.
        assert vtt_text(f"Hello {name}.") in track.with_suffix(".vtt").read_text(encoding="utf-8")
        assert f"Hello {name}." in track.with_suffix(".lrc").read_text(encoding="utf-8")
        assert name in str(ID3(track)["TALB"])


def test_every_bad_row_is_reported_at_once_and_nothing_is_written(
    runner: CliRunner, knee: Path, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(
        "name,hold,hld,rate,start\n"
        "Ann,ten,1,,\n"
        ",3s,,,\n"
        "Bo,3s,,500,\n"
        "Cy,3s,,,next week\n"
        "Di,3s,,90,2026-12-07,extra\n"
        "Ed,2s,,,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    code, output = batch(runner, knee, "--clients", clients, "-o", out, "--var", "hlod=2s")

    assert code == 1
    assert output.splitlines() == [
        "Error: --var hlod: no routine here has a var 'hlod' (knee.yaml's vars: client, hold)",
        f"Error: {clients}:1: column 'hld': no routine here has a var 'hld' (knee.yaml's vars: "
        "client, hold); rename the column, or add the var under 'vars:'",
        f"Error: {clients}:2: column 'hold': {knee}:9: step 2.1: 'hold' needs a duration like "
        f'5s, 90s, 1m30s or 1:30, got "ten" ({{hold}} is "ten", from {clients}:2)',
        f"Error: {clients}:3: column 'name' is empty: every client needs a name",
        f"Error: {clients}:4: column 'rate': \"500\" is not a speaking rate in words per minute "
        "from 60 to 400",
        f"Error: {clients}:5: column 'start': \"next week\" is not a date like 2026-12-07",
        f"Error: {clients}:6: this row has 6 cells for 5 columns: put a cell that holds a comma "
        'in quotes, e.g. "Li, Ann"',
    ]
    assert not out.exists()


@pytest.mark.usefixtures("no_pdf")
def test_a_yaml_clients_file_and_option_columns(
    runner: CliRunner, knee: Path, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.yaml"
    clients.write_text(
        "- {name: Ann Li, hold: 3s}\n- {name: Bo, hold: 3s, rate: 300}\n"
        "- name: Cy\n  bed: nowhere\n- {name: Di, length: forever}\n- {name: Ed, hold: [1, 2]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"

    code, output = batch(runner, knee, "--clients", clients, "-o", out)

    assert code == 1
    assert output.splitlines() == [
        f"Error: {clients}:3: column 'bed': unknown bed 'nowhere'. Built-in beds: rain, ocean, "
        "brown, drone; or give a .wav file path",
        f"Error: {clients}:5: column 'length': \"forever\" is not a length like 15m, 900s or "
        "1:05:00",
        f"Error: {clients}:6: column 'hold': a cell holds text or a number, got a list",
    ]
    clients.write_text("- {name: Ann Li, hold: 3s}\n- {name: Bo, hold: 3s, rate: 300}\n")
    code, output = batch(runner, knee, "--clients", clients, "-o", out)
    assert code == 0, output
    # The rate column speaks Bo's lines twice as fast: the same routine, a shorter track.
    ann, bo = (re.search(r"\((\d+:\d+)\)", line)[1] for line in output.splitlines()[:2])  # type: ignore[index]
    assert ann == clock(plan_s(knee, client="Ann Li", hold="3s"))
    with Session.open(knee, Options(voice="fake", rate=300)) as session:
        assert bo == clock(session.plan({"client": "Bo"}).timeline.total_s) != ann


@pytest.mark.usefixtures("no_pdf")
def test_a_rerun_builds_only_what_changed(runner: CliRunner, knee: Path, tmp_path: Path) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(AWKWARD, encoding="utf-8")
    out = tmp_path / "out"
    assert batch(runner, knee, "--clients", clients, "-o", out)[0] == 0
    before = files(out)

    code, output = batch(runner, knee, "--clients", clients, "-o", out)

    assert (code, output) == (0, f"4 clients in {out}: 0 built, 4 up to date\n")
    assert files(out) == before  # not one file rewritten

    clients.write_text(AWKWARD.replace("Ann Li,2s", "Ann Li,5s"), encoding="utf-8")
    code, output = batch(runner, knee, "--clients", clients, "-o", out)
    assert code == 0, output
    length = clock(plan_s(knee, client="Ann Li", hold="5s"))
    assert output.splitlines()[0] == f"Built {out}/ann-li-2/knee-ann-li-2.mp3 ({length})"
    assert output.splitlines()[1].startswith(f"4 clients in {out}: 1 built, 3 up to date; speech:")
    changed = {p for p, t in files(out).items() if before.get(p) != t}
    assert changed and all(p.parent.name == "ann-li-2" for p in changed)


@pytest.mark.usefixtures("no_pdf")
def test_a_pool_speaks_each_line_once_and_builds_the_same_tracks(
    runner: CliRunner, knee: Path, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(AWKWARD, encoding="utf-8")
    cache = tmp_path / "cache"
    distinct: set[str] = set()
    session = session_for(RoutineRef(knee))
    for name, hold in zip(NAMES, HOLDS, strict=True):
        distinct |= set(speech_of(session.routine({"client": name, "hold": hold})))

    result = runner.invoke(
        cli,
        [
            *("batch", str(knee), "--clients", str(clients), "-o", str(tmp_path / "pool")),
            *("--voice", "fake", "--workers", "2", "--cache-dir", str(cache), "--progress"),
        ],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()[-1]
    assert f"speech: {len(distinct)} clips spoken, " in summary, summary
    # Progress from the start: every line to speak, then every track (what comes between
    # depends on the time taken, and only its form is fixed).
    stages = result.stderr.splitlines()
    n = len(distinct)
    assert stages[0] == f"Speaking: 0 of {n} lines"
    assert stages[-1] == "Building: 4 of 4 tracks"
    assert stages.index(f"Speaking: {n} of {n} lines") + 1 == stages.index(
        "Building: 0 of 4 tracks"
    )
    assert all(
        re.fullmatch(rf"Speaking: \d+ of {n} lines|Building: \d of 4 tracks", s) for s in stages
    )
    assert batch(runner, knee, "--clients", clients, "-o", tmp_path / "one")[0] == 0
    for folder in FOLDERS:
        name = f"{folder}/knee-{folder}.mp3"
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def recorded(out: Path) -> list[Path]:
    """The tracks the manifests say are built."""
    tracks = []
    for state in out.glob(f"*/{STATE_FILE}"):
        entries = json.loads(state.read_text(encoding="utf-8"))["tracks"]
        tracks += [state.parent / track for track in entries]
    return tracks


def test_an_interrupted_batch_resumes_where_it_stopped(knee: Path, tmp_path: Path) -> None:
    clients = tmp_path / "clients.csv"
    rows = [f"Client {n},{2 + n % 3}s" for n in range(1, 5)]
    clients.write_text("name,hold\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    command = [str(AUDIOGUIDE), "batch", str(knee), "--clients", str(clients), "-o", str(out)]
    command += ["--voice", "fake", "--workers", "2"]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not recorded(out) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # as the OOM killer would: no chance to clean up
        proc.wait(timeout=30)
        kept = {t: t.stat().st_mtime_ns for t in recorded(out)}
        assert 1 <= len(kept) < len(rows)
        deadline = time.monotonic() + 120  # the time a busy machine may take, not a bar
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the workers see their parent gone and stop
        assert session_processes(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()[-1]
    built = len(rows) - len(kept)
    assert summary.startswith(f"4 clients in {out}: {built} built, {len(kept)} up to date"), summary
    assert {t: t.stat().st_mtime_ns for t in kept} == kept  # the finished ones left alone
    assert len(list(out.glob("*/*.mp3"))) == len(rows)
    assert list(out.rglob("*.part")) == []


@pytest.mark.usefixtures("no_pdf")
def test_the_album_tag_is_in_the_routines_language(runner: CliRunner, tmp_path: Path) -> None:
    routine = tmp_path / "rodilla.yaml"
    routine.write_text(
        "title: Rodilla\nlanguage: es\nvars: {client: amiga}\n"
        "steps:\n  - say: Hola, {client}.\n  - hold: 2s\n",
        encoding="utf-8",
    )
    clients = tmp_path / "clients.csv"
    clients.write_text("name\nAna Ruiz\n", encoding="utf-8")
    code, output = batch(runner, routine, "--clients", clients, "-o", tmp_path / "out")
    assert code == 0, output
    tags = ID3(tmp_path / "out" / "ana-ruiz" / "rodilla-ana-ruiz.mp3")
    assert str(tags["TALB"]) == "Para Ana Ruiz"
