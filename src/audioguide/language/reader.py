"""Reading values out of a routine's YAML: text, durations, counts, ranges, flags and sounds,
each with `{var}` filled in first, and each mistake reported at its own key's line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from ..errors import AudioguideError, RoutineError, SoundError, Where
from ..model import (
    BREATH_PRESETS,
    MAX_BREATH_PHASE_S,
    MAX_COUNT,
    MAX_CUES,
    MAX_DURATION_S,
    MAX_TEXT_CHARS,
    PACER_STYLES,
    BuiltinSound,
    PacerStyle,
    SoundFile,
    SoundRef,
    Stretch,
    parse_duration,
    parse_pattern,
    preset_name,
)
from ..paths import resolve_inside
from ..strings import clock
from .yamlfile import YList, YMap, at, scalar, show

if TYPE_CHECKING:
    from .translation import Translator

_VAR: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
SOUND_FILE_SUFFIXES: Final = (".wav", ".mp3", ".ogg", ".flac")


@dataclass(frozen=True)
class Var:
    """A variable's value and where it was set, so a bad value can be traced to its source."""

    value: str
    source: str
    """`--var`, `clients.csv:7`, or `vars: at routine.yaml:3`."""
    own_at: Where | None = None
    """Where the routine gives this default, in its own language (a translation needs its own);
    None for a value set anywhere else."""


@dataclass(frozen=True)
class Fields:
    """One step's (or the routine's own) keys and values, the same whichever form the step was
    written in: `hold: 30s` beside `countdown: 3`, or `hold: {duration: 30s, countdown: 3}`."""

    what: str
    """How messages name the thing: "hold", "exercise", "the routine"."""
    values: YMap
    where: Where
    shorthand: str = ""
    """The key the kind's own value filled (`pause: 5s` sets duration), if it was written so."""

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def at(self, key: str) -> Where:
        return at(self.values, key, self.where)

    def label(self, key: str) -> str:
        """The key as the user wrote it: `pause` for the duration of `pause: 5s`."""
        return self.what if key == self.shorthand else key


@dataclass
class Budget:
    """Cues met so far: a lower bound on what the routine expands to, aliases counted in full, so
    a billion-laughs routine stops after MAX_CUES steps, not 10**9."""

    cues: int = 0


@dataclass
class Reader:
    """What reading one file needs: where it is, the variables, and the shared cue budget."""

    file: str
    base_dir: Path
    variables: Mapping[str, Var] = field(default_factory=dict)
    sound_dirs: tuple[Path, ...] = ()
    budget: Budget = field(default_factory=Budget)
    warnings: list[str] = field(default_factory=list)
    pacer: PacerStyle = "tone"
    including: tuple[Path, ...] = ()
    """The files being included, outermost first, to refuse a file that includes itself."""
    side_names: tuple[str, ...] = ("left", "right")
    translator: Translator | None = None
    """Looks up every text the routine speaks or shows when it is read in another language."""

    # --- errors ---

    def fail(self, f: Fields, key: str, message: str) -> RoutineError:
        """An error at `key`'s line, naming the variables its value came from."""
        used = self._vars_in(f.values.get(key))
        origin = "".join(
            f" ({{{name}}} is {show(var.value)}, from {var.source})" for name, var in used
        )
        return RoutineError(message + origin, f.at(key))

    def spend(self, n: int, where: Where) -> None:
        self.budget.cues += n
        if self.budget.cues > MAX_CUES:
            raise RoutineError(
                f"the routine has more than {MAX_CUES:,} cues by this step (every *alias "
                "counted in full), the most a routine may have: split it into several routines",
                where,
            )

    # --- variables ---

    def _vars_in(self, raw: Any) -> list[tuple[str, Var]]:
        if not isinstance(raw, str):
            return []
        names = [m.group(1) for m in _VAR.finditer(raw) if m.group(1) is not None]
        return [(n, self.variables[n]) for n in dict.fromkeys(names) if n in self.variables]

    def fill(self, text: str, where: Where) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            name = m.group(1)
            if name not in self.variables:
                known = ", ".join(self.variables) or "none"
                raise RoutineError(
                    f"'{{{name}}}' is not a var (vars: {known}); add it under 'vars:' or write "
                    "{{ and }} for literal braces",
                    where,
                )
            return self.variables[name].value

        return _VAR.sub(sub, text)

    def value(self, f: Fields, key: str, default: Any = None) -> Any:
        """The key's value with `{var}` filled in, read as YAML would read it written there."""
        raw = f.values.get(key, default)
        if isinstance(raw, str) and self._vars_in(raw):
            return scalar(self.fill(raw, f.at(key)))
        return raw

    # --- text ---

    def text(self, f: Fields, key: str, *, template: bool = True, translate: bool = True) -> str:
        """The key's text; `translate` when it is spoken or shown (not a name or a file)."""
        return self.text_of(
            f.values.get(key), f.at(key), f.label(key), template=template, translate=translate
        )

    def text_of(
        self, value: Any, where: Where, what: str, *, template: bool = True, translate: bool = True
    ) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            raise RoutineError(f"'{what}' needs some text, got {show(value)}", where)
        text = " ".join(str(value).split())
        if translate and self.translator is not None:
            text = self.translator(text, where)
        text = self.fill(text, where) if template else text
        if len(text) > MAX_TEXT_CHARS:
            raise RoutineError(
                f"'{what}' is {len(text):,} characters long, over the {MAX_TEXT_CHARS:,} one "
                "step may have: split it into several steps",
                where,
            )
        return text

    def optional_text(self, f: Fields, key: str, *, translate: bool = True) -> str:
        return self.text(f, key, translate=translate) if key in f else ""

    def lines(self, f: Fields, key: str) -> tuple[str, ...]:
        """A text or a list of them. Each line is spoken at least once: counted before it is
        read, as an aliased list may be long and used many times."""
        raw = f.values.get(key, [])
        items = raw if isinstance(raw, list) else [raw]
        self.spend(len(items), f.where)
        return tuple(self.text_of(t, f.at(key), key) for t in items)

    def names(self, f: Fields, key: str, example: str) -> tuple[str, ...]:
        name = f.label(key)
        """A non-empty list of texts, e.g. `exercises: [Squats, Push-ups]`."""
        raw = f.values.get(key)
        if not isinstance(raw, list) or not raw:
            raise self.fail(f, key, f"'{name}' lists {example}, got {show(raw)}")
        self.spend(len(raw), f.where)
        return tuple(self.text_of(t, f.at(key), key) for t in raw)

    def sides(self, f: Fields) -> tuple[str, ...]:
        """`sides: [left, right]`: names the routine knows, two or more, each checked."""
        raw = f.values.get("sides")
        if not isinstance(raw, list) or len(raw) < 2:
            raise self.fail(
                f,
                "sides",
                f"'sides' lists two or more sides, e.g. sides: [left, right], got {show(raw)}",
            )
        self.spend(len(raw), f.where)
        lines = raw.item_lines if isinstance(raw, YList) else [f.at("sides").line] * len(raw)
        out = []
        for item, line in zip(raw, lines, strict=True):
            where = Where(f.where.file, line, f.where.step)
            name = self.text_of(item, where, "sides", translate=False).lower()
            if name not in self.side_names:
                close = difflib.get_close_matches(name, self.side_names, n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"the sides are {', '.join(self.side_names)}; name a routine's own in "
                    f"words: {{sides: {{{name}: {name}}}}}"
                )
                raise RoutineError(f"'{name}' is not a side: {hint}", where)
            out.append(name)
        return tuple(out)

    # --- numbers ---

    def duration(self, f: Fields, key: str, default: Any = None) -> float:
        return self._seconds(self.value(f, key, default), f, key)

    def duration_span(self, f: Fields, key: str) -> tuple[float, Stretch | None]:
        """A duration, or a stretchable range of them (`20-40s`, `1m-2m`, `1:00-1:30`): the
        middle of the range, and the range."""
        name = f.label(key)
        value = self.value(f, key)
        parts = value.split("-") if isinstance(value, str) else []
        if len(parts) != 2:
            return self._seconds(value, f, key), None
        lo_text, hi_text = (p.strip() for p in parts)
        unit = re.search(r"[a-z]+$", hi_text.lower())
        if unit and re.fullmatch(r"\d+(\.\d+)?", lo_text):
            lo_text += unit.group(0)  # `20-40s` means 20 s to 40 s
        lo, hi = (self._seconds(t, f, key) for t in (lo_text, hi_text))
        if lo >= hi:
            raise self.fail(
                f, key, f"'{name}' range {show(value)} must go from shorter to longer, e.g. 20-40s"
            )
        stretch = Stretch(lo, hi)
        return stretch.at(0.5), stretch

    def _seconds(self, value: Any, f: Fields, key: str) -> float:
        name = f.label(key)
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise self.fail(
                f, key, f"'{name}' needs a duration like 5s, 90s, 1m30s or 1:30, got {show(value)}"
            ) from None
        if not 0 < seconds <= MAX_DURATION_S:
            # YAML reads an unquoted 7:00:00 as the number 25200: show both.
            shown = (
                show(value)
                if isinstance(value, str) or abs(seconds) < 60
                else f"{seconds:g} s ({clock(seconds)})"
            )
            raise self.fail(
                f,
                key,
                f"'{name}' must be more than 0 s and at most {MAX_DURATION_S / 3600:g} hours, "
                f"got {shown}",
            )
        return seconds

    def count(self, f: Fields, key: str, default: int | None = None, minimum: int = 1) -> int:
        name = f.label(key)
        value = self.value(f, key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not (minimum <= value <= MAX_COUNT)
        ):
            raise self.fail(
                f,
                key,
                f"'{name}' needs a whole number from {minimum} to {MAX_COUNT}, got {show(value)}",
            )
        return value

    def count_span(self, f: Fields, key: str, default: int) -> tuple[int, Stretch | None]:
        name = f.label(key)
        value = self.value(f, key, default)
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value) if isinstance(value, str) else None
        if not m:
            return self.count(f, key, default), None
        lo, hi = (int(g) for g in m.groups())
        for n in (lo, hi):
            if not 1 <= n <= MAX_COUNT:
                raise self.fail(
                    f,
                    key,
                    f"'{name}' needs whole numbers from 1 to {MAX_COUNT}, got {show(value)}",
                )
        if lo >= hi:
            raise self.fail(
                f, key, f"'{name}' range {show(value)} must go from fewer to more, e.g. 4-8"
            )
        stretch = Stretch(lo, hi)
        return stretch.whole(0.5), stretch

    def flag(self, f: Fields, key: str, default: bool = False) -> bool:
        name = f.label(key)
        value = self.value(f, key, default)
        if not isinstance(value, bool):
            raise self.fail(f, key, f"'{name}' is true or false, got {show(value)}")
        return value

    def number(self, f: Fields, key: str, lo: float, hi: float, default: float, hint: str) -> float:
        value = self.value(f, key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(f, key, f"{hint}, got {show(value)}")
        return float(value)

    def pattern(self, f: Fields, key: str) -> tuple[tuple[float, float, float, float], str | None]:
        """An I-R-E-S breathing pattern and the preset it names, if it names one."""
        value = self.value(f, key)
        try:
            return parse_pattern(value), preset_name(value)
        except ValueError:
            presets = ", ".join(BREATH_PRESETS)
            raise self.fail(
                f,
                key,
                f"'breathe' needs a pattern like 4-7-8-0 (inhale-hold-exhale-hold seconds, each "
                f"at most {MAX_BREATH_PHASE_S:g}) or a preset ({presets}), got {show(value)}",
            ) from None

    # --- names ---

    def choice(self, f: Fields, key: str, options: Sequence[str], default: str, hint: str) -> str:
        name = f.label(key)
        value = self.value(f, key, default)
        if value not in options:
            raise self.fail(f, key, f"'{name}' is {hint}, got {show(value)}")
        return cast(str, value)

    def pacer_style(self, f: Fields, key: str = "pacer") -> PacerStyle:
        options = ", ".join(PACER_STYLES)
        return cast(PacerStyle, self.choice(f, key, PACER_STYLES, self.pacer, f"one of {options}"))

    def sound(self, f: Fields, key: str, builtins: Sequence[str], what: str = "sound") -> SoundRef:
        ref = self.text(f, key, template=key != "bed", translate=False)
        try:
            return resolve_sound(ref, self.base_dir, self.sound_dirs, builtins=builtins, what=what)
        except AudioguideError as e:
            raise RoutineError(f"bed: {e}" if what == "bed" else str(e), f.at(key)) from None

    def local_file(self, f: Fields, key: str, what: str) -> Path:
        """A file the routine names (a cover, an include), which must lie in its folder."""
        name = self.text(f, key, template=False, translate=False)
        path = resolve_inside(name, self.base_dir, self.sound_dirs)
        if path is None:
            raise RoutineError(
                f"the {what} {name} is outside the routine's folder; put it next to the routine",
                f.at(key),
            )
        return path


def resolve_sound(
    ref: str,
    base_dir: Path,
    allowed: Sequence[Path] | None,
    *,
    builtins: Sequence[str],
    what: str = "sound",
) -> SoundRef:
    """A built-in name, or an existing sound file (relative to base_dir). With `allowed`, the
    file must lie inside base_dir or one of those folders; None trusts the caller's path (one
    typed on the command line)."""
    name = ref.strip()
    if name.lower() in builtins:
        return BuiltinSound(name.lower())
    path = Path(name).expanduser()
    # A bare word with no suffix and no folder is meant as a built-in name, not a file.
    if not path.suffix and len(path.parts) <= 1:
        close = difflib.get_close_matches(name.lower(), builtins, n=1)
        hint = f": did you mean '{close[0]}'?" if close else "."
        raise SoundError(
            f"unknown {what} '{name}'{hint} Built-in {what}s: {', '.join(builtins)}; or give a "
            ".wav file path"
        )
    return SoundFile(_sound_file(name, path, base_dir, allowed, what))


def _sound_file(
    name: str, path: Path, base_dir: Path, allowed: Sequence[Path] | None, what: str
) -> Path:
    if path.suffix.lower() not in SOUND_FILE_SUFFIXES:
        kinds = ", ".join(SOUND_FILE_SUFFIXES[:-1]) + " or " + SOUND_FILE_SUFFIXES[-1]
        raise SoundError(f"unsupported {what} file '{name}': use a {kinds} file")
    full = (base_dir / path).resolve()
    if allowed is not None and resolve_inside(name, base_dir, allowed) is None:
        raise SoundError(
            f"{what} file {name} is outside the routine's folder ({base_dir.resolve()}): move it "
            f"into that folder, or allow its folder with --sounds-dir {full.parent}"
        )
    if not full.is_file():
        relative_to = "the routine's folder" if allowed is not None else f"{base_dir.resolve()}"
        raise SoundError(f"{what} file not found: {full}; paths are relative to {relative_to}")
    return full


def suggest(word: str, known: Iterable[str], kinds: str, nearly: Iterable[str] = ()) -> str:
    """`did you mean 'sides'?` when one of `known` is close, or one of `nearly` very close (a
    misspelt step kind: `exercize`, not `rest` for `repeat`); else the list of what there is."""
    options = list(known)
    close = difflib.get_close_matches(word, options, n=1) or difflib.get_close_matches(
        word, list(nearly), n=1, cutoff=0.8
    )
    return f"did you mean '{close[0]}'?" if close else f"{kinds}: " + ", ".join(options)
