"""Progress on stderr while a command works: a bar per stage on a terminal, lines in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import click

from ..session import Report

QUIET_S: Final = 1.0
"""Off a terminal, a stage says nothing until it has run this long: a quick check or a failure
prints only its result, a long build in a log is never silent."""
LOG_EVERY_S: Final = 10.0


@contextmanager
def progress() -> Iterator[Report]:
    """Progress on stderr: a bar per stage on a terminal; elsewhere (a log, CI) a line
    `Mixing: 40%` once a stage has run QUIET_S, then every LOG_EVERY_S."""
    bars: dict[str, Any] = {}
    began: dict[str, float] = {}
    said: dict[str, float] = {}
    tty = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
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
