"""Every file the package writes is written here: whole or not at all (a temp file beside it,
renamed into place), left-over temp files of killed runs removed, and OS errors as one clear line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from .errors import ExportError

STALE_PART_S: Final = 3600.0
"""A temp file untouched this long is left over, whoever made it: a live build writes to its
own continuously (encoding a 6-hour track takes a few minutes)."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write a companion file the way the track is written: whole, or not at all."""
    with atomic(path) as part:
        try:
            part.write_bytes(data)
        except OSError as e:
            raise write_error(path, e) from None


def keep(path: Path, data: bytes) -> None:
    """A file the tool can make again (a cached clip, a memo): written aside and renamed, so no
    reader ever finds half of one under its name, but without waiting for the disk or sweeping
    for a killed run's left-overs (a cache holds thousands). OSError as it comes: a cache says
    what to do in its own words."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        part.write_bytes(data)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def lock(folder: Path, name: str = ".audioguide.lock") -> Iterator[None]:
    """One run at a time writes `folder`: a second says so at once rather than interleave its
    files with the first's (two runs at once left one client two feeds). The lock is the
    kernel's, on the file `name` in the folder, and dies with its process."""
    import fcntl  # POSIX only, as the rest of the process handling

    path = folder / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as e:
        raise write_error(path, e) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(
                f"another audioguide run is writing {folder} right now; wait for it to finish, "
                "then run this again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic(path: Path) -> Iterator[Path]:
    """A temp file beside `path`, renamed onto it once the block completes, removed if it fails."""
    part = _create_part(path)
    remove_stale_parts(path)
    try:
        yield part
        try:
            _sync(part)
            os.replace(part, path)
        except OSError as e:
            raise write_error(path, e) from None
    except BaseException:
        # Including KeyboardInterrupt: never leave a half-written file behind.
        part.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def scratch(path: Path) -> Iterator[Path]:
    """A temp file beside `path` for work towards it (a span of the track, encoded apart), removed
    when the block ends; named as a part of `path`, so a killed build's is swept as its parts."""
    part = _create_part(path)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


def part_pattern(path: Path) -> re.Pattern[str]:
    """Names of the temp files a build of `path` writes: `.NAME.PID-RANDOM.part`, beside it
    (`.NAME.RANDOM.part`, without the pid, from audioguide 0.1)."""
    return re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[0-9a-f]{{8}}\.part")


def remove_stale_parts(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete temp files that earlier builds of `path` left when they were killed: those whose
    process is gone, or that nobody has written to for STALE_PART_S. Best effort; returns them."""
    pattern = part_pattern(path)
    now = time.time() if now is None else now
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return []
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None:
            continue
        pid = int(match.group(1) or 0)
        if pid == os.getpid():
            continue
        try:
            dead = pid > 0 and not _alive(pid)
            stale = dead or now - sibling.stat().st_mtime > STALE_PART_S
            if stale:
                sibling.unlink()
                removed.append(sibling)
        except OSError:
            continue  # gone already, or not ours to remove: the next build tries again
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no pid can be
        return False
    except PermissionError:
        return True  # another user's process
    # A killed worker whose parent died too stays a zombie until init reaps it, and in a
    # container init may take its time: a zombie writes nothing more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all there is to go on
    return state != "Z"


def _sync(part: Path) -> None:
    """Flush the track to disk before the rename, so even a crash of the machine leaves either the
    old track or the whole new one (the rename alone is atomic only for running programs)."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_part(path: Path) -> Path:
    """Reserve a hidden temp file next to the target, so the final rename stays on one disk."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(
            f"cannot write {path}: part of {path.parent} is a file, not a folder; "
            "choose another output path"
        ) from None
    except OSError as e:
        raise write_error(path, e) from None
    try:
        # The pid in the name tells a later build whether this one is still running.
        part = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        # Mode 0o666 minus the umask, as any new file; mkstemp's 0o600 would make a track the
        # user means to share unreadable to others.
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as e:
        raise write_error(path, e) from None
    return part


def write_error(path: Path, error: OSError) -> ExportError:
    if error.errno == errno.ENOSPC:
        return ExportError(
            f"not enough disk space to write {path}: free some space or choose "
            "another output folder"
        )
    if isinstance(error, PermissionError):
        return ExportError(
            f"cannot write {path}: permission denied; choose a folder you can write to"
        )
    if isinstance(error, IsADirectoryError):
        return ExportError(f"cannot write {path}: it is a folder; give the file name to write")
    reason = error.strerror or str(error)
    return ExportError(
        f"cannot write {path}: {reason[:1].lower()}{reason[1:]}; choose another output path"
    )


def place(source: Path, target: Path) -> bool:
    """`target` holding what `source` holds, switched atomically: a hard link where the disk
    allows (a released session costs no space twice), else a copy. Returns whether it changed."""
    try:
        if target.samefile(source):
            return False
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        try:
            os.link(source, part)
        except OSError:
            part.write_bytes(source.read_bytes())
        os.replace(part, target)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise write_error(target, e) from None
    return True


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically unless the file holds it already: a rebuild that changes nothing
    touches nothing. Returns whether it wrote."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return True
