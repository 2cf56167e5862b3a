"""The routines that ship with audioguide, and how a name on the command line finds its file."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Final

from ..errors import RoutineError
from ..files import write_atomic

BUNDLED_DIR: Final = Path(__file__).parent / "routines"


def bundled_routines() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.yaml"))}


def find_routine(name_or_path: str) -> Path:
    """A path to a routine file, or the name of a bundled routine."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or _exists(path) or len(path.parts) > 1:
        return path
    bundled = bundled_routines()
    if name_or_path in bundled:
        return bundled[name_or_path]
    close = difflib.get_close_matches(name_or_path, list(bundled), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise RoutineError(
        f"{name_or_path}: no such routine file or bundled routine; {hint}"
        "`audioguide list` shows the bundled ones"
    )


def new_routine(name: str, source: str) -> Path:
    """Copy a routine (bundled name or file) to NAME.yaml to edit; never over an existing file."""
    target = Path(name if name.lower().endswith((".yaml", ".yml")) else f"{name}.yaml")
    if _exists(target):
        raise RoutineError(f"{target}: already exists; choose another name, or move it away first")
    origin = find_routine(source)
    try:
        text = origin.read_bytes()
    except OSError as e:
        raise RoutineError(f"{origin}: cannot read it ({e.strerror})") from None
    bundled = origin.resolve().parent == BUNDLED_DIR.resolve()
    write_atomic(target, _users_copy(text, origin.stem) if bundled else text)
    return target


def editable_routine(name_or_path: str) -> tuple[Path, bool]:
    """The routine file to edit for a name or path, and whether it was copied just now: a file as
    it is; a bundled routine's copy in the current folder, made now (as `new` makes one) unless
    it is there already, so the bundled file itself is never edited."""
    path = find_routine(name_or_path)
    if path.resolve().parent != BUNDLED_DIR.resolve():
        if not _exists(path):
            raise RoutineError(f"{path}: no such file; start one with `audioguide new`")
        return path, False
    copy = Path(f"{path.stem}.yaml")
    if _exists(copy):
        return copy, False
    return new_routine(path.stem, name_or_path), True


def _users_copy(text: bytes, name: str) -> bytes:
    """A bundled routine as the user's own file: the header written for whoever maintains it
    (its sources as paths on the machine that built the package, what to keep when editing) is
    not for the user, and is replaced by a line saying where the copy came from. A user's own
    file is copied as it is: its comments are theirs."""
    lines = text.splitlines(keepends=True)
    body = 0
    while body < len(lines) and lines[body].lstrip().startswith(b"#"):
        body += 1
    while body < len(lines) and not lines[body].strip():
        body += 1
    header = f"# Started from audioguide's bundled routine {name}: yours to change.\n"
    return header.encode() + b"".join(lines[body:])


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for a path is a name, not a file
        return False
