"""The routine grammar as a newcomer meets it, through the CLI: both forms of every kind, names
checked with suggestions, countdowns, variables in every value, and messages that read right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.language.load import parse_routine
from audioguide.voices.fake import FakeVoice
from conftest import WriteRoutine


def plan(runner: CliRunner, path: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--json", *args])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def error(runner: CliRunner, path: Path, *args: str) -> str:
    result = runner.invoke(cli, ["check", str(path), "--voice", "fake", *args])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0].removeprefix("Error: ").replace(str(path), "{file}")


# --- both forms --------------------------------------------------------------------------------

SAME = [
    ("- pause: 5s", "- pause: {duration: 5s}"),
    ("- say: Hello.", "- say: {text: Hello.}"),
    ("- sound: bell", "- sound: {name: bell}"),
    ("- countdown: 3", "- countdown: {from: 3}"),
    (
        "- hold: 30s\n  countdown: 3\n  say: Hold.",
        "- hold: {duration: 30s, countdown: 3, say: Hold.}",
    ),
    (
        "- breathe: box\n  cycles: 3",
        "- breathe: {pattern: box, cycles: 3}",
    ),
    (
        "- exercise: Lunge\n  sides: [left, right]\n  hold: 30s",
        "- exercise: {name: Lunge, sides: [left, right], hold: 30s}",
    ),
    (
        "- interval: Tabata\n  work: 20s\n  rest: 10s\n  rounds: 8",
        "- interval: {name: Tabata, work: 20s, rest: 10s, rounds: 8}",
    ),
    ("- section: Warm up\n  steps: [Hi.]", "- section: {name: Warm up, steps: [Hi.]}"),
    ("- repeat: 2\n  steps: [Hi.]", "- repeat: {times: 2, steps: [Hi.]}"),
]


@pytest.mark.parametrize(("short", "long"), SAME, ids=[s.split(":")[0][2:] for s, _ in SAME])
def test_every_kind_reads_the_same_in_both_forms(short: str, long: str) -> None:
    def steps(text: str) -> str:
        return "title: T\nsteps:\n" + "".join(f"  {line}\n" for line in text.splitlines())

    assert parse_routine(steps(short)).steps == parse_routine(steps(long)).steps


def test_an_interval_written_like_breathe(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n  - interval: {work: 30s, rest: 10s, rounds: 8}\n")
    doc = plan(runner, path)
    work = [c for c in doc["cues"] if c["kind"] == "work"]
    assert len(work) == 8 and all(round(c["end_s"] - c["start_s"], 3) == 30.0 for c in work)
    assert doc["chapters"][0]["title"] == "Intervals"
    assert work[0]["text"] == "Intervals"


def test_a_key_beside_the_long_form_says_where_it_belongs(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine(
        "title: T\nsteps:\n  - exercise: {name: Lunge, hold: 30s}\n    sides: [left, right]\n"
    )
    assert error(runner, path) == (
        "{file}:4: step 1: 'sides' goes inside the exercise's mapping when it is written as one: "
        "move it in, or write exercise: NAME with its keys beside it"
    )


# --- names -------------------------------------------------------------------------------------


def test_an_unknown_kind_suggests_a_kind_on_its_own_line(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine(
        "title: T\nsteps:\n  - say: Hi.\n  - sides: [left, right]\n    exercize: Lunge\n"
    )
    assert error(runner, path) == (
        "{file}:4: step 2: unknown step kind 'sides': step kinds: say, safety, pause, sound, "
        "hold, countdown, breathe, exercise, interval, section, repeat, include"
    )
    path = write_routine("title: T\nsteps:\n  - exercize: Lunge\n    sides: [left, right]\n")
    assert (
        error(runner, path)
        == "{file}:3: step 1: unknown step kind 'exercize': did you mean 'exercise'?"
    )


def test_an_unknown_key_suggests_one_of_its_kinds_keys(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine("title: T\nsteps:\n  - exercise: Lunge\n    sidez: [left, right]\n")
    assert error(runner, path) == "{file}:4: step 1: unknown key 'sidez': did you mean 'sides'?"
    path = write_routine("title: T\nsteps:\n  - hold: {duration: 5s, speed: 2}\n")
    assert error(runner, path) == (
        "{file}:3: step 1: unknown key 'speed': hold keys: duration, countdown, halfway, say"
    )
    # A misspelt kind beside a key of another kind reads as that kind with a stray key.
    path = write_routine("title: T\nsteps:\n  - exercize: Lunge\n    hold: 10s\n")
    assert (
        error(runner, path) == "{file}:3: step 1: unknown key 'exercize': did you mean 'exercise'?"
    )
    # ...but only a near miss: 'rest' beside a hold is not a misspelt 'repeat'.
    path = write_routine("title: T\nsteps:\n  - hold: 10s\n    rest: 5s\n")
    assert error(runner, path) == (
        "{file}:4: step 1: unknown key 'rest': hold keys: duration, countdown, halfway, say"
    )


def test_two_kinds_in_one_step(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Hi.\n    pause: 5s\n")
    assert error(runner, path) == (
        "{file}:4: step 1: one step cannot be both 'say' and 'pause': split it into two steps"
    )


def test_a_side_must_be_one_the_routine_knows(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine("title: T\nsteps:\n  - exercise: Lunge\n    sides: [rigth, left]\n")
    assert error(runner, path) == "{file}:4: step 1: 'rigth' is not a side: did you mean 'right'?"
    path = write_routine(
        "title: T\nsteps:\n  - exercise: Lunge\n    sides:\n      - left\n      - front\n"
    )
    assert error(runner, path) == (
        "{file}:6: step 1: 'front' is not a side: the sides are left, right; name a routine's own "
        "in words: {sides: {front: front}}"
    )
    own = write_routine(
        "title: T\nwords: {sides: {upper: upper body, lower: lower body}}\nsteps:\n"
        "  - exercise: Twist\n    sides: [upper, lower]\n"
    )
    spoken = [c["text"] for c in plan(runner, own)["cues"] if c["kind"] == "speech"]
    assert spoken == ["Twist.", "Upper body side.", "Switch sides.", "Lower body side."]


def test_reps_in_words_points_at_the_key(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine(
        "title: T\nsteps:\n  - exercise: Lift\n    say: Lie down.\n    reps: ten\n"
    )
    assert error(runner, path) == (
        "{file}:5: step 1: 'reps' needs a whole number from 1 to 1000, got \"ten\""
    )


# --- countdown ---------------------------------------------------------------------------------


def test_countdown_counts_on_the_second_and_the_next_step_lands_on_the_beat(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine("title: T\nsteps:\n  - countdown: 3\n  - sound: beep\n")
    cues = plan(runner, path)["cues"]
    window = cues[0]
    assert window["kind"] == "hold" and round(window["end_s"] - window["start_s"], 3) == 3.0
    counts = [c for c in cues if c["kind"] == "speech"]
    assert [c["text"] for c in counts] == ["3", "2", "1"]
    assert [round(c["start_s"] - window["start_s"], 3) for c in counts] == [0.0, 1.0, 2.0]
    beep = cues[-1]
    assert beep["kind"] == "sound" and beep["start_s"] == window["end_s"]


def test_countdown_must_fit_the_voice(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine(
        "title: T\nwords: {countdown: '{n} and a long way to go'}\nsteps:\n  - countdown: 2\n"
    )
    assert error(runner, path) == (
        '{file}:4: step 1: the countdown ("2 and a long way to go") does not fit in the 2 s '
        "countdown: it runs 0.35 s past its end; say the numbers in fewer words ('countdown' in "
        "words:)"
    )


# --- variables ---------------------------------------------------------------------------------

VARIED = """\
title: T
vars: {hold: 30s, reps: 2, pattern: box, level: -20, half: false, rest: 5-15s}
bed: {sound: brown, level: "{level}"}
steps:
  - exercise: Bridge
    reps: "{reps}"
    rest: "{rest}"
    sets: 2
    hold: {duration: "{hold}", halfway: "{half}"}
  - breathe: {pattern: "{pattern}", cycles: 1}
"""


def test_a_variable_fills_every_kind_of_value(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine(VARIED)
    cues = plan(runner, path, "--var", "hold=40s", "--var", "reps=3", "--var", "half=true")["cues"]
    holds = [c for c in cues if c["kind"] == "hold"]
    assert len(holds) == 6 and all(round(c["end_s"] - c["start_s"], 3) == 40.0 for c in holds)
    assert sum(1 for c in cues if c.get("text") == "Halfway.") == 6
    breath = [c for c in cues if c["kind"] == "breath"]
    assert [round(c["end_s"] - c["start_s"], 3) for c in breath] == [4.0] * 4
    routine = parse_routine(VARIED, variables={"level": "-12", "rest": "10-20s"})
    assert routine.bed is not None and routine.bed.level_db == -12
    step = routine.steps[0]
    assert getattr(step, "stretch", None) is not None and step.stretch.lo == 10  # type: ignore[union-attr]


def test_a_bad_value_from_a_variable_names_its_source(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    path = write_routine(VARIED)
    assert error(runner, path, "--var", "hold=forty") == (
        "{file}:9: step 1: 'duration' needs a duration like 5s, 90s, 1m30s or 1:30, got "
        '"forty" ({hold} is "forty", from --var)'
    )
    bad = write_routine(VARIED.replace("reps: 2,", "reps: many,"), "bad.yaml")
    assert error(runner, bad) == (
        "{file}:6: step 1: 'reps' needs a whole number from 1 to 1000, got \"many\" ({reps} is "
        '"many", from vars: at {file}:2)'
    )
    assert error(runner, path, "--var", "pattern=square").startswith(
        "{file}:10: step 2: 'breathe' needs a pattern like 4-7-8-0"
    )
    assert error(runner, path, "--var", "pattern=square").endswith(
        'got "square" ({pattern} is "square", from --var)'
    )


def test_the_same_var_twice_is_an_error(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nvars: {client: friend}\nsteps: [Hi {client}.]\n")
    result = runner.invoke(
        cli, ["check", str(path), "--voice", "fake", "--var", "client=Ann", "--var", "client=Ben"]
    )
    assert result.exit_code == 2
    assert "'client' is set twice (client=Ann and client=Ben): keep one" in result.output


# --- messages ----------------------------------------------------------------------------------


def test_messages_read_right_in_the_singular(
    runner: CliRunner, write_routine: WriteRoutine
) -> None:
    one = write_routine("title: T\nsteps:\n  - exercise: Lift\n")
    result = runner.invoke(cli, ["check", str(one), "--voice", "fake"])
    assert result.stdout == f"{one}: OK, 0:03.1, 1 spoken cue, 1 chapter\n"
    table = runner.invoke(cli, ["plan", str(one), "--voice", "fake"]).stdout
    assert table.rstrip().endswith("Total 0:03.1 (1 cue, 1 chapter)")
    none = write_routine("title: T\nsteps: [Hi.]\n")
    table = runner.invoke(cli, ["plan", str(none), "--voice", "fake"]).stdout
    assert table.rstrip().endswith("(1 cue, 0 chapters)")


def test_clock_text_agrees_with_the_json(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Relax.\n  - pause: 1m-20m\n")
    doc = plan(runner, path, "--length", "10m")
    table = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--length", "10m"]).stdout
    total = table.rstrip().splitlines()[-1]
    assert doc["total_s"] == pytest.approx(600.0, abs=0.05)
    assert total.startswith("Total 10:00.0 ")


def test_the_fake_voice_times_a_countdown_exactly() -> None:
    # The plan's second offsets above rest on this: the fake clip for "3" is well under 1 s.
    assert FakeVoice.duration_s("3") < 1.0
