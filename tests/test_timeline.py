from __future__ import annotations

import itertools

import pytest

from audioguide.audio import to_samples
from audioguide.cues import CueKind
from audioguide.errors import RoutineError
from audioguide.language.load import load_routine, parse_routine
from audioguide.timing.compile import compile_timeline
from audioguide.timing.plan import format_plan, plan_dict
from audioguide.timing.size import LEAD_IN_S, SPEECH_GAP_S, TAIL_S
from audioguide.voices.fake import FakeVoice
from conftest import WriteRoutine


def speech_len(text: str) -> int:
    return to_samples(FakeVoice.duration_s(text))


def test_sequence_is_sample_exact(fake_voice: FakeVoice) -> None:
    routine = parse_routine("title: T\nsteps:\n  - say: Lie down.\n  - pause: 3\n  - say: Up.\n")
    tl = compile_timeline(routine, fake_voice)
    gap = to_samples(SPEECH_GAP_S)
    t0 = to_samples(LEAD_IN_S)
    kinds = [(c.kind, c.start_sample, c.n_samples) for c in tl.cues]
    t1 = t0 + speech_len("Lie down.") + gap
    t2 = t1 + to_samples(3)
    assert kinds == [
        (CueKind.SPEECH, t0, speech_len("Lie down.")),
        (CueKind.SILENCE, t1, to_samples(3)),
        (CueKind.SPEECH, t2, speech_len("Up.")),
    ]
    assert tl.total_samples == t2 + speech_len("Up.") + gap + to_samples(TAIL_S)


def test_hold_countdown_and_halfway_land_on_their_seconds(fake_voice: FakeVoice) -> None:
    routine = parse_routine(
        "title: T\nsteps:\n  - hold: {duration: 30s, countdown: 3, halfway: true, say: Hold.}\n"
    )
    tl = compile_timeline(routine, fake_voice)
    hold = next(c for c in tl.cues if c.kind is CueKind.HOLD)
    assert hold.n_samples == to_samples(30)
    inside = {
        c.text: c.start_sample - hold.start_sample for c in tl.cues if c.kind is CueKind.SPEECH
    }
    assert inside == {
        "Hold.": 0,
        "Halfway.": to_samples(15),
        "3": to_samples(27),
        "2": to_samples(28),
        "1": to_samples(29),
    }


def test_countdown_that_does_not_fit_says_by_how_much(
    write_routine: WriteRoutine, fake_voice: FakeVoice
) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Hi.\n  - hold: {duration: 2, countdown: 3}\n")
    with pytest.raises(RoutineError) as info:
        compile_timeline(load_routine(path), fake_voice)
    assert str(info.value) == (
        f"{path}:4: step 2: the countdown does not fit in the 2 s hold: it needs 1.00 s more; "
        "make the hold longer or drop the countdown"
    )


def test_inner_cue_overlap_is_reported(fake_voice: FakeVoice) -> None:
    # "Hold very still and breathe." lasts 0.25 + 5 * 0.3 = 1.75 s; halfway is at 1.5 s.
    routine = parse_routine(
        "title: T\nsteps:\n  - hold: {duration: 3, halfway: true, "
        "say: Hold very still and breathe.}\n",
        name="r.yaml",
    )
    with pytest.raises(
        RoutineError,
        match=r"r.yaml:3: step 1: the halfway cue does not fit in "
        r"the 3 s hold: it overlaps the hold's 'say' by 0.25 s",
    ):
        compile_timeline(routine, fake_voice)


def test_breath_phases_are_exact_and_guided_first(fake_voice: FakeVoice) -> None:
    routine = parse_routine("title: T\nsteps:\n  - breathe: {pattern: 4-7-8-0, cycles: 3}\n")
    tl = compile_timeline(routine, fake_voice)
    phases = [(c.phase, c.n_samples) for c in tl.cues if c.kind is CueKind.BREATH]
    assert (
        phases
        == [("inhale", to_samples(4)), ("hold", to_samples(7)), ("exhale", to_samples(8))] * 3
    )
    breaths = [c for c in tl.cues if c.kind is CueKind.BREATH]
    for a, b in itertools.pairwise(breaths):
        assert a.end_sample == b.start_sample
    spoken = [c.text for c in tl.cues if c.kind is CueKind.SPEECH]
    assert spoken == ["Breathe in.", "Hold.", "Breathe out."] * 2


def test_exercise_structure_and_chapters(fake_voice: FakeVoice) -> None:
    routine = parse_routine("""
title: T
steps:
  - say: Welcome.
  - exercise: Leg lift
    sides: [right, left]
    reps: 2
    rep: [{say: Lift.}, {hold: 2}]
  - exercise: Lunge
    sets: 2
    rest: 10s
    hold: 5
  - say: Bye.
""")
    tl = compile_timeline(routine, fake_voice)
    spoken = [c.text for c in tl.cues if c.kind is CueKind.SPEECH]
    assert spoken == [
        "Welcome.",
        "Leg lift.",
        "Right side.",
        "1.",
        "Lift.",
        "2.",
        "Lift.",
        "Switch sides.",
        "Left side.",
        "1.",
        "Lift.",
        "2.",
        "Lift.",
        "Lunge.",
        "Set 1 of 2.",
        "Rest.",
        "Set 2 of 2.",
        "Bye.",
    ]
    assert [c.title for c in tl.chapters] == ["Introduction", "Leg lift", "Lunge"]
    assert tl.chapters[0].start_sample == 0
    assert tl.chapters[-1].end_sample == tl.total_samples
    for a, b in zip(tl.chapters, tl.chapters[1:], strict=False):
        assert a.end_sample == b.start_sample
    leg = next(c for c in tl.cues if c.text == "Leg lift.")
    assert tl.chapters[1].start_sample == leg.start_sample
    rest = next(c for c in tl.cues if c.kind is CueKind.REST)
    assert rest.n_samples == to_samples(10)


def test_compile_is_deterministic_and_plan_json_has_the_documented_shape(
    fake_voice: FakeVoice,
) -> None:
    text = "title: T\nauthor: A\nsteps:\n  - section: One\n    steps: [Hi., {sound: beep}]\n"
    a = compile_timeline(parse_routine(text), fake_voice)
    b = compile_timeline(parse_routine(text), FakeVoice())
    assert a == b
    doc = plan_dict(a)
    assert doc["title"] == "T"
    assert doc["total_s"] == round(a.total_samples / 44100, 3)
    assert doc["chapters"] == [{"title": "One", "start_s": 0.0, "end_s": doc["total_s"]}]
    assert doc["cues"][0] == {
        "kind": "speech",
        "start_s": 0.5,
        "end_s": round(0.5 + FakeVoice.duration_s("Hi."), 3),
        "text": "Hi.",
    }
    assert doc["cues"][1]["kind"] == "sound" and doc["cues"][1]["sound"] == "beep"
    assert "Total 0:0" in format_plan(a)


def test_vars_and_words_translate_what_the_tool_says(fake_voice: FakeVoice) -> None:
    routine = parse_routine("""
title: T
words:
  side: "Lado {side}."
  switch: Cambia.
  rep: "Repetición {n}."
  sides: {right: derecho, left: izquierdo}
steps:
  - exercise: Pierna
    sides: [right, left]
    reps: 2
    rep: [Sube.]
""")
    spoken = [c.text for c in compile_timeline(routine, fake_voice).cues]
    # The side as the routine spells it: "Lado derecho.", not "Lado Derecho."
    assert spoken[:5] == ["Pierna.", "Lado derecho.", "Repetición 1.", "Sube.", "Repetición 2."]
    assert "Cambia." in spoken
