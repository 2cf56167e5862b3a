"""What a command costs besides its work: no process outlives it, a command whose every line is
cached starts no engine, and `plan` and `check` import only what they use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from batchtools import session_processes

AUDIOGUIDE = Path(sys.executable).with_name("audioguide")
ROUTINE = """\
title: Lean start
steps:
  - say: Breathe in slowly.
  - pause: 1
  - say: And let the breath go.
  - hold: {duration: 3s, countdown: 2}
  - say: That is all for today.
"""


def _run(args: list[str], cache: Path, path: str | None = None, encoders: str = "") -> list[str]:
    """Run `audioguide ARGS` in a session of its own; the processes of that session still alive
    once it has exited (none, if it cleaned up after itself)."""
    env = {**os.environ, "AUDIOGUIDE_CACHE_DIR": str(cache), "PATH": path or os.environ["PATH"]}
    proc = subprocess.Popen(
        [str(AUDIOGUIDE), *args],
        env={**env, "AUDIOGUIDE_ENCODERS": encoders} if encoders else env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    return session_processes(proc.pid)


@pytest.mark.integration
@pytest.mark.parametrize("command", ["build", "plan"])
def test_no_process_outlives_a_command_with_the_system_voice(tmp_path: Path, command: str) -> None:
    routine = tmp_path / "lean.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    args = [command, str(routine), "--voice", "system"]
    if command == "build":
        args += ["-o", str(tmp_path / "lean.mp3")]
    cache = tmp_path / "cache"
    for state in ("cold", "warm"):
        assert _run(args, cache) == [], state


@pytest.mark.integration
def test_no_process_or_span_file_outlives_a_build_on_several_encoders(tmp_path: Path) -> None:
    # Over three minutes: two spans, on two encoders at once (publish/spans.py).
    routine = tmp_path / "long.yaml"
    routine.write_text(ROUTINE + "  - hold: 90s\n  - say: Once more.\n  - hold: 90s\n")
    out = tmp_path / "out" / "long.mp3"
    args = ["build", str(routine), "--voice", "fake", "-o", str(out)]
    left = _run(args, tmp_path / "cache", encoders="2")
    assert left == []
    assert sorted(p.name for p in out.parent.iterdir() if p.suffix == ".part") == []


@pytest.mark.integration
def test_a_warm_command_speaks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every start of espeak-ng's speaker, and every line its command line speaks, written down:
    # a cold build makes some, a warm build and plan none.
    from audioguide.cli import cli
    from audioguide.voices import espeak

    calls: list[str] = []
    speaker, command = espeak._Speaker.__init__, espeak.EspeakCommand._speak_command

    def started(self: espeak._Speaker, voice_id: str, rate: int) -> None:
        calls.append(f"speaker {voice_id}")
        speaker(self, voice_id, rate)

    def spoken(self: espeak.EspeakCommand, voice_id: str, rate: int, text: str, t: float) -> object:
        calls.append(f"command {text}")
        return command(self, voice_id, rate, text, t)

    monkeypatch.setattr(espeak._Speaker, "__init__", started)
    monkeypatch.setattr(espeak.EspeakCommand, "_speak_command", spoken)
    routine = tmp_path / "lean.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    cache = ["--voice", "system", "--cache-dir", str(tmp_path / "cache")]
    build = ["build", str(routine), "-o", str(tmp_path / "lean.mp3"), *cache]
    cli(build, standalone_mode=False)
    assert calls  # cold
    calls.clear()
    cli(build, standalone_mode=False)
    cli(["plan", str(routine), *cache], standalone_mode=False)
    assert calls == []


@pytest.mark.integration
def test_no_voice_process_outlives_a_cold_build(tmp_path: Path) -> None:
    routine = tmp_path / "lean.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    build = ["build", str(routine), "--voice", "system", "-o", str(tmp_path / "lean.mp3")]
    assert _run(build, tmp_path / "cache") == []


IMPORTS = """
import sys
from audioguide.cli import cli
cli(sys.argv[1:], standalone_mode=False)
heavy = ("audioguide.publish", "audioguide.clients", "audioguide.sound.mix", "scipy", "mutagen")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


@pytest.mark.parametrize("command", ["plan", "check"])
def test_plan_and_check_import_only_what_they_use(tmp_path: Path, command: str) -> None:
    # Measured with -X importtime: the writers, the mixer, the batch machinery and scipy were
    # most of a warm plan's 0.66 s of CPU; a plan makes no track.
    routine = tmp_path / "lean.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    args = [command, str(routine), "--voice", "fake", "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]"


def test_every_command_is_found_by_its_module() -> None:
    from audioguide.cli import cli
    from audioguide.cli.app import COMMANDS

    assert sorted(cli.list_commands(click.Context(cli))) == sorted(COMMANDS)
