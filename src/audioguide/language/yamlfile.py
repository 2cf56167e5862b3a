"""YAML with line numbers: a routine file (or any other file a user writes) read with the safe
loader into mappings and lists that remember where each key and item stands.

Every YAML problem becomes one RoutineError naming the file and line and what to do.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import RoutineError, Where
from ..model import MAX_FILE_BYTES


class YMap(dict[str, Any]):
    """A YAML mapping whose keys are all text, with the line of the mapping and of each key."""

    def __init__(self, *args: Any, line: int = 0, key_lines: dict[str, int] | None = None) -> None:
        super().__init__(*args)
        self.line = line
        self.key_lines = key_lines or {}


class YList(list[Any]):
    def __init__(self, *args: Any, line: int = 0, item_lines: list[int] | None = None) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines = item_lines or []


class _Routine(yaml.constructor.SafeConstructor):
    """The safe constructor, keeping the line of every mapping, key and list item.

    A routine holds only text, numbers, true/false, lists and mappings: every other YAML type
    (sets, binary, merge keys, !!python/... tags) is refused with the line it is on, and a value
    Python cannot hold (`!!int abc`, a 5,000-digit number) becomes a RoutineError, not a crash.
    Aliases (*name) are kept: PyYAML itself writes them for data used twice, so generated routines
    have them. Each is built once here; the parser counts them in full against MAX_CUES.
    """

    name: str

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError):
            where = Where(self.name, node.start_mark.line + 1)
            if isinstance(node.value, str) and node.value.lstrip("+-").isdigit():
                raise RoutineError(
                    f"a {len(node.value)}-digit number is too long to read: write a smaller one",
                    where,
                ) from None
            raise RoutineError(
                f"cannot read {show(node.value)} as {_short_tag(node.tag)}: remove the "
                "tag, or write a plain number",
                where,
            ) from None

    def mapping(self, node: yaml.MappingNode) -> YMap:
        out = YMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise RoutineError(
                    "invalid YAML: merge keys (<<) are not supported in a routine: write the "
                    "keys out",
                    Where(self.name, line),
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise RoutineError(
                    f"keys must be words, got {show(key)}: write e.g. 'say: Hello.'",
                    Where(self.name, line),
                )
            if key in out:
                raise RoutineError(
                    f"'{key}' appears twice in one block: keep one", Where(self.name, line)
                )
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = line
        return out

    def sequence(self, node: yaml.SequenceNode) -> YList:
        out = YList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    def refuse(self, node: yaml.Node) -> Any:
        raise RoutineError(
            f"invalid YAML: the tag {_short_tag(node.tag)} is not allowed in a routine: remove "
            "it (a routine holds only text, numbers, lists and mappings)",
            Where(self.name, node.start_mark.line + 1),
        )


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


class _Loader(_Routine, yaml.SafeLoader):
    """PyYAML's own parser, in Python: its messages are the ones the user sees."""


if TYPE_CHECKING or yaml.__with_libyaml__:

    class _CLoader(_Routine, yaml.CSafeLoader):
        """libyaml's parser (where PyYAML was built with it) under the same constructor: the
        same values and lines, 7x faster (a 66-minute routine: 0.10-0.14 s -> 0.014-0.018 s)."""


def _map(loader: _Loader | _CLoader, node: yaml.MappingNode) -> YMap:
    return loader.mapping(node)


def _seq(loader: _Loader | _CLoader, node: yaml.SequenceNode) -> YList:
    return loader.sequence(node)


def _plain_text(loader: _Loader | _CLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _refuse(loader: _Loader | _CLoader, node: yaml.Node) -> Any:
    return loader.refuse(node)


for _loader in (_Loader, _CLoader) if yaml.__with_libyaml__ else (_Loader,):
    _loader.add_constructor("tag:yaml.org,2002:map", _map)
    _loader.add_constructor("tag:yaml.org,2002:seq", _seq)
    # A date-like title ("2024-05-01 session") is text, not a timestamp.
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _plain_text)
    for _tag in ("binary", "set", "omap", "pairs"):
        _loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)
    _loader.add_constructor(None, _refuse)  # any other tag, e.g. !!python/object


class _TextLoader(_Loader):
    """The loader for files of text cells (a YAML clients list): every plain value is read as
    it is spelled, so `NO` stays "NO" (not false), `0012` stays "0012" (not 10) and `1e3` stays
    "1e3"; only an empty value (or `~`, `null`) is nothing."""

    def _spelled(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))

    def _nothing(self, node: yaml.ScalarNode) -> None:
        return None


for _tag in ("bool", "int", "float"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _TextLoader._spelled)
_TextLoader.add_constructor("tag:yaml.org,2002:null", _TextLoader._nothing)


def read_text(path: Path, what: str = "routine", kinds: str = ".yaml") -> str:
    """The file's text: a regular, UTF-8 file of at most MAX_FILE_BYTES; messages ask for a
    `what` file of the `kinds` named (a clients list may be .csv or .yaml)."""
    where = Where(str(path))
    try:
        # Looked at before opening: opening a FIFO would wait for a writer forever.
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise RoutineError(f"is a folder; give a {what} {kinds} file", where)
        if not stat.S_ISREG(mode):
            raise RoutineError(f"not a regular file; give a {what} {kinds} file", where)
        with path.open("rb") as f:
            # One byte past the limit tells all; the size on disk can change under us.
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        hint = "; `audioguide list` shows the bundled routines" if what == "routine" else ""
        raise RoutineError(f"no such file{hint}", where) from None
    except OSError as e:
        raise RoutineError(
            f"cannot read it ({e.strerror or e}); check that you may read it", where
        ) from None
    if len(data) > MAX_FILE_BYTES:
        line = data[:MAX_FILE_BYTES].count(b"\n") + 1
        raise RoutineError(
            f"the file is over {MAX_FILE_BYTES // 1000:,} kB by this line; a {what} is a short "
            "text file: check that this is the right file, or split it",
            Where(str(path), line),
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise RoutineError(_not_utf8(data, e.start, kinds), Where(str(path), line)) from None


def _not_utf8(data: bytes, at: int, kinds: str) -> str:
    """What to do about a file that is not UTF-8, naming the encoding it most likely is in:
    UTF-16 (Excel's "Unicode Text"), or Windows-1252, which Excel's plain "CSV" and Notepad's
    "ANSI" write in Western Europe."""
    fix = "not UTF-8 text; save the file as UTF-8"
    excel = ".csv" in kinds
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"{fix} (it is UTF-16{', as Excel saves Unicode Text' if excel else ''})"
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return fix
    byte = data[at]
    how = ': in Excel choose Save As, "CSV UTF-8 (Comma delimited)"' if excel else ""
    return (
        f"{fix} (it looks like Windows-1252, where the byte 0x{byte:02X} here is "
        f"{bytes([byte]).decode('cp1252')!r}){how}"
    )


def parse_yaml(text: str, name: str, *, as_text: bool = False) -> Any:
    """The document in `text` (named `name` in messages), as YMap, YList and plain values;
    `as_text` reads every plain value as the text it is spelled with (see _TextLoader)."""
    if yaml.__with_libyaml__ and not as_text:
        fast = _CLoader(text)
        fast.name = name
        try:
            return fast.get_single_data()
        except Exception:  # RecursionError too
            pass  # whatever is wrong, the Python parser says it, in its own words (below)
        finally:
            fast.dispose()
    try:
        # The reader checks every character here.
        loader = _TextLoader(text) if as_text else _Loader(text)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        raise RoutineError(
            f"not a text file: it holds the control character #x{e.character:04x}, which YAML "
            "does not allow; remove it, or check that this is the right file",
            Where(name, line),
        ) from None
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        line, message = _yaml_problem(e)
        raise RoutineError(message, Where(name, line)) from None
    except yaml.YAMLError as e:
        raise RoutineError(f"invalid YAML: {' '.join(str(e).split())}", Where(name, 1)) from None
    except RecursionError:
        raise RoutineError(
            "invalid YAML: lists or mappings nest too deeply here; a routine needs only a few "
            "levels: flatten it",
            Where(name, loader.get_mark().line + 1),
        ) from None
    finally:
        loader.dispose()


def _yaml_problem(e: yaml.MarkedYAMLError) -> tuple[int, str]:
    """The line to fix, and `invalid YAML: what; what to do`, for a syntax error."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else 1
    problem = " ".join((e.problem or "").split())
    context = " ".join((e.context or "").split())
    if "unconstructable recursive node" in problem:
        return line, (
            "invalid YAML: an alias (*name) is used inside the block it names, so it never "
            "ends: write the steps out, or use 'repeat:'"
        )
    if "found duplicate anchor" in context:
        return line, f"invalid YAML: {context.split(';')[0]}: give each &anchor its own name"
    if "found undefined alias" in problem:
        return line, f"invalid YAML: {problem}: define it with &name before using *name"
    if "another document" in problem:
        return line, (
            "invalid YAML: a second document starts here: a routine is one YAML document: "
            "remove this '---' and what follows, or move it to its own file"
        )
    opened = e.context_mark.line + 1 if e.context_mark else line
    if "while scanning a quoted scalar" in context:
        # Found where the file ends; the line that opens the quote is the one to fix.
        return opened, "invalid YAML: this line opens a quote that is never closed: close it"
    if "while parsing a flow" in context:
        bracket = "[" if "sequence" in context else "{"
        return line, (
            f"invalid YAML: the {bracket} opened on line {opened} is not closed before this "
            "line: close it, or put text that contains brackets in quotes"
        )
    if "expected <block end>" in problem:
        return line, (
            "invalid YAML: this line does not line up with the ones above it: indent each key "
            "of one block by the same number of spaces"
        )
    if "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "put text that contains ': ' in quotes, or check the indentation"
    else:
        hint = "check the indentation and quoting on this line or the one above"
    return line, f"invalid YAML: {problem or 'not valid YAML'}; {hint}"


def at(m: Any, key: str, where: Where) -> Where:
    """Where `key` of the mapping `m` is written, in the file and step of `where`."""
    line = m.key_lines.get(key, m.line) if isinstance(m, YMap) else where.line
    return Where(where.file, line, where.step)


def scalar(text: str) -> Any:
    """What YAML makes of `text` written as a plain value: `3` an int, `true` a bool, `20s` text.
    For a value filled in from a variable, so `reps: "{reps}"` reads as if the number were
    written there."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, int | float | bool | str) else text


def show(value: Any) -> str:
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
