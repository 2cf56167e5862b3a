"""Load stage: a routine file (YAML) becomes a validated, frozen `Routine`.

Raw YAML never leaves this module. Every step keeps where it came from, so every message can read
`morning.yaml:12: step 3: 'pause' needs a duration like 5s, got "ten"`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from .beds import resolve_bed
from .errors import AudioguideError, RoutineError
from .sounds import PACER_STYLES, resolve_sound

# The limits a routine must stay within (docs/reliability.md). A routine is a shared, hand-edited
# or generated file: these keep a mistaken or hostile one from taking hours or all memory.
MAX_FILE_BYTES: Final = 1_000_000
MAX_DURATION_S: Final = 6 * 3600.0
"""The longest any one duration may be, and the longest a whole routine may last."""
MAX_CUES: Final = 10_000
"""The most cues a routine may expand to, counting every repeat, rep, set and side."""
MAX_TEXT_CHARS: Final = 5_000
"""The longest text one step may speak: about five minutes of speech."""
MAX_NESTING: Final = 10
"""How deep steps may nest (a section holding an exercise whose reps hold steps is 3)."""
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

# Words the tool speaks on its own; a routine's `words:` block overrides them (another language).
DEFAULT_WORDS: Final[Mapping[str, str]] = {
    "exercise": "{name}.",
    "side": "{side} side.",
    "switch": "Switch sides.",
    "set": "Set {n} of {total}.",
    "rest": "Rest.",
    "rep": "{n}.",
    "halfway": "Halfway.",
    "countdown": "{n}",
    "inhale": "Breathe in.",
    "hold": "Hold.",
    "exhale": "Breathe out.",
    "hold-empty": "Hold.",
    "top-up": "More.",
    "introduction": "Introduction",
    "ready": "Get ready. First: {name}.",
    "next": "Rest. Next: {name}.",
    "round": "Rest. Next: round {n} of {total}.",
    "done": "And stop. Well done.",
}

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


@dataclass(frozen=True)
class Where:
    """A step's source location, for messages only."""

    file: str
    line: int
    step: str = ""

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: step {self.step}"
            if self.step
            else f"{self.file}:{self.line}"
        )


_NOWHERE: Final = Where("", 0)


def _where() -> Any:
    # Locations are for diagnostics: two routines that say the same thing compare equal.
    return field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Say:
    text: str
    where: Where = _where()
    safety: bool = False
    """Written as `safety:`: spoken like any line, and also listed on the share page and handout."""


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
class Pause:
    duration_s: float
    where: Where = _where()
    stretch: Stretch | None = None


@dataclass(frozen=True)
class Sound:
    sound: str
    """A built-in name or an absolute file path (see sounds.resolve_sound)."""
    where: Where = _where()


@dataclass(frozen=True)
class Hold:
    duration_s: float
    countdown: int = 0
    halfway: bool = False
    say: str | None = None
    where: Where = _where()
    stretch: Stretch | None = None


@dataclass(frozen=True)
class Breathe:
    pattern: tuple[float, float, float, float]
    """Inhale, hold full, exhale, hold empty, in seconds."""
    cycles: int
    guide_cycles: int = 2
    """How many of the first cycles have their phases spoken."""
    where: Where = _where()
    top_up_s: float = 0.0
    """A short second inhale straight after the first (the physiological sigh); 0 for none."""
    pacer: str | None = None
    """The pacer sound (sounds.PACER_STYLES); None for the routine's."""
    stretch: Stretch | None = None
    """The range of `cycles`."""


@dataclass(frozen=True)
class Exercise:
    title: str
    intro: tuple[str, ...] = ()
    sides: tuple[str, ...] = ()
    switch: str | None = None
    sets: int = 1
    rest_s: float = 0.0
    reps: int = 1
    body: tuple[Step, ...] = ()
    where: Where = _where()
    stretch: Stretch | None = None
    """The range of `rest_s`."""


@dataclass(frozen=True)
class Interval:
    """Clock-exact work and rest: every work period starts on its scheduled sample, with a tone,
    whatever the speech around it."""

    title: str
    work_s: float
    rest_s: float
    rounds: int
    """Times through the exercise list."""
    exercises: tuple[str, ...]
    prepare_s: float = 10.0
    countdown: int = 3
    sound: str = "beep"
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


Step = Say | Pause | Sound | Hold | Breathe | Exercise | Interval | Section | Repeat


@dataclass(frozen=True)
class Bed:
    """A background sound under the whole session (rain, a drone, a file), ducked under speech."""

    sound: str
    """A built-in bed name (beds.BUILTIN_BEDS) or the absolute path of an audio file."""
    level_db: float = -18.0
    """The bed's level between cues, in dB relative to the voice (its RMS against speech's)."""
    where: Where | None = field(default=None, compare=False, repr=False)
    """The routine's `bed:` line; None for a bed named with --bed."""


@dataclass(frozen=True)
class VoiceSettings:
    engine: str | None = None
    name: str | None = None
    rate: int | None = None


@dataclass(frozen=True)
class Routine:
    title: str
    steps: tuple[Step, ...]
    author: str = ""
    description: str = ""
    voice: VoiceSettings = VoiceSettings()
    words: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_WORDS))
    path: Path | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()
    """Written notes for the share page and handout; never spoken."""
    cover: Path | None = None
    """The routine's own cover image (PNG or JPEG); None for a generated one."""
    bed: Bed | None = None
    pacer: str = "tone"
    """The breathing pacer's sound for every breathe step that does not choose its own."""
    pan_sides: bool = False
    """`pan: sides`: an exercise's left side is heard from the left, its right from the right."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """Things that build but deserve a second look, e.g. more 4-7-8 breaths than Weil advises."""

    @property
    def safety(self) -> tuple[str, ...]:
        """The routine's `safety:` lines, in the order they are spoken."""
        return tuple(dict.fromkeys(_safety_lines(self.steps)))


def _safety_lines(steps: tuple[Step, ...]) -> list[str]:
    lines: list[str] = []
    for step in steps:
        if isinstance(step, Say) and step.safety:
            lines.append(step.text)
        elif isinstance(step, Section | Repeat):
            lines += _safety_lines(step.steps)
        elif isinstance(step, Exercise):
            lines += _safety_lines(step.body)
    return lines


def load_routine(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    *,
    sound_dirs: Sequence[Path] = (),
) -> Routine:
    """Read and validate a routine file; `variables` override the routine's own `vars`.

    Sound files are read only from the routine's folder and the `sound_dirs` the user names, so a
    shared routine cannot make the tool read any other file."""
    path = Path(path)
    text = _read_text(path)
    return parse_routine(
        text,
        name=str(path),
        base_dir=path.parent,
        variables=variables,
        path=path,
        sound_dirs=sound_dirs,
    )


def parse_routine(
    text: str,
    *,
    name: str = "<routine>",
    base_dir: Path = Path(),
    variables: Mapping[str, str] | None = None,
    path: Path | None = None,
    sound_dirs: Sequence[Path] = (),
) -> Routine:
    doc = _parse_yaml(text, name)
    parser = _Parser(name, base_dir, variables or {}, tuple(sound_dirs))
    try:
        return parser.routine(doc, path)
    except RecursionError:
        # MAX_NESTING stops steps well before this; other YAML values have no depth of their own.
        raise RoutineError(
            f"{name}:1: the routine nests too deeply; a routine needs only a few levels: flatten it"
        ) from None


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


def parse_pattern(value: object) -> tuple[float, float, float, float]:
    """An I-R-E-S breathing pattern (`4-7-8-0`, `4-7-8`, `5.5-0-5.5-0`) or a preset name."""
    if isinstance(value, str) and value.strip().lower() in BREATH_PRESETS:
        return BREATH_PRESETS[value.strip().lower()]
    parts = str(value).strip().split("-")
    if len(parts) not in (3, 4):
        raise ValueError(value)
    nums = [float(p) for p in parts] + [0.0] * (4 - len(parts))
    if not all(0 <= n <= MAX_BREATH_PHASE_S for n in nums) or nums[0] <= 0 or nums[2] <= 0:
        raise ValueError(value)  # also NaN, which fails every comparison
    return (nums[0], nums[1], nums[2], nums[3])


# --- YAML with line numbers -------------------------------------------------------------------


class _Map(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _List(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """The safe loader, keeping the line of every mapping, key and list item.

    A routine holds only text, numbers, true/false, lists and mappings: every other YAML type
    (sets, binary, merge keys, !!python/... tags) is refused with the line it is on, and a value
    Python cannot hold (`!!int abc`, a 5,000-digit number) becomes a RoutineError, not a crash.
    Aliases (*name) are kept: PyYAML itself writes them for data used twice, so generated routines
    have them. Each is built once here; the parser counts them in full against MAX_CUES.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError):
            where = f"{self.name}:{node.start_mark.line + 1}"
            if isinstance(node.value, str) and node.value.lstrip("+-").isdigit():
                raise RoutineError(
                    f"{where}: a {len(node.value)}-digit number is too long to read: "
                    "write a smaller one"
                ) from None
            raise RoutineError(
                f"{where}: cannot read {_show(node.value)} as {_short_tag(node.tag)}: remove the "
                "tag, or write a plain number"
            ) from None

    def _map(self, node: yaml.MappingNode) -> _Map:
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise RoutineError(
                    f"{self.name}:{line}: invalid YAML: merge keys (<<) are not supported in a "
                    "routine: write the keys out"
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise RoutineError(
                    f"{self.name}:{line}: keys must be words, got {_show(key)}: "
                    "write e.g. 'say: Hello.'"
                )
            if key in out:
                raise RoutineError(
                    f"{self.name}:{line}: '{key}' appears twice in one block: keep one"
                )
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = line
        return out

    def _seq(self, node: yaml.SequenceNode) -> _List:
        out = _List(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    def _plain_text(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def _refuse(self, node: yaml.Node) -> Any:
        raise RoutineError(
            f"{self.name}:{node.start_mark.line + 1}: invalid YAML: the tag "
            f"{_short_tag(node.tag)} is not allowed in a routine: remove it (a routine holds only "
            "text, numbers, lists and mappings)"
        )


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


_EMPTY: Final = _Map()
_EMPTY.key_lines = {}

_Loader.add_constructor("tag:yaml.org,2002:map", _Loader._map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader._seq)
# A date-like title ("2024-05-01 session") is text, not a timestamp.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader._plain_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader._refuse)
_Loader.add_constructor(None, _Loader._refuse)  # any other tag, e.g. !!python/object


def _read_text(path: Path) -> str:
    try:
        # Looked at before opening: opening a FIFO would wait for a writer forever.
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise RoutineError(f"{path}: is a folder; give a routine .yaml file")
        if not stat.S_ISREG(mode):
            raise RoutineError(f"{path}: not a regular file; give a routine .yaml file")
        with path.open("rb") as f:
            # One byte past the limit tells all; the size on disk can change under us.
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise RoutineError(
            f"{path}: no such file; `audioguide list` shows the bundled routines"
        ) from None
    except OSError as e:
        raise RoutineError(
            f"{path}: cannot read it ({e.strerror or e}); check that you may read it"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        line = data[:MAX_FILE_BYTES].count(b"\n") + 1
        raise RoutineError(
            f"{path}:{line}: the file is over {MAX_FILE_BYTES // 1000:,} kB by this line; a "
            "routine is a short text file: check that this is the right file, or split it"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RoutineError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def _parse_yaml(text: str, name: str) -> Any:
    try:
        loader = _Loader(text)  # the reader checks every character here
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise RoutineError(
            f"{name}:{line}: not a text file: it holds the control character #x{e.character:04x}, "
            "which YAML does not allow; remove it, or check that this is the right file"
        ) from None
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        raise RoutineError(f"{name}:{_yaml_problem(e)}") from None
    except yaml.YAMLError as e:
        raise RoutineError(f"{name}:1: invalid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:
        line = loader.get_mark().line + 1
        raise RoutineError(
            f"{name}:{line}: invalid YAML: lists or mappings nest too deeply here; a routine needs "
            "only a few levels: flatten it"
        ) from None
    finally:
        loader.dispose()


def _yaml_problem(e: yaml.MarkedYAMLError) -> str:
    """`line: invalid YAML: what; what to do` for a syntax error."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else 1
    problem = " ".join((e.problem or "").split())
    context = " ".join((e.context or "").split())
    if "unconstructable recursive node" in problem:
        return (
            f"{line}: invalid YAML: an alias (*name) is used inside the block it names, so it "
            "never ends: write the steps out, or use 'repeat:'"
        )
    if "found duplicate anchor" in context:
        return f"{line}: invalid YAML: {context.split(';')[0]}: give each &anchor its own name"
    if "found undefined alias" in problem:
        return f"{line}: invalid YAML: {problem}: define it with &name before using *name"
    if "another document" in problem:
        return (
            f"{line}: invalid YAML: a second document starts here: a routine is one YAML "
            "document: remove this '---' and what follows, or move it to its own file"
        )
    opened = e.context_mark.line + 1 if e.context_mark else line
    if "while scanning a quoted scalar" in context:
        # Found where the file ends; the line that opens the quote is the one to fix.
        return f"{opened}: invalid YAML: this line opens a quote that is never closed: close it"
    if "while parsing a flow" in context:
        bracket = "[" if "sequence" in context else "{"
        return (
            f"{line}: invalid YAML: the {bracket} opened on line {opened} is not closed before "
            f"this line: close it, or put text that contains brackets in quotes"
        )
    if "expected <block end>" in problem:
        return (
            f"{line}: invalid YAML: this line does not line up with the ones above it: indent "
            "each key of one block by the same number of spaces"
        )
    if "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "put text that contains ': ' in quotes, or check the indentation"
    else:
        hint = "check the indentation and quoting on this line or the one above"
    return f"{line}: invalid YAML: {problem or 'not valid YAML'}; {hint}"


# --- validation -------------------------------------------------------------------------------

_KINDS: Final = (
    "say",
    "safety",
    "pause",
    "sound",
    "hold",
    "breathe",
    "exercise",
    "interval",
    "section",
    "repeat",
    "include",
)
_EXTRA_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "exercise": ("say", "sides", "switch", "sets", "rest", "reps", "rep", "hold"),
    "interval": (
        "say",
        "work",
        "rest",
        "rounds",
        "exercises",
        "prepare",
        "countdown",
        "sound",
        "halfway",
    ),
    "section": ("steps",),
    "repeat": ("steps",),
}
_TOP_KEYS: Final = (
    "title",
    "author",
    "description",
    "notes",
    "cover",
    "voice",
    "vars",
    "words",
    "bed",
    "pacer",
    "pan",
    "steps",
)
_INCLUDED_KEYS: Final = ("title", "author", "description", "notes", "steps")
"""What an included file may hold: its steps, and text that documents them."""
MAX_INCLUDE_DEPTH: Final = 5
_COVER_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
MAX_COVER_BYTES: Final = 5_000_000
_HOLD_KEYS: Final = ("duration", "countdown", "halfway", "say")
_BREATHE_KEYS: Final = ("pattern", "cycles", "duration", "guide", "pacer", "long-holds")
_BED_KEYS: Final = ("sound", "level")
_VOICE_KEYS: Final = ("engine", "name", "rate")
_VAR: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_WORD_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "exercise": ("name",),
    "side": ("side",),
    "set": ("n", "total"),
    "rep": ("n",),
    "countdown": ("n",),
    "ready": ("name",),
    "next": ("name",),
    "round": ("n", "total"),
}


def _unknown(key: str, allowed: tuple[str, ...] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(allowed)
    return f"unknown key '{key}': {hint}"


class _Parser:
    def __init__(
        self,
        name: str,
        base_dir: Path,
        overrides: Mapping[str, str],
        sound_dirs: tuple[Path, ...] = (),
    ) -> None:
        self.name = name
        self.base_dir = base_dir
        self.overrides = overrides
        self.sound_dirs = sound_dirs
        self.vars: dict[str, str] = {}
        self.warnings: list[str] = []
        self.pacer = "tone"
        self.including: tuple[Path, ...] = ()
        """The files being included, outermost first, to refuse a file that includes itself."""
        self.cues = 0
        """Cues met so far: a lower bound on what the routine expands to, aliases counted in
        full, so a billion-laughs routine stops here after MAX_CUES steps, not 10**9."""

    def fail(self, where: Where, message: str) -> RoutineError:
        return RoutineError(f"{where}: {message}")

    def routine(self, doc: Any, path: Path | None) -> Routine:
        top = Where(self.name, getattr(doc, "line", 1))
        if not isinstance(doc, _Map):
            raise self.fail(
                top,
                "a routine is a mapping with 'title' and 'steps'; see "
                "docs/routines.md for an example",
            )
        for key in doc:
            if key not in _TOP_KEYS:
                raise self.fail(self._at(doc, key), _unknown(key, _TOP_KEYS))
        self.vars = self._vars(doc)
        words = dict(DEFAULT_WORDS)
        if "words" in doc:
            given = doc["words"]
            if not isinstance(given, _Map):
                raise self.fail(
                    self._at(doc, "words"),
                    "'words' maps names to phrases, e.g. words: {switch: Cambia de lado.}",
                )
            for key, value in given.items():
                if key not in DEFAULT_WORDS:
                    raise self.fail(self._at(given, key), _unknown(key, DEFAULT_WORDS))
                words[key] = self._word(key, value, self._at(given, key))
        title = self._text(doc.get("title"), self._at(doc, "title"), "title")
        if "steps" not in doc:
            raise self.fail(top, "the routine has no 'steps'; add a list of steps")
        self.pacer = self._pacer(doc, "pacer", "tone")
        if path is not None:
            self.including = (path.resolve(),)
        steps = self._steps(doc["steps"], self._at(doc, "steps"), prefix="")
        return Routine(
            title=title,
            steps=steps,
            author=self._optional_text(doc, "author"),
            description=self._optional_text(doc, "description"),
            notes=self._notes(doc),
            cover=self._cover(doc),
            voice=self._voice(doc),
            words=words,
            path=path,
            bed=self._bed(doc),
            pacer=self.pacer,
            pan_sides=self._pan(doc),
            warnings=tuple(self.warnings),
        )

    def _bed(self, doc: _Map) -> Bed | None:
        if "bed" not in doc:
            return None
        raw, where = doc["bed"], self._at(doc, "bed")
        spec = raw if isinstance(raw, _Map) else {"sound": raw}
        for key in spec:
            if key not in _BED_KEYS:
                raise self.fail(self._at(raw, key), _unknown(key, _BED_KEYS))
        if "sound" not in spec:
            raise self.fail(where, "'bed' needs a sound, e.g. bed: {sound: rain, level: -18}")
        ref = self._text(spec["sound"], where, "bed", template=False)
        try:
            sound = resolve_bed(ref, self.base_dir, allowed=self.sound_dirs)
        except AudioguideError as e:
            raise self.fail(where, f"bed: {e}") from None
        level = spec.get("level", Bed.level_db)
        if isinstance(level, bool) or not isinstance(level, int | float) or not -40 <= level <= -6:
            raise self.fail(
                where,
                "the bed's level is dB under the voice, from -40 to -6 (e.g. level: -18), "
                f"got {_show(level)}",
            )
        return Bed(sound, float(level), where)

    def _pacer(self, raw: _Map, key: str, default: str) -> str:
        value = raw.get(key, default)
        if value not in PACER_STYLES:
            raise self.fail(
                self._at(raw, key),
                f"'pacer' is one of {', '.join(PACER_STYLES)}, got {_show(value)}",
            )
        return str(value)

    def _pan(self, doc: _Map) -> bool:
        value = doc.get("pan", "none")
        if value not in ("sides", "none"):
            raise self.fail(
                self._at(doc, "pan"),
                f"'pan' is sides (left-side cues from the left, right from the right) or none, "
                f"got {_show(value)}",
            )
        return bool(value == "sides")

    def _word(self, key: str, value: Any, where: Where) -> str:
        """A phrase from `words:`; only its own placeholders, so filling it in cannot fail."""
        text = self._text(value, where, key, template=False)
        allowed = _WORD_FIELDS.get(key, ())
        can = " and ".join(f"{{{f}}}" for f in allowed) or "no {placeholders}"
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)]
        except ValueError:
            fields = [("", "?", None)]  # a lone brace
        for f, spec, conv in fields:
            if f is not None and (f not in allowed or spec or conv):
                raise self.fail(
                    where,
                    f"'{key}' in 'words' can use {can}, got {_show(text)}; write {{{{ and }}}} "
                    "for literal braces",
                )
        return text

    def _spend(self, n: int, where: Where) -> None:
        self.cues += n
        if self.cues > MAX_CUES:
            raise self.fail(
                where,
                f"the routine has more than {MAX_CUES:,} cues by this step (every *alias "
                "counted in full), the most a routine may have: split it into several routines",
            )

    def _at(self, m: _Map, key: str, step: str = "") -> Where:
        return Where(self.name, m.key_lines.get(key, m.line), step)

    def _vars(self, doc: _Map) -> dict[str, str]:
        raw = doc.get("vars", _EMPTY)
        if not isinstance(raw, _Map):
            raise self.fail(
                self._at(doc, "vars"), "'vars' maps names to values, e.g. vars: {client: friend}"
            )
        out: dict[str, str] = {}
        for key, value in raw.items():
            if not re.fullmatch(r"\w+", key) or isinstance(value, dict | list) or value is None:
                raise self.fail(
                    self._at(raw, key),
                    f"var '{key}' needs a plain name and a value, e.g. client: friend",
                )
            out[key] = str(value)
        for key, value in self.overrides.items():
            if key not in out:
                known = ", ".join(out) or "none"
                raise RoutineError(
                    f"{self.name}: --var {key}: the routine has no var '{key}' "
                    f"(its vars: {known}); add it under 'vars:'"
                )
            out[key] = value
        return out

    def _voice(self, doc: _Map) -> VoiceSettings:
        raw = doc.get("voice")
        if raw is None:
            return VoiceSettings()
        where = self._at(doc, "voice")
        if not isinstance(raw, _Map):
            raise self.fail(where, "'voice' is a mapping, e.g. voice: {rate: 150}")
        for key in raw:
            if key not in _VOICE_KEYS:
                raise self.fail(self._at(raw, key), _unknown(key, _VOICE_KEYS))
        rate = raw.get("rate")
        if rate is not None and (
            not isinstance(rate, int) or isinstance(rate, bool) or not 60 <= rate <= 400
        ):
            raise self.fail(
                self._at(raw, "rate"),
                f"voice rate is words per minute from 60 to 400, got {rate!r}",
            )
        engine, name = raw.get("engine"), raw.get("name")
        return VoiceSettings(
            engine=None if engine is None else str(engine),
            name=None if name is None else str(name),
            rate=rate,
        )

    def _cover(self, doc: _Map) -> Path | None:
        if "cover" not in doc:
            return None
        where = self._at(doc, "cover")
        name = self._text(doc["cover"], where, "cover", template=False)
        path = (self.base_dir / name).resolve()
        folders = (self.base_dir, *self.sound_dirs)
        if not any(path.is_relative_to(folder.resolve()) for folder in folders):
            raise self.fail(
                where,
                f"the cover {name} is outside the routine's folder; put it next to the routine",
            )
        if path.suffix.lower() not in _COVER_SUFFIXES:
            raise self.fail(where, f"the cover {name} must be a .png or .jpg image")
        if not path.is_file() or path.stat().st_size > MAX_COVER_BYTES:
            raise self.fail(
                where,
                f"the cover {name} is not an image file of at most 5 MB "
                f"next to the routine ({path})",
            )
        return path

    def _notes(self, doc: _Map) -> tuple[str, ...]:
        raw = doc.get("notes", [])
        where = self._at(doc, "notes")
        items = raw if isinstance(raw, list) else [raw]
        return tuple(self._text(item, where, "notes") for item in items)

    def _optional_text(self, doc: _Map, key: str) -> str:
        return self._text(doc[key], self._at(doc, key), key) if key in doc else ""

    def _text(self, value: Any, where: Where, what: str, *, template: bool = True) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            raise self.fail(where, f"'{what}' needs some text, got {_show(value)}")
        text = " ".join(str(value).split())
        text = self._fill(text, where) if template else text
        if len(text) > MAX_TEXT_CHARS:
            raise self.fail(
                where,
                f"'{what}' is {len(text):,} characters long, over the {MAX_TEXT_CHARS:,} one "
                "step may have: split it into several steps",
            )
        return text

    def _fill(self, text: str, where: Where) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            name = m.group(1)
            if name not in self.vars:
                known = ", ".join(self.vars) or "none"
                raise self.fail(
                    where,
                    f"'{{{name}}}' is not a var (vars: {known}); add it "
                    "under 'vars:' or write {{ and }} for literal braces",
                )
            return self.vars[name]

        return _VAR.sub(sub, text)

    def _steps(self, raw: Any, where: Where, prefix: str, what: str = "steps") -> tuple[Step, ...]:
        if not isinstance(raw, _List) or not raw:
            raise self.fail(where, f"'{what}' needs a list of steps, got {_show(raw)}")
        if prefix.count(".") >= MAX_NESTING:
            raise self.fail(
                where,
                f"steps nest more than {MAX_NESTING} levels deep here: flatten the routine",
            )
        steps: list[Step] = []
        for i, (item, line) in enumerate(zip(raw, raw.item_lines, strict=True), start=1):
            where = Where(self.name, line, f"{prefix}{i}")
            if isinstance(item, _Map) and "include" in item:
                steps += self._include(item, where)
            else:
                steps.append(self._step(item, where))
        return tuple(steps)

    def _include(self, raw: _Map, where: Where) -> tuple[Step, ...]:
        """The steps of another file, in place of this one; its messages name that file."""
        for key in raw:
            if key != "include":
                raise self.fail(
                    self._at(raw, key, where.step),
                    f"an include step holds only 'include', got '{key}': put it in a step of "
                    "its own",
                )
        name = self._text(raw["include"], where, "include", template=False)
        path = (self.base_dir / name).resolve()
        folders = (self.base_dir, *self.sound_dirs)
        if not any(path.is_relative_to(folder.resolve()) for folder in folders):
            raise self.fail(
                where,
                f"the included file {name} is outside the routine's folder; put it next to "
                "the routine",
            )
        if path in self.including:
            chain = " -> ".join(p.name for p in (*self.including, path))
            raise self.fail(where, f"{name} includes itself ({chain}): remove one include")
        if len(self.including) > MAX_INCLUDE_DEPTH:
            raise self.fail(
                where,
                f"includes nest more than {MAX_INCLUDE_DEPTH} files deep here: include the "
                "inner files directly",
            )
        shown = os.path.normpath(Path(self.name).parent / name)
        if not path.is_file():
            raise self.fail(where, f"cannot include {name}: no such file ({path})")
        try:
            text = _read_text(path)
        except RoutineError as e:
            raise self.fail(where, f"cannot include {name}: {e}") from None
        doc = _parse_yaml(text, shown)
        child = _Parser(shown, path.parent, self.overrides, (self.base_dir, *self.sound_dirs))
        child.vars, child.pacer, child.cues = self.vars, self.pacer, self.cues
        child.including, child.warnings = (*self.including, path), self.warnings
        if isinstance(doc, _Map):
            for key in doc:
                if key not in _INCLUDED_KEYS:
                    raise child.fail(
                        child._at(doc, key),
                        f"an included file holds steps; '{key}' belongs in the main routine"
                        if key in _TOP_KEYS
                        else _unknown(key, _INCLUDED_KEYS),
                    )
            steps_raw, steps_at = doc.get("steps"), child._at(doc, "steps")
        else:
            steps_raw, steps_at = doc, Where(shown, getattr(doc, "line", 1))
        steps = child._steps(steps_raw, steps_at, prefix="")
        self.cues = child.cues
        return steps

    def _step(self, raw: Any, where: Where) -> Step:
        if isinstance(raw, str):
            self._spend(1, where)
            return Say(self._text(raw, where, "say"), where)
        if not isinstance(raw, _Map):
            raise self.fail(where, f"a step is a mapping like 'say: Hello.', got {_show(raw)}")
        kinds = [k for k in raw if k in _KINDS]
        if not kinds:
            key = next(iter(raw), "")
            raise self.fail(
                where,
                _unknown(key, _KINDS)
                if key
                else "empty step: give it a kind, e.g. 'say: Hello.', or remove it",
            )
        kind = (
            "exercise"
            if "exercise" in kinds
            else "section"
            if "section" in kinds
            else ("repeat" if "repeat" in kinds else kinds[0])
        )
        allowed = (kind, *_EXTRA_KEYS.get(kind, ()))
        for key in raw:
            if key not in allowed:
                if key in _KINDS:
                    raise self.fail(
                        self._at(raw, key, where.step),
                        f"one step cannot be both '{kind}' and '{key}': split it into two steps",
                    )
                raise self.fail(self._at(raw, key, where.step), _unknown(key, allowed))
        if kind not in ("section", "repeat"):  # those add no cue of their own
            self._spend(1, where)
        value = raw[kind]
        return getattr(self, "_" + kind)(raw, value, where)  # type: ignore[no-any-return]

    def _say(self, raw: _Map, value: Any, where: Where) -> Say:
        return Say(self._text(value, where, "say"), where)

    def _safety(self, raw: _Map, value: Any, where: Where) -> Say:
        return Say(self._text(value, where, "safety"), where, safety=True)

    def _pause(self, raw: _Map, value: Any, where: Where) -> Pause:
        seconds, stretch = self._duration_span(value, where, "pause")
        return Pause(seconds, where, stretch)

    def _sound(self, raw: _Map, value: Any, where: Where) -> Sound:
        try:
            ref = self._text(value, where, "sound")
            return Sound(resolve_sound(ref, self.base_dir, allowed=self.sound_dirs), where)
        except AudioguideError as e:
            raise self.fail(where, str(e)) from None

    def _hold(self, raw: _Map, value: Any, where: Where) -> Hold:
        if not isinstance(value, _Map):
            seconds, stretch = self._duration_span(value, where, "hold")
            return Hold(seconds, where=where, stretch=stretch)
        for key in value:
            if key not in _HOLD_KEYS:
                raise self.fail(self._at(value, key, where.step), _unknown(key, _HOLD_KEYS))
        if "duration" not in value:
            raise self.fail(where, "'hold' needs a duration, e.g. hold: {duration: 30s}")
        countdown = value.get("countdown", 0)
        if countdown is True:
            countdown = 3
        countdown = self._count(countdown, where, "countdown", minimum=0)
        halfway = value.get("halfway", False)
        if not isinstance(halfway, bool):
            raise self.fail(where, f"'halfway' is true or false, got {_show(halfway)}")
        say = value.get("say")
        seconds, stretch = self._duration_span(value["duration"], where, "hold")
        return Hold(
            duration_s=seconds,
            countdown=countdown,
            halfway=halfway,
            say=None if say is None else self._text(say, where, "say"),
            where=where,
            stretch=stretch,
        )

    def _breathe(self, raw: _Map, value: Any, where: Where) -> Breathe:
        if isinstance(value, _Map):
            spec: dict[str, Any] = value
            for key in value:
                if key not in _BREATHE_KEYS:
                    raise self.fail(self._at(value, key, where.step), _unknown(key, _BREATHE_KEYS))
        else:
            spec = {"pattern": value}
        name = str(spec.get("pattern")).strip().lower()
        try:
            pattern = parse_pattern(spec.get("pattern"))
        except ValueError:
            presets = ", ".join(BREATH_PRESETS)
            raise self.fail(
                where,
                f"'breathe' needs a pattern like 4-7-8-0 (inhale-hold-exhale-hold seconds, "
                f"each at most {MAX_BREATH_PHASE_S:g}) or a preset ({presets}), got "
                f"{_show(spec.get('pattern'))}",
            ) from None
        top_up = SIGH_TOP_UP_S if name == "sigh" else 0.0
        cycle_s = sum(pattern) + top_up
        if "cycles" in spec and "duration" in spec:
            raise self.fail(where, "'breathe' takes cycles or duration, not both: keep one")
        stretch: Stretch | None
        if "duration" in spec:
            total, span = self._duration_span(spec["duration"], where, "duration")
            lo, hi = (span.lo, span.hi) if span else (total, total)
            if lo < cycle_s:
                raise self.fail(
                    where,
                    f"a {lo:g} s duration is shorter than one {cycle_s:g} s breath; make it longer",
                )
            stretch = Stretch(lo // cycle_s, hi // cycle_s) if span else None
            cycles = stretch.whole(0.5) if stretch else int(total // cycle_s)
        else:
            cycles, stretch = self._count_span(spec.get("cycles", 4), where, "cycles")
        holds = [s for s in (pattern[1], pattern[3]) if s > MAX_BREATH_HOLD_S]
        long_holds = spec.get("long-holds", False)
        if not isinstance(long_holds, bool):
            raise self.fail(where, f"'long-holds' is true or false, got {_show(long_holds)}")
        if holds and not long_holds:
            raise self.fail(
                where,
                f"a {max(holds):g} s breath hold is longer than {MAX_BREATH_HOLD_S:g} s, which can "
                "make people dizzy: shorten it, or add 'long-holds: true' to this step if you "
                "mean it",
            )
        most = int(stretch.hi) if stretch else cycles
        if pattern == BREATH_PRESETS["4-7-8"] and most > WEIL_MAX_CYCLES:
            self.warnings.append(
                f"{where}: {most} cycles of 4-7-8 breathing; Weil advises no more than "
                f"{WEIL_MAX_CYCLES} at one time at first: lower 'cycles' unless the listener is "
                "used to it"
            )
        guide = self._count(spec.get("guide", 2), where, "guide", minimum=0)
        has_pacer = isinstance(value, _Map) and "pacer" in value
        pacer = self._pacer(value, "pacer", self.pacer) if has_pacer else None
        return Breathe(pattern, cycles, guide, where, top_up, pacer, stretch)

    def _exercise(self, raw: _Map, value: Any, where: Where) -> Exercise:
        title = self._text(value, where, "exercise")
        intro = self._lines(raw.get("say", []), where, "say")
        self._spend(len(raw.get("sides") or ()) if isinstance(raw.get("sides"), list) else 0, where)
        sides_raw = raw.get("sides", [])
        if not isinstance(sides_raw, list) or (sides_raw and len(sides_raw) < 2):
            raise self.fail(
                where,
                f"'sides' lists two or more sides, e.g. sides: [left, right], "
                f"got {_show(sides_raw)}",
            )
        sides = tuple(self._text(s, where, "sides") for s in sides_raw)
        if "rep" in raw and "hold" in raw:
            raise self.fail(
                where,
                "an exercise takes 'rep' steps or a 'hold', not both; put the hold inside 'rep'",
            )
        body: tuple[Step, ...] = ()
        if "rep" in raw:
            body = self._steps(
                raw["rep"], self._at(raw, "rep", where.step), f"{where.step}.", "rep"
            )
        elif "hold" in raw:
            body = (self._hold(raw, raw["hold"], self._at(raw, "hold", where.step)),)
        sets = self._count(raw.get("sets", 1), where, "sets")
        rest_s, stretch = (
            self._duration_span(raw["rest"], where, "rest") if "rest" in raw else (0.0, None)
        )
        switch = self._text(raw["switch"], where, "switch") if "switch" in raw else None
        return Exercise(
            title,
            intro,
            sides,
            switch,
            sets,
            rest_s,
            self._count(raw.get("reps", 1), where, "reps"),
            body,
            where,
            stretch,
        )

    def _interval(self, raw: _Map, value: Any, where: Where) -> Interval:
        title = self._text(value, where, "interval")
        if "work" not in raw:
            raise self.fail(
                where, "an interval needs 'work', e.g. interval: Tabata, work: 20s, rest: 10s"
            )
        intro = self._lines(raw.get("say", []), where, "say")
        names = raw.get("exercises", [title])
        if not isinstance(names, list) or not names:
            raise self.fail(
                where,
                f"'exercises' lists the exercises in order, e.g. exercises: [Squats, Push-ups], "
                f"got {_show(names)}",
            )
        self._spend(len(names), where)
        exercises = tuple(self._text(n, where, "exercises") for n in names)
        rounds = self._count(raw.get("rounds", 1), where, "rounds")
        periods = rounds * len(exercises)
        countdown = self._count(raw.get("countdown", 3), where, "countdown", minimum=0)
        halfway = raw.get("halfway", False)
        if not isinstance(halfway, bool):
            raise self.fail(where, f"'halfway' is true or false, got {_show(halfway)}")
        rest_s = self._duration(raw["rest"], where, "rest") if "rest" in raw else 0.0
        # Every work period, rest, countdown and halfway is a cue: count them before expanding.
        self._spend(periods * (1 + halfway) + (periods - 1) * (1 + countdown) * (rest_s > 0), where)
        try:
            sound = resolve_sound(
                self._text(raw.get("sound", "beep"), where, "sound"),
                self.base_dir,
                allowed=self.sound_dirs,
            )
        except AudioguideError as e:
            raise self.fail(where, str(e)) from None
        return Interval(
            title=title,
            work_s=self._duration(raw["work"], where, "work"),
            rest_s=rest_s,
            rounds=rounds,
            exercises=exercises,
            prepare_s=self._duration(raw.get("prepare", 10), where, "prepare"),
            countdown=countdown,
            sound=sound,
            halfway=halfway,
            intro=intro,
            where=where,
        )

    def _lines(self, raw: Any, where: Where, what: str) -> tuple[str, ...]:
        # Each line is spoken at least once: count them before reading them, as an aliased list
        # may be long and used many times.
        self._spend(len(raw) if isinstance(raw, list) else 0, where)
        if isinstance(raw, list):
            return tuple(self._text(t, where, what) for t in raw)
        return (self._text(raw, where, what),)

    def _section(self, raw: _Map, value: Any, where: Where) -> Section:
        steps = self._steps(raw.get("steps"), where, f"{where.step}.")
        return Section(self._text(value, where, "section"), steps, where)

    def _repeat(self, raw: _Map, value: Any, where: Where) -> Repeat:
        times = self._count(value, where, "repeat")
        return Repeat(times, self._steps(raw.get("steps"), where, f"{where.step}."), where)

    def _duration(self, value: Any, where: Where, what: str) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise self.fail(
                where, f"'{what}' needs a duration like 5s, 90s, 1m30s or 1:30, got {_show(value)}"
            ) from None
        if not 0 < seconds <= MAX_DURATION_S:
            # YAML reads an unquoted 7:00:00 as the number 25200: show both.
            shown = (
                _show(value)
                if isinstance(value, str) or abs(seconds) < 60
                else (f"{seconds:g} s ({_clock(seconds)})")
            )
            raise self.fail(
                where,
                f"'{what}' must be more than 0 s and at most "
                f"{MAX_DURATION_S / 3600:g} hours, got {shown}",
            )
        return seconds

    def _duration_span(self, value: Any, where: Where, what: str) -> tuple[float, Stretch | None]:
        """A duration, or a stretchable range of them (`20-40s`, `1m-2m`, `1:00-1:30`): the
        middle of the range, and the range."""
        parts = value.split("-") if isinstance(value, str) else []
        if len(parts) != 2:
            return self._duration(value, where, what), None
        lo_text, hi_text = (p.strip() for p in parts)
        unit = re.search(r"[a-z]+$", hi_text.lower())
        if unit and re.fullmatch(r"\d+(\.\d+)?", lo_text):
            lo_text += unit.group(0)  # `20-40s` means 20 s to 40 s
        lo, hi = (self._duration(t, where, what) for t in (lo_text, hi_text))
        if lo >= hi:
            raise self.fail(
                where,
                f"'{what}' range {_show(value)} must go from shorter to longer, e.g. 20-40s",
            )
        stretch = Stretch(lo, hi)
        return stretch.at(0.5), stretch

    def _count_span(self, value: Any, where: Where, what: str) -> tuple[int, Stretch | None]:
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value) if isinstance(value, str) else None
        if not m:
            return self._count(value, where, what), None
        lo, hi = (self._count(int(g), where, what) for g in m.groups())
        if lo >= hi:
            raise self.fail(
                where, f"'{what}' range {_show(value)} must go from fewer to more, e.g. 4-8"
            )
        stretch = Stretch(lo, hi)
        return stretch.whole(0.5), stretch

    def _count(self, value: Any, where: Where, what: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not (minimum <= value <= 1000):
            raise self.fail(
                where, f"'{what}' needs a whole number from {minimum} to 1000, got {_show(value)}"
            )
        return value


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(abs(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{'-' if seconds < 0 else ''}{hours}:{minutes:02d}:{secs:02d}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 40 else f'"{value[:37]}..."'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if value is None:
        return "nothing"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a {len(str(abs(value)))}-digit number"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
