"""`--sounds-dir`: sound files come from the routine's folder, or from folders the user names."""

from __future__ import annotations

import wave
from pathlib import Path

from click.testing import CliRunner

from audioguide.cli import cli


def test_sounds_dir_allows_a_folder_outside_the_routines(runner: CliRunner, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    with wave.open(str(library / "bowl.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00\x10" * 4410)
    routine = tmp_path / "routines" / "r.yaml"
    routine.parent.mkdir()
    routine.write_text("title: T\nsteps:\n  - sound: ../library/bowl.wav\n  - say: Hi.\n")
    refused = runner.invoke(cli, ["check", str(routine), "--voice", "fake"])
    assert (refused.exit_code, refused.output) == (
        1,
        f"Error: {routine}:3: step 1: sound file ../library/bowl.wav is outside the routine's "
        f"folder ({routine.parent.resolve()}): move it into that folder, or allow its folder with "
        f"--sounds-dir {library.resolve()}\n",
    )
    allowed = ["--voice", "fake", "--sounds-dir", str(library)]
    assert runner.invoke(cli, ["check", str(routine), *allowed]).exit_code == 0
    assert runner.invoke(cli, ["plan", str(routine), *allowed]).exit_code == 0
    out = tmp_path / "t.mp3"
    built = runner.invoke(cli, ["build", str(routine), "-o", str(out), *allowed])
    assert built.exit_code == 0, built.output
    assert out.stat().st_size > 10_000
