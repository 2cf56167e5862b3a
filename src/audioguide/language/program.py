"""A program file: sessions released over weeks, read from YAML with its lines kept.

title: Knee program, three weeks
routine: knee.yaml
start: 2026-12-07
every: 1 week
sessions:
  - vars: {hold: 20s}
  - vars: {hold: 25s}
    title: Week 2, longer holds
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..errors import AudioguideError, Problems, Where
from ..files import write_atomic
from ..model import Clinic
from ..paths import resolve_inside
from ..strings import Register, base_language, language_code, table
from .keys import CLINIC_KEYS, Key
from .library import bundled_routines
from .reader import Fields, Reader, suggest
from .settings import read_clinic, read_language, read_register
from .translation import (
    Translation,
    Translator,
    needs_translation,
    read_translation,
    sidecar_paths,
    sidecar_text,
)
from .yamlfile import YList, YMap, parse_yaml, read_text, show

MAX_SESSIONS: Final = 520
"""Ten years of weekly sessions."""
MAX_EVERY_DAYS: Final = 366

PROGRAM_KEYS: Final[tuple[Key, ...]] = (
    Key("title", "the program's name: the feed's title, with the client's name"),
    Key("description", "a sentence or two about the program, for the feed"),
    Key("routine", "the routine every session builds, unless the session names its own"),
    Key("start", "the date of session 1 (a client's `start` column moves theirs)"),
    Key("every", "the time between sessions: 1 week, 2 weeks, 3 days"),
    Key("clinic", "who the practitioner is, over the routines' own: name, contact, logo"),
    Key("language", "the language the program's own texts are written in [default: en]"),
    Key("personal", "vars a clients file's column may set for one client over the sessions'"),
    Key("register", "formal or informal for every session, over the routines' own"),
    Key("sessions", "the list of sessions, in order"),
)
SESSION_KEYS: Final[tuple[Key, ...]] = (
    Key("vars", "values for the routine's vars in this session, e.g. {hold: 25s}"),
    Key("title", "the session's title [default: the routine's]"),
    Key("routine", "this session's own routine"),
    Key("notes", "written notes for this session's page, handout and episode"),
)
_EVERY: Final = re.compile(r"(\d+)?\s*(day|days|d|week|weeks|w)")
_DEFAULT_EVERY: Final = "1 week"


class ProgramError(AudioguideError):
    """The program file is malformed or names something that is not there."""


@dataclass(frozen=True)
class ProgramSession:
    number: int
    routine: Path
    where: Where
    """The session's item in the program file."""
    variables: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    title: str
    start: dt.date
    every_days: int
    sessions: tuple[ProgramSession, ...]
    path: Path
    description: str = ""
    clinic: Clinic | None = None
    language: str = "en"
    """The language its texts are in (translated from its own `language:` when read so)."""
    personal: frozenset[str] = frozenset()
    """Vars a client's row may set over every session's own value ("weeks as planned, but Sam
    holds 2 s less"); any other var a session sets is the program's alone."""
    register: Register | None = None
    """How every session addresses the client (vous or tu...); None for each routine's own."""

    def release(self, number: int, start: dt.date | None = None) -> dt.date:
        """When session `number` (from 1) comes out, for a client who starts on `start`."""
        return (start or self.start) + dt.timedelta(days=(number - 1) * self.every_days)

    def last_release(self, start: dt.date | None = None) -> dt.date | None:
        """When the last session comes out, or None when that is past the calendar's end."""
        try:
            return self.release(len(self.sessions), start)
        except OverflowError:
            return None


def read_program(path: Path, language: str | None = None) -> Program:
    """The program, its texts (title, description, session titles and notes) in `language` when
    given: from its translation, PROGRAM.LANG.yaml beside it, as a routine's lines come from
    its own; every text missing there is one error (all raised together)."""
    name = str(path)
    doc = parse_yaml(read_text(path, what="program"), name)
    top = Where(name, getattr(doc, "line", 1))
    if not isinstance(doc, YMap):
        raise ProgramError(
            "a program is a mapping with 'title', 'routine', 'start' and 'sessions'; see "
            "docs/scaling.md for an example",
            top,
        )
    f = Fields("the program", doc, top)
    _known(f, PROGRAM_KEYS, "program keys")
    for key in ("title", "start", "sessions"):
        if key not in f:
            raise ProgramError(f"the program has no '{key}': {_purpose(key)}", top)
    r = Reader(name, path.parent)
    own = read_language(r, f)
    if language is not None and base_language(language) != base_language(own):
        r.translator = Translator(_translation(path, own, language))
    program = _read(r, f, path, own if r.translator is None else language or own)
    if r.translator is not None and r.translator.problems():
        raise Problems(r.translator.problems())
    return program


def _translation(path: Path, own: str, language: str) -> Translation:
    found = [p for p in sidecar_paths(path, language) if p.is_file()]
    if not found:
        raise ProgramError(
            f"{path} is written in {table(own).english}, and has no {table(language).english} "
            f"translation for a client who reads {language}: `audioguide translate {path} "
            f"--language {language}` starts one beside it"
        )
    return read_translation(found[0], language)


def new_program_translation(path: Path, language: str) -> Path:
    """Start the program's translation: PROGRAM.LANG.yaml beside it, every text listed with an
    empty translation (a client who reads `language` needs it). Never over an existing file."""
    code = language_code(language)
    if code is None:
        raise ProgramError(f"--language {show(language)}: use en, es, de or fr (es-MX, ...)")
    own = read_program(path).language
    if base_language(code) == base_language(own):
        raise ProgramError(f"{path} is written in {table(code).english} already")
    target = sidecar_paths(path, code)[0]
    if target.exists():
        raise ProgramError(f"{target} exists already: fill in the texts it lists")
    text = sidecar_text(path.name, code, program_texts(path))
    write_atomic(target, text.encode("utf-8"))
    return target


def is_program(path: Path) -> bool:
    """Whether a YAML file is a program (it has sessions) rather than a routine."""
    try:
        doc = parse_yaml(read_text(path, what="program"), str(path))
    except AudioguideError:
        return False
    return isinstance(doc, YMap) and "sessions" in doc


def program_texts(path: Path) -> list[str]:
    """Every text of the program a translation gives: what `audioguide translate` lists."""
    program = read_program(path)
    texts = [program.title, program.description]
    for session in program.sessions:
        texts += [session.title or "", *session.notes]
    return [t for t in dict.fromkeys(texts) if needs_translation(t)]


def _read(r: Reader, f: Fields, path: Path, language: str) -> Program:
    doc, name = f.values, str(path)
    default = _routine(r, f) if "routine" in f else None
    raw = doc["sessions"]
    if not isinstance(raw, YList) or not raw:
        raise ProgramError(
            "'sessions' is a list with one item per session, e.g. - vars: {hold: 20s}",
            f.at("sessions"),
        )
    if len(raw) > MAX_SESSIONS:
        raise ProgramError(
            f"{len(raw):,} sessions, over the {MAX_SESSIONS} a program may have: split it",
            f.at("sessions"),
        )
    sessions = tuple(
        _session(r, item, Where(name, line), n, default)
        for n, (item, line) in enumerate(zip(raw, raw.item_lines, strict=True), start=1)
    )
    program = Program(
        title=r.text(f, "title", template=False),
        start=_start(f),
        every_days=_every(f),
        sessions=sessions,
        path=path,
        description=r.text(f, "description", template=False) if "description" in f else "",
        clinic=read_clinic(r, f),
        personal=_personal(f),
        language=language,
        register=read_register(r, f),
    )
    if program.last_release(program.start) is None:
        raise ProgramError(
            f"session {len(sessions)} would come out after the year 9999: start earlier",
            f.at("start"),
        )
    return program


def _purpose(key: str) -> str:
    return next(k.doc for k in PROGRAM_KEYS if k.name == key)


def _known(f: Fields, keys: tuple[Key, ...], kinds: str) -> None:
    names = [k.name for k in keys]
    for key in f.values:
        if key not in names:
            raise ProgramError(f"unknown key '{key}': {suggest(key, names, kinds)}", f.at(key))


def _session(
    r: Reader, item: object, where: Where, number: int, default: Path | None
) -> ProgramSession:
    if not isinstance(item, YMap):
        raise ProgramError(
            f"session {number} is a mapping like {{vars: {{hold: 20s}}}}, got {show(item)}", where
        )
    f = Fields(f"session {number}", item, where)
    _known(f, SESSION_KEYS, "session keys")
    routine = _routine(r, f) if "routine" in f else default
    if routine is None:
        raise ProgramError(
            f"session {number} has no routine: give the program a 'routine:' for every session, "
            "or this session its own",
            where,
        )
    notes = f.values.get("notes", [])
    return ProgramSession(
        number=number,
        routine=routine,
        where=where,
        variables=_vars(f),
        title=r.text(f, "title", template=False) if "title" in f else None,
        notes=tuple(
            r.text_of(n, f.at("notes"), "notes", template=False)
            for n in (notes if isinstance(notes, list) else [notes])
        ),
    )


def _vars(f: Fields) -> dict[str, str]:
    raw = f.values.get("vars", YMap())
    if not isinstance(raw, YMap):
        raise ProgramError("'vars' maps names to values, e.g. vars: {hold: 25s}", f.at("vars"))
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict | list) or value is None:
            raise ProgramError(
                f"var '{key}' needs a value, e.g. {key}: 25s",
                Where(f.where.file, raw.key_lines[key]),
            )
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _personal(f: Fields) -> frozenset[str]:
    raw = f.values.get("personal", [])
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise ProgramError("'personal' lists var names, e.g. personal: [hold]", f.at("personal"))
    return frozenset(v.strip() for v in raw)


def _routine(r: Reader, f: Fields) -> Path:
    """A routine file next to the program (or anywhere by its path), or a bundled routine."""
    name = r.text(f, "routine", template=False, translate=False)
    bundled = bundled_routines()
    path = resolve_inside(name, r.base_dir)
    if path is None and name not in bundled:
        # A program someone shares cannot make the tool read any other file.
        raise ProgramError(
            f"routine {show(name)} is outside the program's folder ({r.base_dir}): put the "
            "routine beside the program (or in a folder inside it), or name a bundled routine",
            f.at("routine"),
        )
    if path is not None and path.is_file():
        return path
    if name in bundled:
        return bundled[name]
    path = r.base_dir / Path(name).expanduser()
    raise ProgramError(
        f"routine {show(name)}: no such file ({path}) and no bundled routine of that name; "
        "`audioguide list` shows the bundled ones",
        f.at("routine"),
    )


def _start(f: Fields) -> dt.date:
    text = str(f.values["start"]).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProgramError(
            f"'start' is a date like 2026-12-07, got {show(text)}", f.at("start")
        ) from None


def _every(f: Fields) -> int:
    raw = f.values.get("every", _DEFAULT_EVERY)
    match = _EVERY.fullmatch(str(raw).strip().lower())
    days = 0
    if match:
        days = int(match[1] or 1) * (7 if match[2].startswith("w") else 1)
    if not 1 <= days <= MAX_EVERY_DAYS:
        raise ProgramError(
            f"'every' is the time between sessions, like 1 week, 2 weeks or 3 days, up to a "
            f"year, got {show(raw)}",
            f.at("every"),
        )
    return days


def program_keys() -> set[str]:
    """Every key a program file knows: what docs/scaling.md must describe."""
    return {k.name for k in (*PROGRAM_KEYS, *SESSION_KEYS, *CLINIC_KEYS)}
