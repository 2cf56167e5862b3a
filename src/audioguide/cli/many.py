"""The commands that build for many clients: batch (one routine each) and program (sessions over
weeks, as private podcast feeds).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..clients.batch import build_batch
from ..clients.manifest import Finished
from ..clients.program import ProgramResult, build_program, program_table
from ..clients.roster import read_roster
from ..clients.run import Runner, RunReport, default_workers
from ..errors import Problems
from ..language.library import find_routine
from ..language.program import read_program
from ..options import Options
from ..strings import clock, plural
from ..text import printable
from .app import cli, warn
from .options import build_options
from .progress import counted

F = TypeVar("F", bound=Callable[..., Any])


def many_options(output: str) -> Callable[[F], F]:
    """The clients file, and where and how to build: this machine's processes or a cluster."""
    return functools.partial(_add_many_options, output=output)


def _add_many_options(f: F, output: str) -> F:
    options = [
        click.option(
            "-o",
            "--output",
            "folder",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=output,
        ),
        click.option(
            "--clients",
            type=click.Path(dir_okay=False, path_type=Path),
            required=True,
            metavar="FILE",
            help="The clients: a CSV with a header, or a YAML list; a 'name' column, and a column "
            "per routine var.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 256),
            default=None,
            help="Processes to build with on this machine [default: one per core].",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="Render on the Dask cluster whose scheduler is at ADDRESS, e.g. "
            "tcp://10.0.0.5:8786 (needs the 'cluster' extra) [default: this machine].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _runner(workers: int | None, scheduler: str | None, show_progress: bool) -> Runner:
    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers is for this machine: with --scheduler, the cluster's")
    return Runner(workers or default_workers(), scheduler, _built, warn, counted(show_progress))


def _built(finished: Finished) -> None:
    if finished.audio:
        click.echo(f"Built {finished.job.path} ({clock(finished.duration_s)})")
    else:
        click.echo(f"Wrote the files beside {finished.job.path}")


def _summary(clients: int, folder: Path, report: RunReport) -> None:
    summary = f"{report.built} built, {report.current} up to date"
    if report.rewritten:
        summary += f" ({report.rewritten} with the files beside them written again)"
    if report.built:
        summary += (
            f"; speech: {plural(report.spoken, 'clip')} spoken, "
            f"{report.cache_share:.0%} from the cache"
        )
    click.echo(f"{plural(clients, 'client')} in {folder}: {summary}")


@cli.command()
@build_options()
@many_options("Folder to write, a folder per client in it [default: output/ROUTINE/].")
def batch(
    routine: str,
    variables: dict[str, str],
    options: Options,
    show_progress: bool,
    clients: Path,
    workers: int | None,
    scheduler: str | None,
    folder: Path | None,
) -> None:
    """Build ROUTINE for every client in a clients file, each in a folder of their own.

    A client's folder holds their track, its transcript and chapters, the page, the handout
    and the cover. A rerun builds only what changed.

    Example: audioguide batch knee.yaml --clients clients.csv -o out/
    """
    path = find_routine(routine)
    result = build_batch(
        path,
        read_roster(clients),
        folder or Path("output") / path.stem,
        options,
        variables,
        _runner(workers, scheduler, show_progress),
    )
    _summary(result.clients, result.folder, result.report)
    if result.report.failed:
        raise Problems(result.report.failed)


@cli.command()
@build_options(argument="program")
@many_options("Folder to write the site in [default: output/PROGRAM/].")
@click.option(
    "--base-url",
    required=True,
    metavar="URL",
    help="Where the folder will be served, e.g. https://clinic.example/p: every link in the "
    "feeds starts with it.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Preview the site as it will be on this day, in FOLDER.preview/ beside the live site, "
    "which is left as it is [default: today, on the live site].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything and print every client's sessions with their dates and values; "
    "build nothing.",
)
def program(
    program: str,
    variables: dict[str, str],
    options: Options,
    show_progress: bool,
    clients: Path,
    workers: int | None,
    scheduler: str | None,
    folder: Path | None,
    base_url: str,
    today: Any,
    dry_run: bool,
) -> None:
    """Build a PROGRAM (sessions released over weeks) for every client in a clients file, as a
    static site of private podcast feeds, one per client.

    Upload the folder to any static host; send each client their page (its address is printed),
    where one tap subscribes their podcast app. Run it again on a later day to release the next
    sessions: only the feeds change.

    Example: audioguide program knee-program.yaml --clients clients.csv -o site/ --base-url
    https://clinic.example/p
    """
    path = Path(program)
    if dry_run:
        table = program_table(read_program(path), read_roster(clients), options, variables, warn)
        for dose in table:
            values = ", ".join(f"{k}={v}" for k, v in sorted(dose.values.items()))
            click.echo(f"{dose.client}  session {dose.session}  {dose.released}  {values}")
        return
    result = build_program(
        read_program(path),
        read_roster(clients),
        folder or Path("output") / path.stem,
        base_url,
        options,
        variables,
        today=today.date() if today else None,
        runner=_runner(workers, scheduler, show_progress),
    )
    _feeds(result)
    if result.report.failed:
        raise Problems(result.report.failed)


def _feeds(result: ProgramResult) -> None:
    feeds = result.feeds
    _summary(len(feeds), result.folder, result.report)
    if result.preview:
        click.echo(
            f"A preview of the feeds on {result.today.isoformat()} (the live site is as it was); "
            "each client's page would be:"
        )
    else:
        click.echo(f"Feeds on {result.today.isoformat()}; send each client their page:")
    # Names are printed as text that does nothing: an ESC in one could retitle the terminal.
    names = [printable(f.name) for f in feeds]
    width = max(map(len, names))
    for name, feed in zip(names, feeds, strict=True):
        click.echo(f"  {name:<{width}}  {plural(feed.released, 'session')}  {feed.page_url}")
    for name in result.revoked:
        click.echo(f"  {printable(name)}: no longer on the list, their feed is now empty")
