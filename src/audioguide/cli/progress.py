"""Progress on stderr while a command works: a bar per stage on a terminal; in a log (CI, a
pipe) nothing unless asked for with --progress, so what a command prints off a terminal does not
depend on how busy the machine is."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import click

from ..session import Report

QUIET_S: Final = 1.0
"""With --progress off a terminal, a stage says nothing until it has run this long: a quick check
or a failure prints only its result, a long build in a log is never silent."""
LOG_EVERY_S: Final = 10.0


PROGRESS = click.option(
    "--progress",
    "show_progress",
    is_flag=True,
    help="Show progress off a terminal too (a log, CI): a line like 'Mixing: 40%' per stage "
    "every 10 s [default: only on a terminal].",
)


def shown(asked: bool) -> bool:
    """Whether to show progress: always on a terminal, elsewhere only when asked."""
    return asked or sys.stderr.isatty()


@contextmanager
def progress(asked: bool = False) -> Iterator[Report]:
    """Progress on stderr: a bar per stage on a terminal; elsewhere (a log, CI) nothing, or with
    `asked` (--progress) a line `Mixing: 40%` once a stage has run QUIET_S, then every
    LOG_EVERY_S."""
    bars: dict[str, Any] = {}
    began: dict[str, float] = {}
    said: dict[str, float] = {}
    tty = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if not tty and not asked:
            return
        if not tty:
            now = time.monotonic()
            began.setdefault(stage, now)
            due = said[stage] + LOG_EVERY_S if stage in said else began[stage] + QUIET_S
            if now >= due or (stage in said and done == total):
                said[stage] = now
                click.echo(f"{stage.capitalize()}: {100 * done // max(total, 1)}%", err=True)
            return
        if stage not in bars:
            for other in bars.values():
                other.__exit__(None, None, None)
            bars.clear()
            bars[stage] = click.progressbar(length=total, label=stage.capitalize(), file=sys.stderr)
            bars[stage].__enter__()
        bar = bars[stage]
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)


def stage(report: Report, name: str) -> Callable[[int, int], None]:
    return lambda done, total: report(name, done, total)


UNITS: Final = {"speaking": "lines", "building": "tracks"}


def counted(asked: bool) -> Report | None:
    """Progress of a run over many tracks on stderr, as lines (`Building: 2 of 4 tracks`) even
    on a terminal, where a bar would be broken by each track's own line: a stage's start, then
    at most every LOG_EVERY_S, and its end. None (nothing shown) off a terminal unless asked."""
    if not shown(asked):
        return None
    said: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage in said and done < total and now < said[stage] + LOG_EVERY_S:
            return
        said[stage] = now
        click.echo(
            f"{stage.capitalize()}: {done} of {total} {UNITS.get(stage, '')}".rstrip(), err=True
        )

    return report
