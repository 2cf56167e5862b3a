"""Property tests: random valid routines compile to a plan that adds up and never overlaps where it
must not; random invalid input only ever fails as one line of AudioguideError.

The examples are fixed (derandomized) so CI is stable; `HYPOTHESIS_PROFILE=explore` runs 2,000
fresh random ones per property instead.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from audioguide.audio import Samples, to_samples
from audioguide.cues import Cue, CueKind, Timeline
from audioguide.errors import AudioguideError
from audioguide.language.grammar import all_keys
from audioguide.language.load import load_routine, parse_routine
from audioguide.model import BUILTIN_SOUNDS, Routine
from audioguide.strings import ENGLISH_WORDS
from audioguide.timing.compile import compile_timeline
from audioguide.timing.size import LEAD_IN_S, SPEECH_GAP_S, TAIL_S, routine_size
from audioguide.voices.fake import FakeVoice

EXAMPLES = 200
settings.register_profile(
    "ci",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore", parent=settings.get_profile("ci"), max_examples=2_000, derandomize=False
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class _QuietFakeVoice:
    """FakeVoice's lengths without its waveform: the compiler only measures clips, and making
    the tone was 70% of these tests' time."""

    key = "fake-lengths"

    def synthesize(self, text: str) -> Samples:
        return np.zeros(to_samples(FakeVoice.duration_s(text)), dtype=np.float32)

    def close(self) -> None:
        pass


VOICE = _QuietFakeVoice()
GAP = to_samples(SPEECH_GAP_S)
WINDOWS = (CueKind.HOLD, CueKind.REST, CueKind.BREATH, CueKind.WORK)
NAME = "r.yaml"


def _speech_s(text: str) -> float:
    return FakeVoice.duration_s(text)


# --- valid routines -----------------------------------------------------------------------------

WORDS = ("lift", "breathe", "slowly", "knee", "relax", "hold", "the", "left", "leg", "now")
text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(
    lambda ws: " ".join(ws).capitalize() + "."
)
seconds = st.integers(1, 40)
duration = st.one_of(
    seconds, seconds.map(lambda s: f"{s}s"), st.sampled_from(["1m", "1:05", "0.5"])
)


@st.composite
def hold(draw: st.DrawFn) -> dict[str, Any]:
    countdown = draw(st.integers(0, 3))
    halfway = draw(st.booleans())
    say = draw(st.none() | text)
    # Long enough for everything inside: the say ends before halfway, "Halfway." (0.55 s) before
    # the countdown starts.
    need = 2 * (_speech_s(say) if say else 0) + 2 * countdown + 2
    spec: dict[str, Any] = {"duration": math.ceil(need) + draw(st.integers(0, 5))}
    if countdown:
        spec["countdown"] = countdown
    if halfway:
        spec["halfway"] = True
    if say:
        spec["say"] = say
    return {"hold": spec}


@st.composite
def breathe(draw: st.DrawFn) -> dict[str, Any]:
    inhale, exhale = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    holds = draw(st.tuples(st.integers(0, 4), st.integers(0, 4)))
    cycles = draw(st.integers(1, 4))
    return {
        "breathe": {
            "pattern": f"{inhale}-{holds[0]}-{exhale}-{holds[1]}",
            "cycles": cycles,
            "guide": draw(st.integers(0, cycles)),
        }
    }


@st.composite
def interval(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(text, min_size=1, max_size=3))
    countdown = draw(st.integers(0, 3))
    # Room for the longest announcement ("Rest. Next: ..." or "Get ready. First: ...") and then
    # the countdown.
    need = max(_speech_s(f"Get ready. First: {n}") for n in names) + countdown + 1
    window = math.ceil(need) + draw(st.integers(0, 3))
    step: dict[str, Any] = {
        "interval": draw(text),
        "exercises": names,
        "work": draw(st.integers(2, 30)),
        "rounds": draw(st.integers(1, 3)),
        "countdown": countdown,
        "prepare": window,
        "halfway": draw(st.booleans()),
    }
    if draw(st.booleans()):
        step["rest"] = window
    return step


simple_step = st.one_of(
    text.map(lambda t: {"say": t}),
    text,  # a plain string is a say
    duration.map(lambda d: {"pause": d}),
    st.sampled_from(BUILTIN_SOUNDS).map(lambda s: {"sound": s}),
    hold(),
    breathe(),
    interval(),
    st.integers(1, 3).map(lambda n: {"breathe": {"pattern": "sigh", "cycles": n, "guide": 0}}),
)


@st.composite
def exercise(draw: st.DrawFn, body: st.SearchStrategy[list[Any]]) -> dict[str, Any]:
    step: dict[str, Any] = {"exercise": draw(text)}
    if intro := draw(st.lists(text, max_size=2)):
        step["say"] = intro
    if draw(st.booleans()):
        step["sides"] = draw(st.lists(st.sampled_from(["left", "right"]), min_size=2, max_size=3))
    if (sets := draw(st.integers(1, 3))) > 1:
        step["sets"] = sets
        if draw(st.booleans()):
            step["rest"] = draw(seconds)
    if (reps := draw(st.integers(1, 3))) > 1:
        step["reps"] = reps
    choice = draw(st.sampled_from(["rep", "hold", "none"]))
    if choice == "rep":
        step["rep"] = draw(body)
    elif choice == "hold":
        step["hold"] = draw(hold())["hold"]
    return step


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    body = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        st.builds(lambda t, s: {"section": t, "steps": s}, text, body),
        st.builds(lambda n, s: {"repeat": n, "steps": s}, st.integers(1, 3), body),
        exercise(body),
    )


steps = st.lists(st.recursive(simple_step, _containers, max_leaves=10), min_size=1, max_size=6)
valid_routine = st.builds(lambda t, s: {"title": t, "steps": s}, text, steps)
MAX_EXAMPLE_CUES = 1_000
"""Nested repeats, sets and sides multiply: keep each example small enough to check quickly."""


def _compile(doc: Any) -> tuple[Routine, Timeline]:
    routine = parse_routine(yaml.safe_dump(doc, allow_unicode=True), name=NAME)
    size = routine_size(routine)
    assume(size.cues <= MAX_EXAMPLE_CUES and size.fixed_samples <= to_samples(3600))
    return routine, compile_timeline(routine, VOICE)


@given(valid_routine)
def test_the_total_is_the_sum_of_its_parts(doc: dict[str, Any]) -> None:
    routine, timeline = _compile(doc)
    top = _top_level(timeline)
    speech = sum(c.n_samples for c in top if c.kind is CueKind.SPEECH)
    gaps = GAP * sum(c.kind is CueKind.SPEECH for c in top)
    parts = sum(c.n_samples for c in top)
    assert timeline.total_samples == to_samples(LEAD_IN_S) + parts + gaps + to_samples(TAIL_S)
    # The size check counted the same cues and the same time, without speaking.
    size = routine_size(routine)
    assert size.cues == len(timeline.cues)
    assert size.fixed_samples + speech == timeline.total_samples


@given(valid_routine)
def test_cues_never_overlap_where_they_must_not(doc: dict[str, Any]) -> None:
    _, timeline = _compile(doc)
    cursor = to_samples(LEAD_IN_S)
    window: Cue | None = None
    busy_until = 0
    for cue in timeline.cues:
        if cue.start_sample < cursor:
            # Inside the window just placed: speech only, within it, one cue after another.
            assert window is not None and cue.kind is CueKind.SPEECH
            assert window.start_sample <= cue.start_sample and cue.end_sample <= window.end_sample
            assert cue.start_sample >= busy_until
            busy_until = cue.end_sample
            continue
        # Everything else follows on exactly: no gap, no overlap (speech keeps its short breath).
        assert cue.start_sample == cursor
        cursor = cue.end_sample + (GAP if cue.kind is CueKind.SPEECH else 0)
        if cue.kind in WINDOWS:
            window, busy_until = cue, cue.start_sample
    assert timeline.total_samples == cursor + to_samples(TAIL_S)
    chapters = timeline.chapters
    if chapters:
        assert chapters[0].start_sample == 0 and chapters[-1].end_sample == timeline.total_samples
        assert all(a.end_sample == b.start_sample for a, b in itertools.pairwise(chapters))
        assert all(c.start_sample < c.end_sample for c in chapters)


def _top_level(timeline: Timeline) -> list[Cue]:
    """The cues that follow one another, without the speech placed inside windows (which always
    comes right after its window and starts before the window ends)."""
    top: list[Cue] = []
    window_end = -1
    for cue in timeline.cues:
        if cue.kind is CueKind.SPEECH and cue.start_sample < window_end:
            continue
        top.append(cue)
        window_end = cue.end_sample if cue.kind in WINDOWS else -1
    return top


# --- invalid input ------------------------------------------------------------------------------

ALL_KEYS = sorted({*all_keys(), *ENGLISH_WORDS} | {"sya", "<<", "", "steps ", "Title", "rep s"})
TRICKY = (
    "5s",
    "1:30",
    "1:3",
    "-5",
    "0",
    "1e999",
    "nan",
    "inf",
    "6h",
    "7h",
    "99999999999h",
    "4-7-8-0",
    "4-7",
    "0-0-0-0",
    "nan-1-1-1",
    "box",
    "{client}",
    "{{",
    "}",
    "{n}",
    "{0}",
    "{n.real}",
    "bell",
    "a.wav",
    "../../x.wav",
    "/etc/hosts.wav",
    "~/x.mp3",
    "true",
    "",
    " ",
    "\t",
    "&a",
    "*a",
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(10**15, 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(TRICKY),
)
junk = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(ALL_KEYS), inner, max_size=4)
    ),
    max_leaves=25,
)
step_ish = st.one_of(junk, st.dictionaries(st.sampled_from(ALL_KEYS), junk, min_size=1, max_size=3))
routine_ish = st.fixed_dictionaries(
    {"title": st.one_of(text, junk), "steps": st.one_of(st.lists(step_ish, max_size=6), junk)},
    optional={
        "vars": st.dictionaries(
            st.sampled_from(["client", "side", "n", "bad key"]), junk, max_size=3
        ),
        "words": st.dictionaries(st.sampled_from(sorted(ENGLISH_WORDS)), junk, max_size=3),
        "voice": junk,
        "author": junk,
    },
)
ONE_LINE = re.compile(rf"{re.escape(NAME)}:\d+: [^\n]+")


def _fails_cleanly_or_compiles(yaml_text: str) -> None:
    """Loading and compiling either works or raises AudioguideError naming file and line."""
    try:
        compile_timeline(parse_routine(yaml_text, name=NAME), VOICE)
    except AudioguideError as e:
        event(type(e).__name__)
        assert ONE_LINE.fullmatch(str(e)), str(e)
    else:
        event("compiled")


@given(routine_ish)
def test_wrong_types_and_values_fail_as_one_line(doc: dict[str, Any]) -> None:
    _fails_cleanly_or_compiles(yaml.safe_dump(doc, allow_unicode=True))


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, depth first."""
    found: list[tuple[Any, Any]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found.append((node, key))
        found.extend(_slots(value))
    return found


@given(valid_routine, st.data())
def test_one_wrong_value_deep_in_a_valid_routine_fails_as_one_line(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    for _ in range(data.draw(st.integers(1, 2))):
        container, key = data.draw(st.sampled_from(_slots(doc)))
        container[key] = data.draw(junk)
    _fails_cleanly_or_compiles(yaml.safe_dump(doc, allow_unicode=True))


@given(valid_routine, st.data())
def test_mangled_yaml_fails_as_one_line(doc: dict[str, Any], data: st.DataObject) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    snippets = st.sampled_from(
        [
            "\t",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            '"',
            "'",
            "&a ",
            "*a",
            "!!python/object ",
            "<<: ",
            "\n  ",
            "\n",
            "#",
            "%",
            "@",
            "`",
            "|",
            ">",
            "? ",
            "---\n",
            "\x00",
            "\ufeff",
            "\x85",
            "!include x ",
            "!!binary ",
            "!!set ",
            "!!int ",
            "9" * 5000,
        ]
    )
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(snippets) + text[at:]
    _fails_cleanly_or_compiles(text)


@given(st.text(max_size=300))
def test_any_text_fails_as_one_line(text_: str) -> None:
    _fails_cleanly_or_compiles(text_)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_any_bytes_on_disk_fail_as_one_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / NAME  # rewritten for every example, so sharing the folder is fine
    path.write_bytes(data)
    try:
        compile_timeline(load_routine(path), VOICE)
    except AudioguideError as e:
        event(type(e).__name__)
        assert re.fullmatch(rf"{re.escape(str(path))}:\d+: [^\n]+", str(e)), str(e)
