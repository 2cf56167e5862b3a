"""The routine language and the timeline as data: step kinds, `Routine`, limits and presets, and
the cues a routine compiles to. Every stage reads these types; this module imports only errors.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, assert_never

from .errors import Where
from .strings import Register

SAMPLE_RATE: Final = 44_100
"""The one sample rate inside the pipeline (audio.py converts to and from it)."""

# --- limits (docs/reliability.md) --------------------------------------------------------------
# A routine is a shared, hand-edited or generated file: these keep a mistaken or hostile one from
# taking hours or all memory.

MAX_FILE_BYTES: Final = 1_000_000
MAX_DURATION_S: Final = 6 * 3600.0
"""The longest any one duration may be, and the longest a whole routine may last."""
MAX_CUES: Final = 10_000
"""The most cues a routine may expand to, counting every repeat, rep, set and side."""
MAX_TEXT_CHARS: Final = 5_000
"""The longest text one step may speak: about five minutes of speech."""
MAX_NESTING: Final = 10
"""How deep steps may nest (a section holding an exercise whose reps hold steps is 3)."""
MAX_COUNT: Final = 1000
"""The largest repeat, reps, sets, cycles, countdown or guide."""
MAX_INCLUDE_DEPTH: Final = 5
MAX_BREATH_PHASE_S: Final = 300.0
"""The longest one breathing phase may be: long breath holds in pranayama last a few minutes."""
MAX_BREATH_HOLD_S: Final = 10.0
"""The longest breath hold a routine may ask for without `long-holds: true` on its step: a
longer hold can make people dizzy, so the author has to mean it."""
WEIL_MAX_CYCLES: Final = 4
"""Andrew Weil's advice for 4-7-8 breathing: no more than four breaths at one time at first."""
PAN_SIDES: Final = 0.6
"""How far `pan: sides` moves a side's cues: about 10 dB between the ears, clear with headphones
and still heard by someone wearing one earbud."""
BED_LEVEL_RANGE_DB: Final = (-40.0, -6.0)

# --- closed sets of names ----------------------------------------------------------------------

BUILTIN_SOUNDS: Final[tuple[str, ...]] = ("bell", "chime", "gong", "beep", "tick")
BUILTIN_BEDS: Final[tuple[str, ...]] = ("rain", "ocean", "brown", "drone")
PacerStyle = Literal["tone", "breath", "bell", "none"]
PACER_STYLES: Final[tuple[PacerStyle, ...]] = ("tone", "breath", "bell", "none")
"""How a breathe step sounds: a gliding tone, a swelling breath-like noise, a soft bell at each
phase change, or nothing but the voice."""
Phase = Literal["inhale", "hold", "exhale", "hold-empty"]
BREATH_PHASES: Final[tuple[Phase, ...]] = ("inhale", "hold", "exhale", "hold-empty")
SIDES: Final[tuple[str, ...]] = ("left", "right")
"""The sides every routine knows; a routine may name more in `words: {sides: ...}`."""

BREATH_PRESETS: Final[Mapping[str, tuple[float, float, float, float]]] = {
    "box": (4, 4, 4, 4),
    "relax": (4, 7, 8, 0),
    "4-7-8": (4, 7, 8, 0),
    "coherent": (6, 0, 6, 0),
    "resonant": (5.5, 0, 5.5, 0),
    "calm": (4, 0, 6, 0),
    "sigh": (2, 0, 6, 0),
}
"""Inhale, hold, exhale, hold-empty seconds. Coherent breathing is 5 breaths a minute, resonant
5.5 seconds each way (about 5.5 a minute); 4-7-8 is Weil's relaxing breath."""
SIGH_TOP_UP_S: Final = 1.0
"""The physiological sigh: a full inhale, a short second inhale on top, then a long exhale."""

NOWHERE: Final = Where("")


def _where() -> Any:
    # Locations are for diagnostics: two routines that say the same thing compare equal.
    return field(default=NOWHERE, compare=False, repr=False)


# --- notation ----------------------------------------------------------------------------------


def parse_duration(value: object) -> float:
    """`5`, `5.5`, `"5s"`, `"90s"`, `"2m"`, `"1m30s"`, `"1:30"` to seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    try:
        seconds = _seconds(value)
    except OverflowError:  # an integer too big for a float
        raise ValueError(value) from None
    if not math.isfinite(seconds):
        raise ValueError(value)
    return seconds


def _seconds(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    s = value.strip().lower()
    if m := re.fullmatch(r"(?:(\d+):)?(\d+):(\d{2}(?:\.\d+)?)", s):
        hours, minutes, seconds = m.groups()
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    m = re.fullmatch(
        r"(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*"
        r"(?:(\d+(?:\.\d+)?)\s*s(?:ec)?)?",
        s,
    )
    if m and any(m.groups()):
        h, mi, sec = (float(g) if g else 0.0 for g in m.groups())
        return h * 3600 + mi * 60 + sec
    return float(s)


def preset_name(value: object) -> str | None:
    name = str(value).strip().lower()
    return name if name in BREATH_PRESETS else None


def parse_pattern(value: object) -> tuple[float, float, float, float]:
    """An I-R-E-S breathing pattern (`4-7-8-0`, `4-7-8`, `5.5-0-5.5-0`) or a preset name."""
    if (name := preset_name(value)) is not None:
        return BREATH_PRESETS[name]
    parts = str(value).strip().split("-")
    if len(parts) not in (3, 4):
        raise ValueError(value)
    nums = [float(p) for p in parts] + [0.0] * (4 - len(parts))
    if not all(0 <= n <= MAX_BREATH_PHASE_S for n in nums) or nums[0] <= 0 or nums[2] <= 0:
        raise ValueError(value)  # also NaN, which fails every comparison
    return (nums[0], nums[1], nums[2], nums[3])


# --- sounds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinSound:
    """A sound made in code: one of BUILTIN_SOUNDS (a cue) or BUILTIN_BEDS (a background)."""

    name: str


@dataclass(frozen=True)
class SoundFile:
    """An audio file the user gave, already checked to exist inside an allowed folder."""

    path: Path


SoundRef = BuiltinSound | SoundFile


def sound_label(ref: SoundRef) -> str:
    """How a sound is named in plans and messages: its built-in name, or its file path."""
    return ref.name if isinstance(ref, BuiltinSound) else str(ref.path)


# --- steps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stretch:
    """A range the author marked as stretchable (`hold: 20-40s`, `cycles: 4-8`): `--length` picks
    a value in it; without it, the middle."""

    lo: float
    hi: float

    def at(self, t: float) -> float:
        return self.lo + t * (self.hi - self.lo)

    def whole(self, t: float) -> int:
        """`at` rounded half up, for counts such as cycles."""
        return int(self.at(t) + 0.5)


@dataclass(frozen=True)
class Say:
    text: str
    safety: bool = False
    """Written as `safety:`: spoken like any line, and also listed on the share page and handout."""
    where: Where = _where()


@dataclass(frozen=True)
class Pause:
    duration_s: float
    stretch: Stretch | None = None
    where: Where = _where()


@dataclass(frozen=True)
class Sound:
    sound: SoundRef
    where: Where = _where()


@dataclass(frozen=True)
class Hold:
    duration_s: float
    countdown: int = 0
    halfway: bool = False
    say: str | None = None
    stretch: Stretch | None = None
    where: Where = _where()


@dataclass(frozen=True)
class Countdown:
    """`countdown: 3`: "3", "2", "1" a second apart; the next step starts on the next beat."""

    count: int
    where: Where = _where()


@dataclass(frozen=True)
class Breathe:
    pattern: tuple[float, float, float, float]
    """Inhale, hold full, exhale, hold empty, in seconds."""
    cycles: int
    guide_cycles: int = 2
    """How many of the first cycles have their phases spoken."""
    top_up_s: float = 0.0
    """A short second inhale straight after the first (the physiological sigh); 0 for none."""
    pacer: PacerStyle | None = None
    """The pacer sound; None for the routine's."""
    stretch: Stretch | None = None
    """The range of `cycles`."""
    preset: str | None = field(default=None, compare=False)
    """The preset the pattern came from (`box`, `4-7-8`), for the handout."""
    where: Where = _where()

    @property
    def cycle_s(self) -> float:
        return sum(self.pattern) + self.top_up_s


@dataclass(frozen=True)
class Exercise:
    title: str
    intro: tuple[str, ...] = ()
    sides: tuple[str, ...] = ()
    """Side names as `sides:` gives them (`left`, `right`, or the routine's own)."""
    switch: str | None = None
    sets: int = 1
    rest_s: float = 0.0
    reps: int = 1
    body: tuple[Step, ...] = ()
    stretch: Stretch | None = None
    """The range of `rest_s`."""
    where: Where = _where()


@dataclass(frozen=True)
class Interval:
    """Clock-exact work and rest: every work period starts on its scheduled sample, with a tone,
    whatever the speech around it."""

    title: str
    work_s: float
    rest_s: float = 0.0
    rounds: int = 1
    """Times through the exercise list."""
    exercises: tuple[str, ...] = ()
    prepare_s: float = 10.0
    countdown: int = 3
    sound: SoundRef = BuiltinSound("beep")
    halfway: bool = False
    intro: tuple[str, ...] = ()
    where: Where = _where()


@dataclass(frozen=True)
class Section:
    title: str
    steps: tuple[Step, ...]
    where: Where = _where()


@dataclass(frozen=True)
class Repeat:
    times: int
    steps: tuple[Step, ...]
    where: Where = _where()


Step = Say | Pause | Sound | Hold | Countdown | Breathe | Exercise | Interval | Section | Repeat


def children(step: Step) -> tuple[Step, ...]:
    """The steps nested directly inside a step."""
    match step:
        case Section(steps=steps) | Repeat(steps=steps):
            return steps
        case Exercise(body=body):
            return body
        case Say() | Pause() | Sound() | Hold() | Countdown() | Breathe() | Interval():
            return ()
        case _:
            assert_never(step)


def walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step, nested ones included, in the order they are written (like `ast.walk`, but
    depth-first, so safety lines come out in the order they are spoken)."""
    for step in steps:
        yield step
        yield from walk(children(step))


def step_numbers(steps: tuple[Step, ...]) -> dict[int, int]:
    """Each step's place in `walk(steps)`, by the step's id(): how a timeline names the steps of
    the routine it was compiled from (a step that appears twice keeps its first place)."""
    numbers: dict[int, int] = {}
    for i, step in enumerate(walk(steps)):
        numbers.setdefault(id(step), i)
    return numbers


def with_children(step: Step, kids: tuple[Step, ...]) -> Step:
    """The step with `kids` in place of the steps nested directly inside it."""
    match step:
        case Section() | Repeat():
            return replace(step, steps=kids)
        case Exercise():
            return replace(step, body=kids)
        case Say() | Pause() | Sound() | Hold() | Countdown() | Breathe() | Interval():
            return step
        case _:
            assert_never(step)


def map_steps(steps: tuple[Step, ...], change: Callable[[Step], Step]) -> tuple[Step, ...]:
    """The steps with `change` applied to every one, innermost first."""
    return tuple(change(with_children(s, map_steps(children(s), change))) for s in steps)


def stretch_of(step: Step) -> Stretch | None:
    """The range `--length` may move in a step (its duration, rest or cycles), if it has one."""
    match step:
        case Pause(stretch=s) | Hold(stretch=s) | Breathe(stretch=s) | Exercise(stretch=s):
            return s
        case Say() | Sound() | Countdown() | Interval() | Section() | Repeat():
            return None
        case _:
            assert_never(step)


def sounds_of(step: Step) -> tuple[SoundRef, ...]:
    """The sounds a step names itself (not those of the steps inside it)."""
    match step:
        case Sound(sound=sound) | Interval(sound=sound):
            return (sound,)
        case Say() | Pause() | Hold() | Countdown() | Breathe() | Exercise() | Section() | Repeat():
            return ()
        case _:
            assert_never(step)


# --- the routine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bed:
    """A background sound under the whole session (rain, a drone, a file), ducked under speech."""

    sound: SoundRef
    level_db: float = -18.0
    """The bed's loudness between cues, in LU relative to the voice."""
    where: Where | None = field(default=None, compare=False, repr=False)
    """The routine's `bed:` line; None for a bed named with --bed."""


@dataclass(frozen=True)
class VoiceSettings:
    engine: str | None = None
    name: str | None = None
    rate: int | None = None


@dataclass(frozen=True)
class Clinic:
    """Who the practitioner is, for the page, the handout and the track's artist tag."""

    name: str
    contact: str = ""
    logo: Path | None = None


@dataclass(frozen=True)
class Client:
    """Who a track is for: named on its page, handout, cover and tags."""

    name: str
    feed_url: str | None = None
    """The client's private podcast feed, when the track belongs to a program."""
    page_url: str | None = None
    """Their subscribe page, where a QR code on paper leads: it plays the sessions in the
    browser too, for a client with no podcast app (a phone shows a feed's XML as text)."""
    date: dt.date | None = None
    """The session's date (its release in a program); None for the day it is built."""
    spoken: str = ""
    """How the voice says the name where it is not written as it is said (a clients file's
    `spoken` column); "" for as written."""

    @property
    def pronounce(self) -> tuple[Pronunciation, ...]:
        """The name as a lexicon entry, when it is said otherwise than written."""
        said = self.spoken.strip()
        return (Pronunciation(self.name, say=said),) if said and said != self.name else ()


@dataclass(frozen=True)
class Pronunciation:
    """How one word or name is said (a routine's `pronounce:`, the user's lexicon, a clients
    file's `spoken` column): a respelling any engine reads, and phonemes for the engines that
    take them, each in its own alphabet (voices/lexicon.py applies them)."""

    word: str
    say: str = ""
    """A respelling, e.g. `vrik-SHAHS-uh-nuh`: read by every engine; "" to leave the word as it
    is for an engine given no phonemes."""
    espeak: str = ""
    """espeak-ng's phoneme letters, e.g. `vr'Ik S'A:s@n@` (the system voice on Linux)."""
    piper: str = ""
    """IPA as Piper's espeak phonemizer writes it (`espeak-ng -q --ipa`): Piper voices."""
    hibari: str = ""
    """misaki's phonemes as hibari's phonemizer writes them: natural:heart."""
    where: Where = _where()


@dataclass(frozen=True)
class Routine:
    title: str
    steps: tuple[Step, ...]
    author: str = ""
    description: str = ""
    voice: VoiceSettings = VoiceSettings()
    language: str = "en"
    register: Register | None = None
    """`formal` or `informal` (vous/tu, usted/tú, Sie/du); None for its language's default."""
    words: Mapping[str, str] = field(default_factory=dict)
    """The routine's own `words:`, over its language's string table."""
    side_names: Mapping[str, str] = field(default_factory=dict)
    """How each side name is spoken, over the language's (`left` -> "izquierdo")."""
    path: Path | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()
    """Written notes for the share page and handout; never spoken."""
    cover: Path | None = None
    """The routine's own cover image (PNG or JPEG); None for a generated one."""
    bed: Bed | None = None
    pacer: PacerStyle = "tone"
    """The breathing pacer's sound for every breathe step that does not choose its own."""
    pan_sides: bool = False
    """`pan: sides`: an exercise's left side is heard from the left, its right from the right."""
    clinic: Clinic | None = None
    pronounce: tuple[Pronunciation, ...] = ()
    """How words are said, the user's lexicon first and the routine's own after (which win)."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """Things that build but deserve a second look, e.g. more 4-7-8 breaths than Weil advises."""

    @property
    def safety(self) -> tuple[str, ...]:
        """The routine's `safety:` lines, in the order they are spoken."""
        lines = (s.text for s in walk(self.steps) if isinstance(s, Say) and s.safety)
        return tuple(dict.fromkeys(lines))

    @property
    def where(self) -> Where:
        return Where(str(self.path) if self.path else "<routine>")


def named_files(routine: Routine) -> list[Path]:
    """Every file a routine reads besides itself: sound files, a bed file, its cover, the
    clinic's logo."""
    refs = [ref for step in walk(routine.steps) for ref in sounds_of(step)]
    if routine.bed is not None:
        refs.append(routine.bed.sound)
    files = [r.path for r in refs if isinstance(r, SoundFile)]
    files += [p for p in (routine.cover, routine.clinic.logo if routine.clinic else None) if p]
    return sorted(set(files))


def breath_phases(b: Breathe) -> list[tuple[Phase, str, float]]:
    """One cycle of a breathe step: (phase, word, seconds) for each phase that lasts. A sigh's
    second inhale is an inhale to the pacer, with its own spoken cue."""
    phases: list[tuple[Phase, str, float]] = [
        (phase, phase, seconds)
        for phase, seconds in zip(BREATH_PHASES, b.pattern, strict=True)
        if seconds > 0
    ]
    if b.top_up_s > 0:
        phases.insert(1, ("inhale", "top-up", b.top_up_s))
    return phases
