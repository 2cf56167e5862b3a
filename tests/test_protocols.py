"""Timed protocols (intervals, breathing presets), --length fitting and includes, with the fake
voice: every figure here is exact arithmetic on the plan."""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.audio import SAMPLE_RATE, to_samples
from audioguide.cli import cli
from audioguide.cues import Cue, CueKind, Timeline
from audioguide.errors import RoutineError
from audioguide.language.library import bundled_routines, find_routine
from audioguide.language.load import load_routine, parse_routine
from audioguide.model import (
    BREATH_PRESETS,
    MAX_BREATH_HOLD_S,
    PAN_SIDES,
    Bed,
    BuiltinSound,
    Stretch,
)
from audioguide.timing.compile import compile_timeline
from audioguide.timing.fit import at, fit_length
from audioguide.timing.size import routine_size
from audioguide.voices.fake import FakeVoice
from conftest import WriteRoutine

TABATA = """
title: T
steps:
  - say: Welcome to a session of high-intensity intervals.
  - interval: Tabata
    exercises: [Squats]
    work: 20s
    rest: 10s
    rounds: 8
"""


def works(tl: Timeline) -> list[Cue]:
    return [c for c in tl.cues if c.kind is CueKind.WORK]


def spoken_in(tl: Timeline, window: Cue) -> dict[str, int]:
    """Speech cues inside a window, by text: their offset from its start."""
    return {
        str(c.text): c.start_sample - window.start_sample
        for c in tl.cues
        if c.kind is CueKind.SPEECH and window.start_sample <= c.start_sample < window.end_sample
    }


# --- intervals --------------------------------------------------------------------------------


def test_tabata_work_periods_start_every_30_seconds_to_the_sample() -> None:
    tl = compile_timeline(parse_routine(TABATA), FakeVoice())
    work = works(tl)
    assert len(work) == 8
    assert all(c.n_samples == to_samples(20) and c.tone == BuiltinSound("beep") for c in work)
    assert all(c.exercise == "Squats" for c in work)
    first = work[0].start_sample
    assert [c.start_sample - first for c in work] == [k * to_samples(30) for k in range(8)]
    rests = [c for c in tl.cues if c.kind is CueKind.REST]
    assert [r.n_samples for r in rests] == [to_samples(10)] * 8  # the get-ready, then 7 rests
    assert rests[0].end_sample == first
    # The countdown before every work period ends on its start.
    for rest in rests:
        said = spoken_in(tl, rest)
        assert {k: said[k] for k in "321"} == {
            str(k): to_samples(10) - to_samples(k) for k in (3, 2, 1)
        }
    assert "Get ready. First: Squats." in spoken_in(tl, rests[0])
    assert "Rest. Next: round 2 of 8." in spoken_in(tl, rests[1])
    assert tl.cues[-1].text == "And stop. Well done."
    assert tl.cues[-1].start_sample == work[-1].end_sample


def test_work_starts_do_not_move_with_the_speech_around_them() -> None:
    routine = parse_routine(TABATA)
    slow, fast = (compile_timeline(routine, FakeVoice(rate)) for rate in (100, 300))
    offsets = [
        [c.start_sample - works(tl)[0].start_sample for c in works(tl)] for tl in (slow, fast)
    ]
    assert offsets[0] == offsets[1]
    assert works(slow)[0].start_sample > works(fast)[0].start_sample  # the welcome took longer


def test_circuit_names_the_next_exercise_during_each_transition() -> None:
    path = find_routine("circuit")
    tl = compile_timeline(load_routine(path), FakeVoice())
    work = works(tl)
    names = [c.exercise for c in work]
    assert len(work) == 12 and names[0] == "Jumping jacks" and names[-1] == "Side plank"
    assert all(c.n_samples == to_samples(30) for c in work)
    gaps = {b.start_sample - a.end_sample for a, b in itertools.pairwise(work)}
    assert gaps == {to_samples(10)}
    for before, after in itertools.pairwise(work):
        rest = next(
            c for c in tl.cues if c.kind is CueKind.REST and c.end_sample == after.start_sample
        )
        assert f"Rest. Next: {after.exercise}." in spoken_in(tl, rest)
        assert spoken_in(tl, before).get("Halfway.") == to_samples(15)


def test_plan_json_lists_work_periods(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plan", "tabata", "--voice", "fake", "--json"])
    assert result.exit_code == 0, result.output
    work = [c for c in json.loads(result.stdout)["cues"] if c["kind"] == "work"]
    assert len(work) == 8
    assert all(round(c["end_s"] - c["start_s"], 3) == 20.0 and c["sound"] == "beep" for c in work)


def test_an_announcement_that_does_not_fit_the_rest_says_so() -> None:
    routine = parse_routine(
        "title: T\nsteps:\n  - interval: I\n    work: 10s\n    rest: 2s\n"
        "    exercises: [Jumping jacks, Wall sit]\n"
    )
    with pytest.raises(RoutineError, match=r"<routine>:3: step 1: .* does not fit in the 2 s rest"):
        compile_timeline(routine, FakeVoice())


def test_interval_without_rest_runs_work_periods_back_to_back() -> None:
    tl = compile_timeline(
        parse_routine("title: T\nsteps:\n  - interval: I\n    work: 5s\n    rounds: 3\n"),
        FakeVoice(),
    )
    work = works(tl)
    assert [b.start_sample - a.start_sample for a, b in itertools.pairwise(work)] == [
        to_samples(5)
    ] * 2


def test_size_arithmetic_matches_the_expansion_for_intervals() -> None:
    for text in (TABATA, TABATA.replace("    rest: 10s\n", "    halfway: true\n")):
        routine = parse_routine(text)
        tl = compile_timeline(routine, FakeVoice())
        assert routine_size(routine).cues == len(tl.cues)


# --- breathing presets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "pattern"),
    [
        ("4-7-8", (4, 7, 8, 0)),
        ("box", (4, 4, 4, 4)),
        ("coherent", (6, 0, 6, 0)),
        ("resonant", (5.5, 0, 5.5, 0)),
    ],
)
def test_presets_time_each_phase(preset: str, pattern: tuple[float, ...]) -> None:
    assert BREATH_PRESETS[preset] == pattern
    tl = compile_timeline(
        parse_routine(f"title: T\nsteps:\n  - breathe: {{pattern: {preset}, cycles: 2}}\n"),
        FakeVoice(),
    )
    phases = [c.n_samples for c in tl.cues if c.kind is CueKind.BREATH]
    assert phases == [to_samples(s) for s in pattern if s > 0] * 2
    per_minute = 60 / sum(pattern)
    assert {"coherent": 5.0, "resonant": 60 / 11}.get(preset, per_minute) == per_minute


def test_physiological_sigh_is_a_double_inhale_and_a_long_exhale() -> None:
    tl = compile_timeline(
        parse_routine("title: T\nsteps:\n  - breathe: {pattern: sigh, cycles: 3}\n"), FakeVoice()
    )
    breath = [(c.phase, c.n_samples) for c in tl.cues if c.kind is CueKind.BREATH]
    one = [("inhale", to_samples(2)), ("inhale", to_samples(1)), ("exhale", to_samples(6))]
    assert breath == one * 3
    assert [c.text for c in tl.cues if c.kind is CueKind.SPEECH][:3] == [
        "Breathe in.",
        "More.",
        "Breathe out.",
    ]


def test_breathe_by_duration_fits_whole_cycles() -> None:
    routine = parse_routine("title: T\nsteps:\n  - breathe: {pattern: coherent, duration: 1m}\n")
    assert routine.steps[0].cycles == 5  # type: ignore[union-attr]


def test_more_than_four_cycles_of_4_7_8_warns_and_still_builds(
    write_routine: WriteRoutine, runner: CliRunner
) -> None:
    path = write_routine("title: T\nsteps:\n  - breathe: {pattern: 4-7-8, cycles: 8}\n")
    result = runner.invoke(cli, ["check", str(path), "--voice", "fake"])
    assert result.exit_code == 0
    assert (
        f"Warning: {path}:3: step 1: 8 cycles of 4-7-8 breathing; Weil advises no more than 4"
        in result.stderr
    )
    path.write_text("title: T\nsteps:\n  - breathe: {pattern: 4-7-8, cycles: 4}\n")
    assert "Warning" not in runner.invoke(cli, ["check", str(path), "--voice", "fake"]).stderr


def test_long_breath_holds_need_an_opt_in() -> None:
    hold = MAX_BREATH_HOLD_S + 2
    text = f"title: T\nsteps:\n  - breathe: {{pattern: 4-{hold:g}-8-0, cycles: 2}}\n"
    with pytest.raises(RoutineError, match=r"add 'long-holds: true' to this step if you mean it"):
        parse_routine(text)
    opted = parse_routine(text.replace("cycles: 2", "cycles: 2, long-holds: true"))
    assert opted.steps[0].pattern[1] == hold  # type: ignore[union-attr]
    parse_routine(f"title: T\nsteps:\n  - breathe: 4-{MAX_BREATH_HOLD_S:g}-8-0\n")  # at the limit


# --- length targeting -------------------------------------------------------------------------

STRETCHY = """
title: T
steps:
  - say: Welcome.
  - exercise: Lunge
    sides: [left, right]
    sets: 2
    rest: 5-15s
    hold: {duration: 20-40s, countdown: 3}
  - breathe: {pattern: coherent, cycles: 4-8}
  - pause: 10-30s
"""


@pytest.mark.parametrize("target_s", [200, 215.5, 233, 250, 271.25, 290, 311])
def test_length_lands_within_a_second_of_the_target(target_s: float) -> None:
    routine = parse_routine(STRETCHY)
    fit = fit_length(routine, FakeVoice(), target_s)
    assert abs(fit.timeline.total_samples - target_s * SAMPLE_RATE) <= SAMPLE_RATE
    # Every value stays inside its range; the fitted routine is the one the timeline came from.
    lunge = fit.routine.steps[1]
    assert 5 <= lunge.rest_s <= 15  # type: ignore[union-attr]
    assert compile_timeline(fit.routine, FakeVoice()) == fit.timeline


def test_length_outside_the_ranges_names_the_shortest_and_longest() -> None:
    routine = parse_routine(STRETCHY)
    shortest, longest = (compile_timeline(at(routine, t), FakeVoice()).total_s for t in (0, 1))
    with pytest.raises(RoutineError) as info:
        fit_length(routine, FakeVoice(), 60)
    assert str(info.value) == (
        f"<routine>: cannot last 1:00: its ranges allow {clock(shortest)} to {clock(longest)}; "
        "ask for a length in between, or widen the ranges"
    )
    assert abs(fit_length(routine, FakeVoice(), shortest).timeline.total_s - shortest) < 1e-3


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def test_length_needs_a_range_to_stretch() -> None:
    with pytest.raises(RoutineError, match="--length needs something to stretch"):
        fit_length(parse_routine("title: T\nsteps:\n  - pause: 5\n"), FakeVoice(), 60)


def test_whole_cycles_that_jump_past_the_target_fail_with_the_nearest_lengths() -> None:
    routine = parse_routine("title: T\nsteps:\n  - breathe: {pattern: coherent, cycles: 2-6}\n")
    lengths = [
        compile_timeline(
            parse_routine(f"title: T\nsteps:\n  - breathe: {{pattern: coherent, cycles: {n}}}\n"),
            FakeVoice(),
        ).total_s
        for n in (3, 4)
    ]
    assert fit_length(routine, FakeVoice(), lengths[0]).timeline.total_s == lengths[0]
    with pytest.raises(RoutineError, match="as whole cycles jump past it"):
        fit_length(routine, FakeVoice(), sum(lengths) / 2)


def test_ranges_without_length_take_the_middle() -> None:
    routine = parse_routine(STRETCHY)
    lunge, breathe, pause = routine.steps[1:]
    assert lunge.body[0].duration_s == 30 and lunge.body[0].stretch == Stretch(20, 40)  # type: ignore[union-attr]
    assert breathe.cycles == 6 and pause.duration_s == 20  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "seconds"), [("20-40s", (20, 40)), ("1m-2m", (60, 120)), ("1:00-1:30", (60, 90))]
)
def test_range_spellings(value: str, seconds: tuple[float, float]) -> None:
    pause = parse_routine(f"title: T\nsteps:\n  - pause: {value}\n").steps[0]
    assert pause.stretch == Stretch(*seconds)  # type: ignore[union-attr]


def test_plan_and_build_take_length(runner: CliRunner, write_routine: WriteRoutine) -> None:
    path = write_routine(STRETCHY)
    result = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--json", "--length", "4m"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_s"] == pytest.approx(240, abs=1)
    bad = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--length", "soon"])
    assert bad.exit_code == 2 and "is not a length like 15m" in bad.output


@pytest.mark.parametrize("minutes", [6, 7.5, 10, 12])
def test_the_bundled_relaxation_fits_any_length_from_6_to_12_minutes(minutes: float) -> None:
    # Its breathing blocks are ranges of whole cycles; a pause range closes the gap between them.
    fit = fit_length(load_routine(find_routine("psoas-relax")), FakeVoice(), minutes * 60)
    assert abs(fit.timeline.total_samples - minutes * 60 * SAMPLE_RATE) <= SAMPLE_RATE


# --- includes ---------------------------------------------------------------------------------


def test_include_splices_the_steps_of_another_file(write_routine: WriteRoutine) -> None:
    write_routine("- say: Warm up.\n- pause: 2\n", "warmup.yaml")
    write_routine("title: Block\nsteps:\n  - exercise: Bridge\n    hold: 5\n", "block.yaml")
    main = write_routine(
        "title: T\nsteps:\n  - include: warmup.yaml\n  - include: block.yaml\n  - say: Done.\n"
    )
    tl = compile_timeline(load_routine(main), FakeVoice())
    assert [c.text for c in tl.cues if c.kind is CueKind.SPEECH] == ["Warm up.", "Bridge.", "Done."]
    assert [c.title for c in tl.chapters] == ["Introduction", "Bridge"]


def test_errors_in_an_included_file_point_into_it(
    write_routine: WriteRoutine, runner: CliRunner
) -> None:
    write_routine("- say: Warm up.\n- pause: ten\n", "warmup.yaml")
    main = write_routine("title: T\nsteps:\n  - include: warmup.yaml\n")
    result = runner.invoke(cli, ["check", str(main), "--voice", "fake"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {main.parent / 'warmup.yaml'}:2: step 2: 'pause' needs a duration like 5s, 90s, "
        '1m30s or 1:30, got "ten"\n'
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.yaml": "- include: b.yaml\n", "b.yaml": "- include: a.yaml\n"},
            "a.yaml includes itself (routine.yaml -> a.yaml -> b.yaml -> a.yaml)",
        ),
        (
            {"a.yaml": "title: A\nvars: {x: 1}\nsteps: [Hi.]\n"},
            "an included file holds steps; 'vars' belongs in the main routine",
        ),
        ({}, "cannot include a.yaml: no such file"),
    ],
)
def test_bad_includes(write_routine: WriteRoutine, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write_routine(text, name)
    main = write_routine("title: T\nsteps:\n  - include: a.yaml\n")
    with pytest.raises(RoutineError, match=re.escape(message)):
        load_routine(main)


def test_include_outside_the_routine_folder_is_refused(
    write_routine: WriteRoutine, tmp_path: Path
) -> None:
    outside = tmp_path.parent / "outside.yaml"
    outside.write_text("- say: Hi.\n")
    main = write_routine(f"title: T\nsteps:\n  - include: ../{outside.name}\n")
    with pytest.raises(RoutineError, match="is outside the routine's folder"):
        load_routine(main)


# --- sound keys -------------------------------------------------------------------------------


def test_pan_sides_places_each_side_and_keeps_the_rest_centred() -> None:
    text = """
    title: T
    pan: sides
    steps:
      - exercise: Lunge
        sides: [left, right]
        reps: 2
        rep: [{hold: {duration: 4, countdown: 2}}]
    """
    tl = compile_timeline(parse_routine(textwrap.dedent(text)), FakeVoice())
    by_text = [(c.text, c.pan) for c in tl.cues if c.kind is CueKind.SPEECH]
    assert by_text[:3] == [("Lunge.", 0.0), ("Left side.", -PAN_SIDES), ("1.", -PAN_SIDES)]
    assert ("Switch sides.", 0.0) in by_text and ("Right side.", PAN_SIDES) in by_text
    holds = [c.pan for c in tl.cues if c.kind is CueKind.HOLD]
    assert holds == [-PAN_SIDES] * 2 + [PAN_SIDES] * 2
    plain = compile_timeline(
        parse_routine(textwrap.dedent(text).replace("pan: sides\n", "")), FakeVoice()
    )
    assert {c.pan for c in plain.cues} == {0.0}


def test_bed_and_pacer_reach_the_timeline(runner: CliRunner, write_routine: WriteRoutine) -> None:
    routine = parse_routine(
        "title: T\nbed: {sound: rain, level: -24}\npacer: breath\nsteps:\n"
        "  - breathe: {pattern: 4-0-6-0, cycles: 1}\n"
        "  - breathe: {pattern: 4-0-6-0, cycles: 1, pacer: bell}\n"
    )
    tl = compile_timeline(routine, FakeVoice())
    assert tl.bed == Bed(BuiltinSound("rain"), -24.0)
    assert [c.pacer for c in tl.cues if c.kind is CueKind.BREATH] == ["breath"] * 2 + ["bell"] * 2
    with pytest.raises(RoutineError, match=r"<routine>:2: the bed's level is dB under the voice"):
        parse_routine("title: T\nbed: {sound: rain, level: 0}\nsteps: [Hi.]\n")
    with pytest.raises(RoutineError, match=r"'pacer' is one of tone, breath, bell, none"):
        parse_routine("title: T\npacer: whistle\nsteps: [Hi.]\n")


# --- the library ------------------------------------------------------------------------------


def test_library_has_the_seed_routines_and_both_protocols(runner: CliRunner) -> None:
    names = set(bundled_routines())
    assert {
        "psoas-release",
        "psoas-stretch",
        "psoas-strength",
        "psoas-relax",
        "desk-break",
    } <= names
    assert {"tabata", "circuit"} <= names
    result = runner.invoke(cli, ["list", "--voice", "fake"])
    assert result.exit_code == 0
    assert all(name in result.output for name in names)


@pytest.mark.parametrize("name", sorted(bundled_routines()))
def test_every_bundled_routine_opens_with_its_cautions(name: str) -> None:
    routine = load_routine(find_routine(name))
    assert routine.safety, name
    tl = compile_timeline(routine, FakeVoice())
    first_work = min(
        (c.start_sample for c in tl.cues if c.kind in (CueKind.WORK, CueKind.HOLD, CueKind.BREATH)),
        default=math.inf,
    )
    safety_at = [c.start_sample for c in tl.cues if getattr(c, "text", None) in routine.safety]
    assert max(safety_at) < first_work, name
