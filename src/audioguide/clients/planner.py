"""Planning a batch or a program: the clients file checked whole against every routine before
anything renders, and one job per client and track.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import AudioguideError, Problems, RoutineError, Where
from ..language.reader import suggest
from ..model import Client, Routine
from ..options import BY_COLUMN, Options
from ..paths import distinct_slugs
from ..publish.outputs import Output
from ..session import Session
from ..strings import table, unspeakable
from .digest import audio_digest, output_digests
from .jobs import Job, RoutineRef, session_for
from .roster import (
    NAME,
    NAME_VARS,
    RESERVED,
    SPOKEN,
    ClientRow,
    Roster,
    RosterError,
    identity_problems,
)

# --- what to build --------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One track every client gets: a routine, with a program session's vars (where written)."""

    ref: RoutineRef
    variables: Mapping[str, str] = field(default_factory=dict)
    where: Where | None = None
    personal: frozenset[str] = frozenset()
    """The part's vars a client's row may set over its own value."""


@dataclass(frozen=True)
class Checked:
    """A client whose row passed: their folder name, options, and per part its routine and the
    voice that speaks it."""

    row: ClientRow
    slug: str
    options: Options
    routines: tuple[Routine, ...]
    voices: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    """Where a client's track goes and how it is tagged: batch and program each decide."""

    folder: Path
    track: str
    client: Client
    album: str
    ref: RoutineRef | None = None
    """The routine as this client gets it, when it differs from the part's (a program's
    session titled and noted in the client's language)."""


@dataclass(frozen=True)
class Planned:
    job: Job
    routine: Routine
    """The routine as validated for the job: what it speaks."""


def check_roster(
    roster: Roster,
    parts: Sequence[Part],
    options: Options,
    variables: Mapping[str, str],
    on_warning: Callable[[str], None] | None = None,
    *,
    for_life: bool = False,
) -> list[Checked]:
    """Every client's routines, validated with their row's variables and options; every problem
    in every row found before any is built, raised together as Problems. With `for_life` (a
    program's private addresses) two rows that cannot be told apart are a problem too."""
    problems: list[AudioguideError] = [
        *roster.problems,
        *(identity_problems(roster.rows) if for_life else []),
    ]
    warned: dict[str, None] = {}

    def warn(message: str) -> None:
        warned[message] = None

    sessions = [replace(session_for(p.ref), on_warning=warn) for p in parts]
    declared = [set(s.source.var_names) for s in sessions]
    known = set().union(*declared)
    problems += [
        RoutineError(f"--var {name}: {_no_var(name, parts, sessions)}")
        for name in variables
        if name not in known
    ]
    usable = []
    for part, session, names in zip(parts, sessions, declared, strict=True):
        usable.append(_check_part(part, session, names, options, variables, problems))
    problems += _column_problems(roster, parts, sessions, known)
    checked = []
    for row, folder in zip(roster.rows, distinct_slugs(r.name for r in roster.rows), strict=True):
        try:
            row_options = row.options(options)
        except RosterError as e:
            problems.append(e)
            continue
        rows = [
            (p, s, n) for p, s, n, ok in zip(parts, sessions, declared, usable, strict=True) if ok
        ]
        try:
            routines, voices = _row_routines(row, rows, variables, row_options)
        except _RowProblem as e:
            problems.append(_row_problem(e.error, row, e.session, e.base, e.given, options))
            continue
        checked.append(Checked(row, folder, row_options, routines, voices))
        if SPOKEN not in row.cells and (unsaid := unspeakable(row.name)) and routines:
            warn(_unsaid(row, unsaid, routines[0].language))
    if problems:
        raise _in_order(problems, roster.file)
    for warning in warned:
        if on_warning:
            on_warning(warning)
    return checked


@dataclass
class _RowProblem(Exception):
    error: AudioguideError
    session: Session
    base: dict[str, str]
    given: dict[str, str]


def _row_routines(
    row: ClientRow,
    parts: Sequence[tuple[Part, Session, set[str]]],
    variables: Mapping[str, str],
    options: Options,
) -> tuple[tuple[Routine, ...], tuple[str, ...]]:
    """The row's routine for each part, and the voice that speaks it."""
    routines, voices = [], []
    for part, session, names in parts:
        given = _row_vars(row, names)
        base = _declared({**variables, **part.variables}, names)
        try:
            routine = session.routine(
                {**base, **given},
                variables_from=str(row.where),
                options=options,
                pronounce=row.client.pronounce,
            )
            voices.append(session.voice_spec(routine, options))
        except AudioguideError as e:
            raise _RowProblem(e, session, base, given) from None
        routines.append(routine)
    return tuple(routines), tuple(voices)


def _unsaid(row: ClientRow, unsaid: str, language: str) -> str:
    return (
        f"{row.where}: the name {row.name!r} holds {unsaid}, which the {table(language).english} "
        "voice cannot say (it would spell it out, or leave it out): add a 'spoken' column with "
        "how to say it"
    )


def _in_order(problems: list[AudioguideError], file: str) -> Problems:
    """The clients file's own lines in order, after what is wrong elsewhere."""
    in_file = [p for p in problems if p.where and p.where.file == file]
    others = [p for p in problems if p not in in_file]
    return Problems(others + sorted(in_file, key=lambda p: p.where.line if p.where else 0))


def _check_part(
    part: Part,
    session: Session,
    names: set[str],
    options: Options,
    variables: Mapping[str, str],
    problems: list[AudioguideError],
) -> bool:
    """The routine with the command line's vars, then with the part's own: a mistake there is
    named where it is written, and not again for every row. A var the routine does not declare
    is a mistake too: a session's `hodl: 5s` would build the default hold, a wrong dose."""
    for name in part.variables:
        if name not in names:
            hint = suggest(name, sorted(names), "its vars")
            message = f"vars: {part.ref.path.name} has no var '{name}'; {hint}"
            problems.append(RoutineError(message, part.where))
            return False
    try:
        session.routine(_declared(variables, names), options=options)
        if part.variables:
            session.routine(
                _declared({**variables, **part.variables}, names),
                variables_from=str(part.where),
                options=options,
            )
    except AudioguideError as e:
        problems.append(e)
        return False
    return True


def _column_problems(
    roster: Roster, parts: Sequence[Part], sessions: Sequence[Session], known: set[str]
) -> list[AudioguideError]:
    first: dict[str, Where] = {}
    for row in roster.rows:
        for column, where in row.column_where.items():
            first.setdefault(column, where)
    problems: list[AudioguideError] = []
    for column, where in first.items():
        if column in RESERVED:
            continue
        if column not in known:
            problems.append(
                RosterError(
                    f"column '{column}': {_no_var(column, parts, sessions)}; rename the column, "
                    "or add the var under 'vars:'",
                    where,
                )
            )
        for part in parts:
            if column in part.variables and column not in part.personal:
                problems.append(
                    RosterError(
                        f"column '{column}': the program's session {part.where} sets "
                        f"'{column}' too: set it in one place, or list it under the program's "
                        "'personal:' to let a client's row set it over the session's",
                        where,
                    )
                )
                break
    return problems


def _no_var(name: str, parts: Sequence[Part], sessions: Sequence[Session]) -> str:
    routines = {
        p.ref.path.name: ", ".join(s.source.var_names) or "none"
        for p, s in zip(parts, sessions, strict=True)
    }
    listed = "; ".join(f"{file}'s vars: {names}" for file, names in routines.items())
    return f"no routine here has a var '{name}' ({listed})"


def _declared(variables: Mapping[str, str], names: set[str]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if k in names}


def _row_vars(row: ClientRow, names: set[str]) -> dict[str, str]:
    """The row's variables this routine declares; the name fills `client` and `name` (what a
    routine calls its client) unless a column does, so no client is greeted "friend"."""
    given = _declared(row.variables(), names)
    for var in NAME_VARS:
        if var in names and var not in given:
            given[var] = row.name  # said as the `spoken` column says (ClientRow.client)
    return given


def _row_problem(
    error: AudioguideError,
    row: ClientRow,
    session: Session,
    base: dict[str, str],
    given: dict[str, str],
    options: Options,
) -> AudioguideError:
    """The error as the row's, naming the column to fix: the first whose value fails alone
    (an option column with the command line's options, a var with the command line's vars)."""
    for column in BY_COLUMN:
        if column not in row.cells:
            continue
        alone = replace(row, cells={column: row.cells[column]}).options(options)
        try:
            session.voice_spec(session.routine(base, options=alone), alone)
        except AudioguideError as e:
            # Checked as if typed on the command line: `--bed` says nothing about this row.
            typed = e.where is None or str(e.where).startswith("--")
            return row.error(column, e.message if typed else str(e))
    for var, value in given.items():
        try:
            session.routine({**base, var: value}, variables_from=str(row.where), options=options)
        except AudioguideError:
            column = NAME if var in NAME_VARS and var not in row.cells else var
            return row.error(column, str(error))
    return RosterError(str(error), row.where)


def values_for(client: Checked, part: Part, variables: Mapping[str, str]) -> dict[str, str]:
    """The values a client's track of `part` gives its routine's vars: the command line's, the
    part's (a program session's), then the client's row's."""
    names = set(session_for(part.ref).source.var_names)
    given = _declared({**variables, **part.variables}, names)
    return {**given, **_row_vars(client.row, names)}


def plan_jobs(
    checked: Sequence[Checked],
    parts: Sequence[Part],
    variables: Mapping[str, str],
    outputs: tuple[Output, ...],
    place: Callable[[Checked, int], Placement],
) -> list[Planned]:
    """One job per client and part, in the roster's order: where `place` puts it, with the
    values the client's row, the part and the command line give its routine's vars."""
    planned = []
    for client in checked:
        for i, part in enumerate(parts):
            at = place(client, i)
            job = Job(
                folder=at.folder,
                track=at.track,
                ref=at.ref or part.ref,
                variables=values_for(client, part, variables),
                variables_from=str(client.row.where),
                options=client.options,
                client=at.client,
                album=at.album,
                outputs=outputs,
            )
            digest = audio_digest(job, client.routines[i], client.voices[i])
            job = replace(job, digest=digest, output_digests=output_digests(job, digest))
            planned.append(Planned(job, client.routines[i]))
    return planned
