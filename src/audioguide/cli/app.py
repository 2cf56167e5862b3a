"""The command group, and the one place a library error becomes an `Error:` line."""

from __future__ import annotations

import importlib
import signal
from collections.abc import Iterator
from typing import Any, Final

import click

from .. import __version__
from ..errors import AudioguideError, Problems
from ..text import printable

COMMANDS: Final = {
    **dict.fromkeys(
        ("new", "list", "build", "share", "plan", "check", "translate", "voices"), "track"
    ),
    **dict.fromkeys(("batch", "program"), "many"),
    "cache": "cache",
    "studio": "studio",
    **dict.fromkeys(("serve", "report"), "serving"),
}
"""Which module of this package defines each command: a command imports only its own module, so
`plan` never imports the batch machinery (with the session importing the writers and mixer only
to make a track, a warm 66-minute `plan` went from 0.42 to 0.31 s of CPU, medians of 5)."""


class _Commands(dict[str, click.Command]):
    """The group's commands by name; a command not yet imported is imported when looked up."""

    def __missing__(self, name: str) -> click.Command:
        if name not in COMMANDS:
            raise KeyError(name)
        importlib.import_module(f"{__package__}.{COMMANDS[name]}")
        return dict.__getitem__(self, name)

    def __iter__(self) -> Iterator[str]:
        _import_all()  # whoever goes through them all (--help, the docs' test) sees them all
        return super().__iter__()

    def __len__(self) -> int:
        _import_all()
        return super().__len__()


def _import_all() -> None:
    for module in sorted(set(COMMANDS.values())):
        importlib.import_module(f"{__package__}.{module}")


class Group(click.Group):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return self.commands[cmd_name]
        return super().get_command(ctx, cmd_name)

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
