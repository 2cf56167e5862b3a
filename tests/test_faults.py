"""Faults in the world, through the command a user runs: each is one `Error:` line that says what to
do, exit code 1, and nothing half-written.

Tests run as root here and in CI, and root ignores file permissions: unwritable folders are tested
in a process without CAP_DAC_OVERRIDE (util-linux `setpriv`), full disks on a tiny tmpfs (mounting
needs root: only those cases skip when it fails).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli

AUDIOGUIDE = Path(sys.executable).with_name("audioguide")
PREVIOUS = b"yesterday's track"
ROUTINE = "title: Faults\nsteps:\n  - say: Lie down and breathe slowly.\n  - pause: 3\n"


def _audioguide(
    *args: str, env: dict[str, str] | None = None, unprivileged: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [str(AUDIOGUIDE), *args]
    if unprivileged and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip(
                "root ignores file permissions, and setpriv (util-linux) is not here to drop that"
            )
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def routine(tmp_path: Path) -> Path:
    path = tmp_path / "faults.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    return path


@contextmanager
def _tiny_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"a full disk is a tiny tmpfs, and mounting one failed: {mounted.stderr.strip()}"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def _only_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line: off a terminal a build shows no progress, however long it takes."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert result.stdout == "" and len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[-1].startswith("Error: ")
    return lines[-1]


# --- the output folder ---------------------------------------------------------------------------


def test_an_unwritable_output_folder(routine: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "locked"
    out_dir.mkdir()
    out = out_dir / "track.mp3"
    out_dir.chmod(0o555)
    try:
        result = _audioguide(
            "build", str(routine), "-o", str(out), "--voice", "fake", unprivileged=True
        )
    finally:
        out_dir.chmod(0o755)
    assert _only_error(result) == (
        f"Error: cannot write {out}: permission denied; choose a folder you can write to"
    )
    assert list(out_dir.iterdir()) == []


def test_a_full_output_disk_keeps_the_previous_track(routine: Path, tmp_path: Path) -> None:
    with _tiny_disk(tmp_path / "disk", "64k") as disk:
        out = disk / "track.mp3"
        out.write_bytes(PREVIOUS)
        # 3 s of MP3 at 128 kbps is about 100 kB: more than the disk holds.
        result = _audioguide("build", str(routine), "-o", str(out), "--voice", "fake")
        assert _only_error(result) == (
            f"Error: not enough disk space to write {out}: free some space or choose another "
            "output folder"
        )
        assert out.read_bytes() == PREVIOUS
        assert [p.name for p in disk.iterdir()] == ["track.mp3"]


def test_a_missing_encoder_says_what_to_install(
    runner: CliRunner, routine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "out" / "track.mp3"
    result = runner.invoke(cli, ["build", str(routine), "-o", str(out), "--voice", "fake"])
    assert (result.exit_code, result.output) == (
        1,
        "Error: ffmpeg is needed to encode and decode audio: sudo apt-get install ffmpeg\n",
    )
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_an_encoder_that_cannot_run_says_what_to_install(
    runner: CliRunner, routine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "ffmpeg"
    broken.write_bytes(b"\x7fELF not really a program")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    out = tmp_path / "out" / "track.mp3"
    result = runner.invoke(cli, ["build", str(routine), "-o", str(out), "--voice", "fake"])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot run {broken} (Exec format error); ffmpeg is needed to encode and decode "
        "audio: sudo apt-get install ffmpeg\n",
    )
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


# --- the speech cache ----------------------------------------------------------------------------


def test_a_read_only_cache_folder(routine: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        result = _audioguide(
            "check", str(routine), "--voice", "fake", "--cache-dir", str(cache), unprivileged=True
        )
    finally:
        cache.chmod(0o755)
    assert _only_error(result) == (
        f"Error: Cannot write the speech cache in {cache} (Permission denied): set "
        "AUDIOGUIDE_CACHE_DIR or pass --cache-dir to use another directory"
    )


def test_a_full_cache_disk(routine: Path, tmp_path: Path) -> None:
    with _tiny_disk(tmp_path / "disk", "8k") as cache:
        result = _audioguide("check", str(routine), "--voice", "fake", "--cache-dir", str(cache))
        message = _only_error(result)
        # numpy reports the short write as "77175 requested and 2016 written", with no errno.
        assert message.startswith(f"Error: Cannot write the speech cache in {cache} (")
        assert message.endswith(
            "): set AUDIOGUIDE_CACHE_DIR or pass --cache-dir to use another directory"
        )
        # The half-written clip went with the error: nothing under a clip's name, no temp file.
        assert [p for p in cache.rglob("*") if p.is_file()] == []


# --- the speech engine ---------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            'sys.modules["pyttsx3"] = None',
            "Error: The system voice needs the pyttsx3 package: pip install pyttsx3",
        ),
        (
            """
            import ctypes
            def no_library(name):
                raise OSError(f"{name}: cannot open shared object file")
            ctypes.cdll.LoadLibrary = no_library
            """,
            "Error: The system voice needs espeak-ng: sudo apt-get install espeak-ng libespeak-ng1",
        ),
    ],
    ids=["pyttsx3", "espeak-ng"],
)
def test_a_missing_speech_engine_says_what_to_install(
    routine: Path, tmp_path: Path, breakage: str, expected: str
) -> None:
    # sitecustomize runs in every Python process started with this PYTHONPATH, the voice's
    # worker included: the engine is missing there exactly as on a machine without it. Without
    # espeak-ng's command on the PATH the system voice is pyttsx3's, as where it is the way in.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\n" + textwrap.dedent(breakage))
    result = _audioguide(
        "check",
        str(routine),
        "--voice",
        "system",
        "--cache-dir",
        str(tmp_path / "cache"),
        env={
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
            "PATH": str(site),
        },
    )
    assert _only_error(result) == expected


@pytest.mark.integration
def test_the_speech_engine_crashing_on_one_cue(tmp_path: Path) -> None:
    routine = tmp_path / "long.yaml"
    sentence = "Breathe in slowly and let your shoulders soften. "
    routine.write_text(f"title: T\nsteps:\n  - say: {sentence * 98}\n  - say: Rest.\n")
    out = tmp_path / "track.mp3"
    proc = subprocess.Popen(
        [str(AUDIOGUIDE), "build", str(routine), "-o", str(out), "--voice", "system"],
        env={**os.environ, "AUDIOGUIDE_CACHE_DIR": str(tmp_path / "cache")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # espeak-ng's speaker (or its command line) speaking the long cue (0.3 s a 4,000-character
    # chunk), or pyttsx3's worker, starting up or speaking it: busy either way.
    worker = _wait_for_child(proc.pid)
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stdout) == (1, "")
    assert re.fullmatch(
        r"Error: The system voice stopped unexpectedly \(exit code -9\) while "
        r"(starting|speaking 'Breathe in slowly[^']*'): try again; if it happens again, "
        r"choose another voice \(`audioguide voices`\)\n",
        stderr,
    ), stderr
    assert list(tmp_path.glob("*.mp3")) == [] and list(tmp_path.glob(".*.part")) == []


def _wait_for_child(parent: int) -> int:
    """The voice's engine: espeak-ng's speaker or command, or the child multiprocessing spawned
    for pyttsx3 (not its resource tracker)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes()
                engine = (b"spawn_main", b"--stdout", b"espeak_speaker")
                if ppid == parent and any(name in command for name in engine):
                    return int(stat.parent.name)
            except (OSError, ValueError):
                continue
        time.sleep(0.002)
    raise AssertionError("the voice worker never started")
