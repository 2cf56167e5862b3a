"""The clients file: a CSV (with a header) or YAML list, one row a client, read into rows that
remember their line; the reserved columns and what each row's cells mean for a build.

Every column but the reserved ones is a routine variable. A cell left empty is not set: the
routine's own value (or the command line's) stands for that client.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import AudioguideError, Where
from ..language.yamlfile import YList, YMap, parse_yaml, read_text, show
from ..model import Client
from ..options import BY_COLUMN, OptionError, Options, options_from
from ..text import MAX_CELL_CHARS, MAX_NAME_CHARS, problem

NAME: Final = "name"
SPOKEN: Final = "spoken"
"""How the voice says the client's name, where their name is not written as it is said (another
script, an emoji): a lexicon entry for the name (voices/lexicon.py), so the name fills the
routine's name vars as written, on every page and caption, and is said this way."""
ID: Final = "id"
"""The clinic's own number for a client: who they are, whatever their name or row."""
CLIENT_VAR: Final = "client"
NAME_VARS: Final = (CLIENT_VAR, "name")
"""The routine vars the `name` column fills, when the routine declares them and no column does."""
RESERVED: Final = (NAME, SPOKEN, ID, "start", *BY_COLUMN)
"""Columns that are never routine variables: the name, the client's id, their own program start
date, and the build options a row may set for its client (options.OPTIONS' columns)."""
MAX_CLIENTS: Final = 10_000


def same_name(name: str) -> str:
    """A name as a person reads it: `Ann  Li`, `ann li` and `Ann Li` are one, and so are the two
    Unicode spellings of `Chloé`; `Zoë` and `Zoe` are two people."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def identity_problems(rows: Sequence[ClientRow]) -> list[RosterError]:
    """Rows that name one client twice: without ids, two rows with the same name cannot be told
    apart, and each would get the other's feed after a reordering."""
    seen: dict[str, ClientRow] = {}
    problems = []
    for row in rows:
        first = seen.setdefault(row.identity, row)
        if first is row:
            continue
        if ID in row.cells:
            message = f"id {show(row.cells[ID])} is {first.where}'s too: give each client their own"
        else:
            message = (
                f"{show(row.name)} is also the name on {first.where}: add an 'id' column (the "
                "clinic's own number for each client) so the two are never mixed up"
            )
        problems.append(RosterError(message, row.where))
    return problems


class RosterError(AudioguideError):
    """The clients file cannot be read as a list of clients, or a row's cell is unusable."""


@dataclass(frozen=True)
class ClientRow:
    name: str
    where: Where
    """The row, as messages name it: `clients.csv:7`."""
    cells: Mapping[str, str]
    """Every cell that holds something, by column, `name` left out."""
    column_where: Mapping[str, Where]
    """Where each column is named for this row: the header line of a CSV, the key in YAML."""

    def variables(self) -> dict[str, str]:
        """The cells that are routine variables."""
        return {k: v for k, v in self.cells.items() if k not in RESERVED}

    @property
    def client(self) -> Client:
        """Who the row is for: their name, and how it is said."""
        return Client(self.name, spoken=self.cells.get(SPOKEN, ""))

    @property
    def identity(self) -> str:
        """Who the client is: their `id` where the file gives one, else their name as a person
        reads it (case, spacing and Unicode forms aside): never their row or a slug."""
        if ID in self.cells:
            return f"id:{self.cells[ID]}"
        return f"name:{same_name(self.name)}"

    @property
    def start(self) -> dt.date | None:
        """The `start` cell as a date; checked by `options`."""
        return _date(self.cells["start"]) if "start" in self.cells else None

    def options(self, base: Options) -> Options:
        """The build options for this client: `base` with this row's option columns over it."""
        if "start" in self.cells and _date(self.cells["start"]) is None:
            raise self.error("start", f"{show(self.cells['start'])} is not a date like 2026-12-07")
        values = {}
        for column, option in BY_COLUMN.items():
            if column in self.cells:
                text = self.cells[column]
                try:
                    values[option.field] = option.parse(text)
                except OptionError as e:
                    raise self.error(column, f"{show(text)} is not {e}") from None
        return options_from(values, base)

    def error(self, column: str, message: str) -> RosterError:
        return RosterError(f"column '{column}': {message}", self.where)


@dataclass(frozen=True)
class Roster:
    file: str
    rows: tuple[ClientRow, ...]
    """The rows that name a client."""
    problems: tuple[RosterError, ...] = ()
    """Rows that cannot be read (no name, too many cells), reported with the batch's others."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column some row fills, in the order first met."""
        return tuple(dict.fromkeys(c for row in self.rows for c in row.column_where))


def read_roster(path: Path) -> Roster:
    """Read a clients file: `.yaml`/`.yml` as a YAML list of mappings, anything else as CSV.
    Problems with the file's shape raise RosterError; problems with one row's cells are for the
    batch to find, with every other row's, before anything is built."""
    text = read_text(path, what="clients list", kinds=".csv or .yaml")
    name = str(path)
    read = _yaml_rows if path.suffix.lower() in (".yaml", ".yml") else _csv_rows
    rows: list[ClientRow] = []
    problems: list[RosterError] = []
    for row in read(text, name):
        if isinstance(row, RosterError):
            problems.append(row)
        else:
            rows.append(row)
    if not rows and not problems:
        raise RosterError("no clients: add one row per client under the header", Where(name, 1))
    if len(rows) > MAX_CLIENTS:
        raise RosterError(
            f"{len(rows):,} clients, over the {MAX_CLIENTS:,} one file may list: split it",
            Where(name),
        )
    return Roster(name, tuple(rows), tuple(problems))


Rows = list[ClientRow | RosterError]


def _csv_rows(text: str, name: str) -> Rows:
    # Lines end only at CR and LF: str.splitlines would also end one at a form feed, a vertical
    # tab, NEL or U+2028 inside a cell, and split one client into several.
    source = io.StringIO(text, newline="")
    delimiter, skipped = _dialect(source)
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    line = skipped
    """The last line read: the row being read starts on the next."""
    try:
        header = next(reader, None)
        if header is None:
            raise RosterError("the file is empty: its first line names the columns", Where(name))
        columns = [c.strip() for c in header]
        header_where = Where(name, skipped + 1)
        _check_header(columns, header_where, delimiter)
        rows: Rows = []
        line = skipped + reader.line_num
        for record in reader:
            where = Where(name, line + 1)
            line = skipped + reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(columns):
                rows.append(_too_many(len(record), len(columns), delimiter, where))
                continue
            cells = {c: v.strip() for c, v in zip(columns, record, strict=False) if c}
            rows.append(_row(cells, where, dict.fromkeys(columns, header_where)))
    except csv.Error as e:
        here = Where(name, skipped + reader.line_num)
        raise _quoting(e, Where(name, line + 1), here) from None
    return rows


def _dialect(source: io.StringIO) -> tuple[str, int]:
    """The delimiter, and how many lines come before the header: blank lines, and the `sep=;`
    line Excel writes to say its separator. `source` is left at the header."""
    skipped, said = 0, ""
    while True:
        start = source.tell()
        line = source.readline()
        bare = line.rstrip("\r\n")
        if not said and re.fullmatch(r"sep=[,;\t]", bare):
            said = bare[-1]
        elif bare.strip() or not line:
            source.seek(start)
            return said or _delimiter(bare), skipped
        skipped += 1


DELIMITERS: Final = {",": "commas", ";": "semicolons", "\t": "tabs"}
"""What a clients CSV may separate its cells with: commas, or what Excel writes where the comma
is the decimal mark (semicolons, "CSV" in a German or French Excel) and tab-separated text."""


_ONE: Final = {",": "a comma", ";": "a semicolon", "\t": "a tab"}


def _delimiter(header: str) -> str:
    """The delimiter whose cells of the header include `name`; else the one the header holds
    most of (its error then names it), a comma when it holds none."""
    for delimiter in DELIMITERS:
        if NAME in (c.strip() for c in next(csv.reader([header], delimiter=delimiter), [])):
            return delimiter
    return max(DELIMITERS, key=lambda d: (header.count(d), d == ","))


def _too_many(cells: int, columns: int, delimiter: str, where: Where) -> RosterError:
    example = _shown(delimiter, '"Li', ' Ann"')
    return RosterError(
        f"this row has {cells} cells for {columns} columns: put a cell that holds "
        f"{_ONE[delimiter]} in quotes, e.g. {example}",
        where,
    )


def _quoting(error: csv.Error, start: Where, here: Where) -> RosterError:
    if "unexpected end of data" in str(error):
        # Found at the end of the file; the row that opens the quote is the one to fix.
        return RosterError("this row opens a quote that is never closed: close it", start)
    return RosterError(
        f"not a CSV file the way it is quoted here ({error}); put a cell that holds quotes in "
        'quotes, each quote doubled, e.g. "Ann ""Nan"" Li"',
        here,
    )


def _check_header(columns: list[str], where: Where, delimiter: str) -> None:
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise RosterError("a column has no name in the header: name it, or remove it", where)
        if column in seen:
            raise RosterError(f"column '{column}' appears twice in the header: keep one", where)
        seen.add(column)
    if NAME not in seen:
        raise RosterError(
            f"the header has no '{NAME}' column (its columns, separated by "
            f"{DELIMITERS[delimiter]}: {', '.join(columns)}); the first line names the columns, "
            f"e.g. {_shown(delimiter, NAME, 'hold')} (commas, semicolons or tabs between them)",
            where,
        )


def _shown(delimiter: str, *cells: str) -> str:
    """Cells joined as a line of the file would hold them, a tab shown as <tab>."""
    return ("<tab>" if delimiter == "\t" else delimiter).join(cells)


def _yaml_rows(text: str, name: str) -> Rows:
    doc = parse_yaml(text, name, as_text=True)
    if not isinstance(doc, YList):
        raise RosterError(
            "a clients list in YAML is a list with one mapping per client, e.g. "
            "- {name: Ann Li, hold: 20s}",
            Where(name, getattr(doc, "line", 1)),
        )
    rows: Rows = []
    for item, line in zip(doc, doc.item_lines, strict=True):
        where = Where(name, line)
        if not isinstance(item, YMap):
            rows.append(
                RosterError(f"a client is a mapping like {{name: Ann Li}}, got {show(item)}", where)
            )
            continue
        cells: dict[str, str] = {}
        nested = [k for k, v in item.items() if isinstance(v, dict | list)]
        if nested:
            rows.append(
                RosterError(
                    f"column '{nested[0]}': a cell holds text or a number, got "
                    f"{show(item[nested[0]])}",
                    Where(name, item.key_lines.get(nested[0], line)),
                )
            )
            continue
        for key, value in item.items():
            if value is not None:
                cells[key] = _text(value)
        column_where = {k: Where(name, item.key_lines.get(k, line)) for k in item}
        rows.append(_row(cells, where, column_where, at_key=True))
    return rows


def _row(
    cells: dict[str, str], where: Where, column_where: dict[str, Where], at_key: bool = False
) -> ClientRow | RosterError:
    """A client from its cells, or what is wrong with them, at the row (at the cell's own line
    with `at_key`, as in YAML, where each key has one)."""
    for column, text in cells.items():
        if wrong := _problem(column, text):
            place = column_where.get(column, where) if at_key else where
            return RosterError(f"column '{column}': {wrong}", place)
    name = " ".join(cells.pop(NAME, "").split())
    if not name:
        return RosterError(f"column '{NAME}' is empty: every client needs a name", where)
    filled = {k: v for k, v in cells.items() if v != ""}
    return ClientRow(name, where, filled, column_where)


def _problem(column: str, text: str) -> str:
    """Why a cell cannot be used as it is, or ""."""
    if column == NAME:
        return problem(text, "name", MAX_NAME_CHARS)
    return problem(text, "cell", MAX_CELL_CHARS)


def _text(value: object) -> str:
    return str(value).strip()


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None
