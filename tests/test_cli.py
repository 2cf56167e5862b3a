from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.language.library import bundled_routines
from audioguide.language.load import parse_routine
from audioguide.strings import clock
from conftest import WriteRoutine

BROKEN = "title: T\nsteps:\n  - say: Hi.\n  - pause: ten\n"


def test_check_ok(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n  - exercise: Lift\n    say: Lie down.\n")
    result = runner.invoke(cli, ["check", str(path), "--voice", "fake"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: OK, 0:04.6, 2 spoken cues, 1 chapter\n"
    assert result.stderr == ""  # a quick check says nothing but its result


def test_broken_routine_is_one_clear_line(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine(BROKEN)
    for command in ("check", "plan", "build"):
        result = runner.invoke(cli, [command, str(path), "--voice", "fake"])
        assert result.exit_code == 1
        assert result.output == (
            f"Error: {path}:4: step 2: 'pause' needs a duration like 5s, "
            '90s, 1m30s or 1:30, got "ten"\n'
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not list(path.parent.glob("*.mp3")) and not Path("output/routine.mp3").exists()


def test_build_writes_the_track_and_says_so(
    runner: CliRunner, write_routine: WriteRoutine, tmp_path: Path
) -> None:
    path = write_routine("title: T\nvars: {client: friend}\nsteps:\n  - say: Hi {client}.\n")
    out = tmp_path / "sub" / "client.mp3"
    result = runner.invoke(
        cli,
        [
            "build",
            str(path),
            "-o",
            str(out),
            "--voice",
            "fake",
            "--var",
            "client=Sam",
            "--rate",
            "150",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {out} (0:03, 0 chapters, ")
    assert out.stat().st_size > 10_000
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "client.lrc",
        "client.mp3",
        "client.vtt",
    ]
    assert result.stdout.splitlines()[1] == "  and client.vtt, client.lrc"


def test_a_long_stage_says_how_far_it_is_off_a_terminal_when_asked(
    runner: CliRunner, write_routine: WriteRoutine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audioguide.cli import progress

    monkeypatch.setattr(progress, "QUIET_S", 0.0)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    path = write_routine("title: T\nsteps:\n  - say: One.\n  - say: Two.\n")
    result = runner.invoke(cli, ["check", str(path), "--voice", "fake", "--progress"])
    assert result.exit_code == 0, result.output
    # The stage shows as it starts, not after its first line is spoken.
    assert result.stderr.splitlines() == ["Speaking: 0%", "Speaking: 50%", "Speaking: 100%"]
    # Unasked, a log holds only the result however long a stage takes: a slow machine prints
    # what a fast one does.
    quiet = runner.invoke(cli, ["check", str(path), "--voice", "fake"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output


def test_plan_table_and_json(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine(
        "title: T\nsteps:\n  - exercise: Lift\n    hold: {duration: 5, countdown: 2}\n"
    )
    table = runner.invoke(cli, ["plan", str(path), "--voice", "fake"])
    assert table.exit_code == 0
    assert table.stdout.splitlines()[:4] == [
        "T",
        "",
        "== Lift",
        '   0:00.5   0.6s  speech   "Lift."',
    ]
    assert table.stdout.rstrip().endswith("Total 0:08.2 (4 cues, 1 chapter)")
    doc = json.loads(runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--json"]).stdout)
    assert [c["kind"] for c in doc["cues"]] == ["speech", "hold", "speech", "speech"]
    assert [c["text"] for c in doc["cues"][2:]] == ["2", "1"]
    hold = doc["cues"][1]
    assert doc["cues"][2]["start_s"] == round(hold["end_s"] - 2, 3)
    assert doc["chapters"] == [{"title": "Lift", "start_s": 0.0, "end_s": doc["total_s"]}]


def test_list_times_the_bundled_routines_without_speaking_them(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOGUIDE_CACHE_DIR", str(tmp_path / "speech"))
    result = runner.invoke(cli, ["list", "--voice", "fake"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 8 and all("~" in line for line in lines)  # estimated from the words
    assert "psoas-release" in result.stdout and "Psoas Release" in result.stdout
    assert not (tmp_path / "speech").exists()  # nothing was spoken
    runner.invoke(cli, ["check", "psoas-release", "--voice", "fake"])
    exact = runner.invoke(cli, ["list", "--voice", "fake"]).stdout
    assert "~" not in next(line for line in exact.splitlines() if line.startswith("psoas-release"))


def test_unknown_routine_and_bad_var(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", "psoas-relase", "--voice", "fake"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: psoas-relase: no such routine file or bundled routine; did "
        "you mean 'psoas-release'? `audioguide list` shows the bundled ones\n"
    )
    result = runner.invoke(cli, ["check", "psoas-release", "--var", "client"])
    assert result.exit_code == 2
    assert "'client' should look like name=value" in result.output


def test_unknown_voice_engine(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", "psoas-release", "--voice", "robot"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "robot" in result.output


def test_routine_voice_block_errors_name_the_file(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine("title: T\nvoice: {engine: robot}\nsteps: [Hi.]\n")
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: voice: ")
    outside = write_routine("title: T\nvoice: {engine: natural, name: ../../x.onnx}\nsteps: [Hi]\n")
    result = runner.invoke(cli, ["check", str(outside)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {outside}: voice: the voice file ../../x.onnx is outside the routine's folder; "
        "put it next to the routine, or choose it yourself with --voice natural:../../x.onnx\n"
    )


def test_new_copies_a_routine_to_edit_and_never_overwrites(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["new", "morning", "--from", "psoas-stretch"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Wrote morning.yaml (a copy of psoas-stretch): edit it, then run: "
        "audioguide check morning.yaml\n"
    )
    copy = (tmp_path / "morning.yaml").read_text(encoding="utf-8")
    bundled = bundled_routines()["psoas-stretch"]
    assert copy.startswith("# Started from audioguide's bundled routine psoas-stretch")
    assert parse_routine(copy) == parse_routine(bundled.read_text(encoding="utf-8"))
    again = runner.invoke(cli, ["new", "morning.yaml"])
    assert again.exit_code == 1
    assert again.output == (
        "Error: morning.yaml: already exists; choose another name, or move it away first\n"
    )
    typo = runner.invoke(cli, ["new", "evening", "--from", "psoas-strech"])
    assert typo.exit_code == 1 and "did you mean 'psoas-stretch'?" in typo.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["morning.yaml"]
    # A user's own file is copied whole, their comments with it.
    assert runner.invoke(cli, ["new", "evening", "--from", "morning.yaml"]).exit_code == 0
    assert (tmp_path / "evening.yaml").read_text(encoding="utf-8") == copy


@pytest.mark.parametrize("name", sorted(bundled_routines()))
def test_new_writes_a_clean_routine(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The user's copy holds no note for the maintainers and no path of the machine that built
    the package; the comments left explain the routine to whoever edits it."""
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, ["new", "mine", "--from", name]).exit_code == 0
    copy = (tmp_path / "mine.yaml").read_text(encoding="utf-8")
    for developers in ("/work", "seeds", ".txt", "Bundled routine", "keep it that way"):
        assert developers not in copy
    comments = [line for line in copy.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) <= 2, comments
    assert runner.invoke(cli, ["check", "mine.yaml", "--voice", "fake"]).exit_code == 0


@pytest.mark.parametrize(
    ("seconds", "tenths", "text"),
    [
        (299.96, True, "5:00.0"),
        (299.94, True, "4:59.9"),
        (299.96, False, "5:00"),
        (299.4, False, "4:59"),
        (599.999, False, "10:00"),
        (3725.0, False, "1:02:05"),
        (59.99, True, "1:00.0"),
    ],
)
def test_clock_rounds_before_it_carries(seconds: float, tenths: bool, text: str) -> None:
    assert clock(seconds, tenths=tenths) == text


def test_cache_shows_and_clears_the_speech_cache_and_nothing_else(
    runner: CliRunner, write_routine: WriteRoutine, tmp_path: Path
) -> None:
    cache = tmp_path / "speech"
    path = write_routine("title: T\nsteps:\n  - say: One.\n  - say: Two.\n")
    built = runner.invoke(
        cli,
        [
            "build",
            str(path),
            "-o",
            str(tmp_path / "t.mp3"),
            "--voice",
            "fake",
            "--cache-dir",
            str(cache),
        ],
    )
    assert built.exit_code == 0, built.output
    clips = list(cache.glob("*/*.npy"))
    size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    mine = cache / "ab" / "notes.txt"  # --cache-dir may name a folder with the user's own files
    mine.parent.mkdir(exist_ok=True)
    mine.write_text("mine", encoding="utf-8")
    shown = runner.invoke(cli, ["cache", "--cache-dir", str(cache)])
    assert shown.exit_code == 0, shown.output
    held = f"{len(clips)} clips, {size / 1e6:.1f} MB"
    assert shown.stdout == (
        f"Speech cache: {cache}\n  {held}; `audioguide cache --clear` empties it\n"
    )
    assert len(clips) >= 2
    cleared = runner.invoke(cli, ["cache", "--clear", "--cache-dir", str(cache)])
    assert cleared.stdout == f"Cleared {cache}: {held} removed\n"
    assert [p.relative_to(cache) for p in cache.rglob("*")] == [Path("ab"), Path("ab/notes.txt")]
    again = runner.invoke(cli, ["cache", "--cache-dir", str(cache)])
    assert (
        again.stdout.splitlines()[1] == "  0 clips, 0.0 MB; `audioguide cache --clear` empties it"
    )


@pytest.mark.parametrize("name", ["x.wav", "x", "x.mp3.ogg"])
def test_a_track_named_other_than_mp3_is_an_error(
    runner: CliRunner, write_routine: WriteRoutine, tmp_path: Path, name: str
) -> None:
    path = write_routine("title: T\nsteps:\n  - say: One.\n")
    out = tmp_path / name
    result = runner.invoke(cli, ["build", str(path), "-o", str(out), "--voice", "fake"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: -o {out}: audioguide writes MP3 only; name it {out.with_suffix('.mp3')}\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["routine.yaml"]


def test_every_stage_of_a_build_shows_from_its_start_to_its_end(
    runner: CliRunner, write_routine: WriteRoutine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audioguide.cli import progress

    monkeypatch.setattr(progress, "QUIET_S", 0.0)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    path = write_routine("title: T\nsteps:\n  - say: One.\n  - pause: 2s\n")
    out = tmp_path / "t.mp3"
    result = runner.invoke(
        cli, ["build", str(path), "-o", str(out), "--voice", "fake", "--progress"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    stages = list(dict.fromkeys(line.split(":")[0] for line in lines))
    assert stages == ["Speaking", "Mixing", "Writing"]
    for stage in stages:
        said = [line for line in lines if line.startswith(stage)]
        assert (said[0], said[-1]) == (f"{stage}: 0%", f"{stage}: 100%")
