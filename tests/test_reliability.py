"""Bad input gets one clear line and no output: the corpus in tests/bad_routines, inputs that are
not text at all, the limits, and where sound files may come from."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.audio import SAMPLE_RATE
from audioguide.cli import cli
from audioguide.errors import RoutineError, SoundError
from audioguide.files import remove_stale_parts
from audioguide.language.load import load_routine, parse_routine
from audioguide.model import MAX_CUES, MAX_FILE_BYTES, Sound, SoundFile
from audioguide.timing.compile import compile_timeline
from audioguide.timing.size import routine_size
from audioguide.voices.fake import FakeVoice
from audiotools import MP3_FRAME

CORPUS = Path(__file__).parent / "bad_routines"
BAD_ROUTINES = sorted(CORPUS.glob("*.yaml"))
AUDIOGUIDE = Path(sys.executable).with_name("audioguide")
SECONDS_PER_BAD_ROUTINE = 60.0
"""Each fails in under 0.3 s alone (up to 3 s measured in a busy full run); a routine that
really expanded its aliases or repeats would take hours, so the bar is far above what any load
makes of the first and far below the second."""
PREVIOUS = b"yesterday's track"


def _expected(path: Path) -> str:
    header = path.read_text(encoding="utf-8").splitlines()[1]
    assert header.startswith("# expect: "), f"{path.name}: line 2 must be '# expect: ...'"
    message = header.removeprefix("# expect: ")
    return message.replace("{file}", str(path)).replace("{dir}", str(path.parent.resolve()))


def _fails_cleanly(runner: CliRunner, routine: Path, tmp_path: Path) -> str:
    """Run check, plan and build on a bad routine; return the one message all three print."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    track = out_dir / "track.mp3"
    track.write_bytes(PREVIOUS)
    outputs = set()
    for command in (["check"], ["plan"], ["build", "-o", str(track)]):
        started = time.perf_counter()
        result = runner.invoke(cli, [*command, str(routine), "--voice", "fake"])
        elapsed = time.perf_counter() - started
        # CliRunner reports an escaped exception as exit code 1 too: it must be click's own exit.
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1
        assert elapsed < SECONDS_PER_BAD_ROUTINE, f"{command[0]} took {elapsed:.2f} s"
        outputs.add(result.output)
    assert track.read_bytes() == PREVIOUS
    assert sorted(p.name for p in out_dir.iterdir()) == ["track.mp3"]
    (message,) = outputs
    return message.removeprefix("Error: ").removesuffix("\n")


def test_the_corpus_is_big_enough() -> None:
    assert len(BAD_ROUTINES) >= 100


@pytest.mark.parametrize("routine", BAD_ROUTINES, ids=[p.stem for p in BAD_ROUTINES])
def test_bad_routine_is_one_line_naming_file_line_and_fix(
    runner: CliRunner, routine: Path, tmp_path: Path
) -> None:
    message = _fails_cleanly(runner, routine, tmp_path)
    assert message == _expected(routine)
    line = re.match(rf"{re.escape(str(routine))}:(\d+): ", message)
    assert line, "the message names the file and the line"
    # An unclosed quote or bracket is found where the file ends, one past its last line.
    n_lines = routine.read_text(encoding="utf-8").count("\n")
    assert 1 <= int(line.group(1)) <= n_lines + 1


# --- inputs that are not routine text at all ---------------------------------------------------


def _junk() -> bytes:
    rng = random.Random(6)
    return b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(4000))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "{file}:1: a routine is a mapping with 'title' and 'steps'; see docs/routines.md"),
        (b"\xef\xbb\xbf", "{file}:1: a routine is a mapping with 'title' and 'steps'"),
        (
            "title: Café\nsteps: [Hi]\n".encode("utf-16"),
            "{file}:1: not UTF-8 text; save the file as UTF-8",
        ),
        (
            "title: T\nsteps:\n  - say: Café\n".encode("latin-1"),
            "{file}:3: not UTF-8 text; save the file as UTF-8",
        ),
        (
            b"title: T\nsteps:\n  - say: Hi\x00\n",
            "{file}:3: not a text file: it holds the control character #x0000, which YAML "
            "does not allow; remove it, or check that this is the right file",
        ),
        (
            b"title: T\nsteps:\n  - say: Ring \x07 the bell\n",
            "{file}:3: not a text file: it holds the control character #x0007",
        ),
        (_junk(), "{file}:1: not UTF-8 text; save the file as UTF-8"),
        (
            b"title: T\nsteps:\n" + b"  - say: Breathe in, and out.\n" * 40_000,
            # 2 lines of 16 bytes, then 30-byte lines: byte 1,000,001 is on line 2 + 33,333.
            "{file}:33335: the file is over 1,000 kB by this line; a routine is a short text "
            "file: check that this is the right file, or split it",
        ),
        (b"[" * 5_000, "{file}:1: invalid YAML: lists or mappings nest too deeply here"),
    ],
    ids=[
        "empty",
        "bom-only",
        "utf-16",
        "latin-1",
        "nul",
        "bell-char",
        "binary",
        "over-1-MB",
        "deep-brackets",
    ],
)
def test_a_file_that_is_not_routine_text(
    runner: CliRunner, tmp_path: Path, content: bytes, expected: str
) -> None:
    routine = tmp_path / "routine.yaml"
    routine.write_bytes(content)
    message = _fails_cleanly(runner, routine, tmp_path)
    assert message.startswith(expected.replace("{file}", str(routine)))


def test_a_folder_a_fifo_or_a_device_is_refused_without_reading_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    assert _fails_cleanly(runner, folder, tmp_path) == (
        f"{folder}: is a folder; give a routine .yaml file"
    )
    for path in (fifo, Path("/dev/zero")):
        assert _fails_cleanly(runner, path, tmp_path) == (
            f"{path}: not a regular file; give a routine .yaml file"
        )


def test_a_name_too_long_for_a_path_is_no_routine(runner: CliRunner) -> None:
    name = "a" * 5_000  # the OS refuses to even look it up: ENAMETOOLONG
    result = runner.invoke(cli, ["check", name, "--voice", "fake"])
    assert (result.exit_code, result.output) == (
        1,
        f"Error: {name}: no such routine file or bundled routine; `audioguide list` shows the "
        "bundled ones\n",
    )


def test_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    """The corpus runs in-process; here the installed command runs a few, stderr and all."""
    for name in ("billion-laughs", "python-object-tag", "too-many-cues", "unclosed-quote"):
        routine = CORPUS / f"{name}.yaml"
        result = subprocess.run(
            [str(AUDIOGUIDE), "build", str(routine), "-o", str(tmp_path / "t.mp3")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == f"Error: {_expected(routine)}\n"
    assert list(tmp_path.iterdir()) == []


# --- limits -------------------------------------------------------------------------------------


def test_limits_are_counted_without_expanding(fake_voice: FakeVoice) -> None:
    routine = parse_routine(
        "title: T\nsteps:\n  - repeat: 1000\n    steps:\n      - repeat: 1000\n        steps:\n"
        "          - exercise: Lift\n            sides: [left, right]\n            reps: 1000\n"
        "            hold: {duration: 6h, countdown: 3}\n",
        name="r.yaml",
    )
    size = routine_size(routine)
    # name + 2 sides + switch, then per side 1000 x (rep number + hold window + 3 countdown)
    assert size.cues == 1000 * 1000 * (4 + 2 * 1000 * 5)
    started = time.perf_counter()
    with pytest.raises(RoutineError, match=r"has 10,004,000,000 in all, over the maximum"):
        compile_timeline(routine, fake_voice)
    assert time.perf_counter() - started < 30  # counting takes ms; expanding, hours


def test_a_routine_just_inside_the_limits_compiles(fake_voice: FakeVoice) -> None:
    text = "title: T\nsteps:\n  - repeat: 1000\n    steps:\n" + "      - sound: tick\n" * 10
    timeline = compile_timeline(parse_routine(text, name="r.yaml"), fake_voice)
    assert len(timeline.cues) == MAX_CUES
    with pytest.raises(RoutineError, match=r"passes 10,000 cues here and has 10,010 in all"):
        compile_timeline(parse_routine(text + "  - sound: tick\n" * 10, name="r.yaml"), fake_voice)


def test_speech_that_pushes_a_routine_past_six_hours_names_the_step(
    fake_voice: FakeVoice,
) -> None:
    # Without speech it lasts 5:59:54.6 (the pause, 21 gaps after speech, lead-in and tail), so
    # it passes the check before speaking; the fake voice's 47.55 s of speech push it over.
    text = (
        "title: T\nsteps:\n  - pause: 5:59:40\n"
        "  - say: Welcome.\n"
        "  - repeat: 20\n    steps:\n      - say: Now breathe in slowly and let go.\n"
    )
    with pytest.raises(RoutineError) as caught:
        compile_timeline(parse_routine(text, name="r.yaml"), fake_voice)
    assert str(caught.value) == (
        "r.yaml:5: step 3: the routine passes 6 hours here and lasts 6:00:42 with its speech, "
        "over the 6-hour maximum: shorten it, or split it into several routines"
    )


def test_the_size_limit_is_exact(tmp_path: Path) -> None:
    routine = tmp_path / "long.yaml"
    head = b"title: T\nsteps:\n  - Hi.\n"
    routine.write_bytes(head + b"#" * (MAX_FILE_BYTES - len(head) - 1) + b"\n")
    assert load_routine(routine).title == "T"
    routine.write_bytes(head + b"#" * (MAX_FILE_BYTES - len(head)) + b"\n")
    with pytest.raises(RoutineError, match=r"long.yaml:4: the file is over 1,000 kB by this line"):
        load_routine(routine)


# --- where sound files may come from -----------------------------------------------------------


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00\x10" * 4410)
    return path


def test_sounds_come_from_the_routine_folder_or_named_folders(tmp_path: Path) -> None:
    home = tmp_path / "routines"
    inside = _wav(home / "sounds" / "bowl.wav")
    elsewhere = _wav(tmp_path / "library" / "gong.wav")
    (home / "link.wav").symlink_to(elsewhere)
    (home / "inner-link.wav").symlink_to(inside)
    routine = home / "r.yaml"

    def load(ref: str, **kwargs: list[Path]) -> Sound:
        routine.write_text(f"title: T\nsteps:\n  - sound: {ref}\n")
        step = load_routine(routine, **kwargs).steps[0]
        assert isinstance(step, Sound)
        return step

    for ref in ("sounds/bowl.wav", "sounds/../sounds/bowl.wav", str(inside), "inner-link.wav"):
        assert load(ref).sound == SoundFile(inside.resolve())
    for ref in ("../library/gong.wav", str(elsewhere), "link.wav"):
        with pytest.raises(RoutineError) as caught:
            load(ref)
        assert str(caught.value) == (
            f"{routine}:3: step 1: sound file {ref} is outside the routine's folder "
            f"({home.resolve()}): move it into that folder, or allow its folder with "
            f"--sounds-dir {elsewhere.parent.resolve()}"
        )
        assert load(ref, sound_dirs=[tmp_path / "library"]).sound == SoundFile(elsewhere.resolve())


def test_a_sound_outside_is_refused_before_looking_for_it(tmp_path: Path) -> None:
    """The same answer whether the file exists or not: a routine cannot probe the disk."""
    routine = tmp_path / "r.yaml"
    messages = []
    for ref in ("/etc/hosts.wav", "/etc/no-such-file.wav"):
        routine.write_text(f"title: T\nsteps:\n  - sound: {ref}\n")
        with pytest.raises(RoutineError) as caught:
            load_routine(routine)
        messages.append(str(caught.value).replace(ref, "REF"))
    assert messages[0] == messages[1]


def test_a_sound_that_breaks_after_loading_names_its_step(
    tmp_path: Path, fake_voice: FakeVoice
) -> None:
    wav = _wav(tmp_path / "bowl.wav")
    routine = load_routine(
        _write(tmp_path / "r.yaml", "title: T\nsteps:\n  - Hi.\n  - sound: bowl.wav\n")
    )
    wav.write_bytes(b"RIFF....not a wav")
    with pytest.raises(SoundError, match=rf"^{re.escape(str(tmp_path / 'r.yaml'))}:4: step 2: "):
        compile_timeline(routine, fake_voice)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- temp files that killed builds left ---------------------------------------------------------


def test_stale_temp_files_of_the_same_track_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # exited, not reaped: as a killed worker waits for a slow init
    live = os.getppid()
    out = tmp_path / "t.mp3"
    names = {
        f".t.mp3.{gone.pid}-0000000a.part": True,  # its build was killed
        f".t.mp3.{zombie.pid}-00000011.part": True,  # killed, and not yet reaped
        f".t.mp3.{live}-0000000b.part": False,  # a build of the same track still running
        f".t.mp3.{live}-0000000c.part": True,  # "running", but untouched for two hours
        ".t.mp3.0000000d.part": False,  # audioguide 0.1 named them without the pid
        ".t.mp3.0000000e.part": True,
        f".other.mp3.{gone.pid}-0000000f.part": False,  # another track's
        f"t.mp3.{gone.pid}-00000010.part": False,  # not hidden: not ours
        "t.mp3": False,
    }
    now = time.time()
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    for name in (f".t.mp3.{live}-0000000c.part", ".t.mp3.0000000e.part"):
        os.utime(tmp_path / name, (now - 7200, now - 7200))
    removed = remove_stale_parts(out, now=now)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, stale in names.items() if not stale
    )
    zombie.wait()


# --- long sessions --------------------------------------------------------------------------------

MAX_RSS_BYTES = 300_000_000
"""The sound engine's bar for a build of any length (measured: 72 MiB at 20 minutes, 75 at 120)."""
LONG = """\
title: Three hours of rest
bed: rain
steps:
  - say: Let the day go. You can stop listening at any time.
  - repeat: 60
    steps:
      - breathe: {pattern: 4-0-6-0, cycles: 6, guide: 0}
      - say: Rest.
      - pause: 2m
"""


@pytest.mark.integration
def test_a_three_hour_build_is_as_long_as_planned_in_flat_memory(tmp_path: Path) -> None:
    routine = _write(tmp_path / "long.yaml", LONG)
    out = tmp_path / "long.mp3"
    total = compile_timeline(load_routine(routine), FakeVoice()).total_samples
    assert total > 3 * 3600 * SAMPLE_RATE
    # A parent of its own, so RUSAGE_CHILDREN holds the build's peak and nothing else.
    measure = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); sys.exit(code)"
    )
    build = [str(AUDIOGUIDE), "build", str(routine), "-o", str(out), "--voice", "fake"]
    result = subprocess.run(
        [sys.executable, "-c", measure, *build], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr
    peak_bytes = int(result.stdout.splitlines()[-1])
    assert peak_bytes < MAX_RSS_BYTES, f"peak RSS {peak_bytes / 1e6:.0f} MB"
    assert abs(_decoded_samples(out) - total) <= MP3_FRAME


def _decoded_samples(path: Path) -> int:
    """Decode with ffmpeg and count the samples as they stream past: an hour is 600 MB as float."""
    decoder = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"],
        stdout=subprocess.PIPE,
    )
    assert decoder.stdout is not None
    n_bytes = 0
    while chunk := decoder.stdout.read(1 << 20):
        n_bytes += len(chunk)
    decoder.stdout.close()
    assert decoder.wait() == 0
    return n_bytes // 2
