"""The command group, and the one place a library error becomes an `Error:` line."""

from __future__ import annotations

import signal
from typing import Any

import click

from .. import __version__
from ..errors import AudioguideError, Problems
from ..text import printable


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Problems as e:
            for error in e.errors:
                click.echo(f"Error: {error}", err=True)
            raise SystemExit(1) from None
        except AudioguideError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioguide")
def cli() -> None:
    """Turn a routine script into a voice-guided, chaptered MP3 session."""


def warn(message: str) -> None:
    click.echo(f"Warning: {printable(message)}", err=True)


def main() -> None:
    # A service manager or a closed terminal stops a run with SIGTERM: it is met as Ctrl-C is,
    # so every temp file is removed and every child process stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    cli(prog_name="audioguide")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
