from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audioguide.errors import RoutineError
from audioguide.language.library import BUNDLED_DIR
from audioguide.language.load import load_routine
from audioguide.language.yamlfile import YList, YMap, _CLoader, _Loader
from audioguide.model import (
    Breathe,
    BuiltinSound,
    Exercise,
    Hold,
    Pause,
    Repeat,
    Say,
    Section,
    Sound,
    SoundFile,
    parse_duration,
    parse_pattern,
)
from conftest import WriteRoutine


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (5, 5.0),
        (2.5, 2.5),
        ("5", 5.0),
        ("5s", 5.0),
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("1:30", 90.0),
        ("2m", 120.0),
        ("1:00:05", 3605.0),
        ("0.5s", 0.5),
        (" 10 s ", 10.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ten", "", "5x", "1:3", True, None, [5]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_patterns_and_presets() -> None:
    assert parse_pattern("4-7-8-0") == (4, 7, 8, 0)
    assert parse_pattern("4-7-8") == (4, 7, 8, 0)
    assert parse_pattern("5.5-0-5.5-0") == (5.5, 0, 5.5, 0)
    assert parse_pattern("box") == (4, 4, 4, 4)
    for bad in ("4-7", "0-0-4-0", "a-b-c-d", "4--1-4-0"):
        with pytest.raises(ValueError):
            parse_pattern(bad)


def test_full_language(write_routine: WriteRoutine) -> None:
    path = write_routine("""
        title: Psoas Release
        author: Sam's Physio
        voice: {rate: 140}
        vars: {client: friend}
        steps:
          - say: Welcome, {client}.
          - Just a line.
          - pause: 1m30s
          - sound: bell
          - hold: {duration: 30s, countdown: 3, halfway: true, say: Hold.}
          - breathe: {pattern: 4-0-6-0, cycles: 4}
          - breathe: box
          - section: Warm up
            steps:
              - say: Hello.
          - exercise: Leg lift
            say: [Lie down., Relax.]
            sides: [right, left]
            switch: Other leg.
            reps: 2
            sets: 3
            rest: 10s
            rep: [{say: Lift.}, {hold: 2}]
          - exercise: Lunge
            hold: {duration: 30s, countdown: true}
          - repeat: 2
            steps: [{say: Again.}]
        """)
    routine = load_routine(path, {"client": "Sam"})
    assert routine.title == "Psoas Release"
    assert routine.voice.rate == 140
    s = routine.steps
    assert s[0] == Say("Welcome, Sam.")
    assert s[1] == Say("Just a line.")
    assert s[2] == Pause(90.0)
    assert s[3] == Sound(BuiltinSound("bell"))
    assert s[4] == Hold(30.0, countdown=3, halfway=True, say="Hold.")
    assert s[5] == Breathe((4, 0, 6, 0), cycles=4)
    assert s[6] == Breathe((4, 4, 4, 4), cycles=4)
    assert s[7] == Section("Warm up", (Say("Hello."),))
    assert s[8] == Exercise(
        "Leg lift",
        ("Lie down.", "Relax."),
        ("right", "left"),
        "Other leg.",
        sets=3,
        rest_s=10.0,
        reps=2,
        body=(Say("Lift."), Hold(2.0)),
    )
    assert s[9] == Exercise("Lunge", body=(Hold(30.0, countdown=3),))
    assert s[10] == Repeat(2, (Say("Again."),))
    # Locations ride along for messages without taking part in equality.
    assert (s[4].where.line, s[4].where.step) == (10, "5")
    assert s[8].body[1].where.step == "9.2"


def _error(write_routine: WriteRoutine, text: str, **kwargs: object) -> str:
    path = write_routine(text)
    with pytest.raises(RoutineError) as info:
        load_routine(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value).replace(str(path), "routine.yaml")


def test_error_names_file_line_step_and_fix(write_routine: WriteRoutine) -> None:
    msg = _error(
        write_routine,
        """
        title: T
        steps:
          - say: Hi.
          - say: There.
          - pause: ten
        """,
    )
    assert msg == (
        "routine.yaml:5: step 3: 'pause' needs a duration like 5s, 90s, 1m30s or 1:30, got \"ten\""
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: T\nsteps:\n  - sya: Hi.\n",
            "routine.yaml:3: step 1: unknown step kind 'sya': did you mean 'say'?",
        ),
        (
            "title: T\nsteps:\n  - say: Hi.\n    pause: 2\n",
            "routine.yaml:4: step 1: one step cannot be both 'say' and 'pause': "
            "split it into two steps",
        ),
        (
            "title: T\nsteps:\n  - hold: -3\n",
            "routine.yaml:3: step 1: 'hold' must be more than 0 s and at most 6 hours, got -3",
        ),
        (
            "title: T\nsteps:\n  - say: Hi {name}.\n",
            "routine.yaml:3: step 1: '{name}' is not a var (vars: none); add it under 'vars:' or "
            "write {{ and }} for literal braces",
        ),
        (
            "title: T\nsteps:\n  - sound: bel\n",
            "routine.yaml:3: step 1: unknown sound 'bel': did you mean 'bell'?",
        ),
        (
            "title: T\nsteps: []\n",
            "routine.yaml:2: 'steps' needs a list of steps, got an empty list",
        ),
        ("title: T\n", "routine.yaml:1: the routine has no 'steps'; add a list of steps"),
        (
            "title: T\nstep:\n  - say: Hi\n",
            "routine.yaml:2: unknown key 'step': did you mean 'steps'?",
        ),
        (
            "title: T\nsteps:\n\t- say: Hi\n",
            "routine.yaml:3: invalid YAML: found character '\\t' that cannot start any token; "
            "indent with spaces, not tabs",
        ),
        ("title: T\nsteps:\n  - say: Hi\n  - say: [unclosed\n", "routine.yaml:5: invalid YAML"),
        (
            "title: T\nsteps:\n  - exercise: Lift\n    reps: many\n",
            "routine.yaml:4: step 1: 'reps' needs a whole number from 1 to 1000, got \"many\"",
        ),
        (
            "title: T\nsteps:\n  - exercise: Lift\n    sides: left\n",
            "routine.yaml:4: step 1: 'sides' lists two or more sides",
        ),
        (
            "title: T\nsteps:\n  - breathe: {pattern: 4-7, cycles: 2}\n",
            "routine.yaml:3: step 1: 'breathe' needs a pattern like 4-7-8-0",
        ),
        (
            "title: T\ntitle: U\nsteps: [Hi]\n",
            "routine.yaml:2: 'title' appears twice in one block: keep one",
        ),
        ("- just\n- a list\n", "routine.yaml:1: a routine is a mapping with 'title' and 'steps'"),
        ("title: T\nsteps:\n  - !!python/object:os.system {}\n", "routine.yaml:3: invalid YAML"),
    ],
)
def test_bad_routines(write_routine: WriteRoutine, text: str, expected: str) -> None:
    assert _error(write_routine, text).startswith(expected)


def test_unknown_var_override(write_routine: WriteRoutine) -> None:
    msg = _error(
        write_routine, "title: T\nvars: {client: x}\nsteps: [Hi]\n", variables={"cleint": "Sam"}
    )
    assert msg == (
        "routine.yaml: --var cleint: the routine has no var 'cleint' (its vars: "
        "client); add it under 'vars:'"
    )


def test_not_utf8_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"title: T\nsteps:\n  - say: caf\xe9\n")
    with pytest.raises(RoutineError, match=r"bad.yaml:3: not UTF-8 text; save the file as UTF-8"):
        load_routine(bad)
    with pytest.raises(RoutineError, match=r"nope.yaml: no such file"):
        load_routine(tmp_path / "nope.yaml")


def test_sound_file_relative_to_routine(write_routine: WriteRoutine, tmp_path: Path) -> None:
    import wave

    with wave.open(str(tmp_path / "ding.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\x00\x10" * 4410)
    routine = load_routine(write_routine("title: T\nsteps:\n  - sound: ding.wav\n"))
    assert routine.steps[0] == Sound(SoundFile((tmp_path / "ding.wav").resolve()))


def _with_lines(value: object) -> object:
    """A parsed document with every line it remembers, to compare two parsers by."""
    if isinstance(value, YMap):
        return (value.line, value.key_lines, {k: _with_lines(v) for k, v in value.items()})
    if isinstance(value, YList):
        return (value.line, value.item_lines, [_with_lines(v) for v in value])
    return (type(value).__name__, value)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
def test_libyaml_reads_every_routine_as_the_python_parser_does() -> None:
    # parse_yaml reads with libyaml and lets the Python parser word any problem: for what they
    # both read, values and lines must agree (the bundled routines, and every bad routine the
    # Python parser accepts as YAML).
    folders = [BUNDLED_DIR, Path(__file__).parent / "bad_routines"]
    compared = 0
    for path in sorted(p for folder in folders for p in folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "&" in text:
            continue  # anchors: the alias bombs among them would be compared item by item
        try:
            slow = _Loader(text)
            slow.name = path.name
            expected = _with_lines(slow.get_single_data())
        except Exception:
            continue
        fast = _CLoader(text)
        fast.name = path.name
        assert _with_lines(fast.get_single_data()) == expected, path.name
        compared += 1
    assert compared > 20
