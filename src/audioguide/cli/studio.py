"""The studio command: a routine's page on 127.0.0.1, opened in the browser."""

from __future__ import annotations

import webbrowser

import click

from ..language.library import editable_routine
from ..options import Options
from .app import cli


@cli.command()
@click.argument("routine", default="psoas-release")
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="Port [default: any free].")
@click.option("--voice", default=None, metavar="ENGINE[:NAME]", help="The voice chosen at start.")
@click.option("--no-open", is_flag=True, help="Print the address; do not open the browser.")
def studio(routine: str, port: int, voice: str | None, no_open: bool) -> None:
    """Edit ROUTINE in the browser: validated as you type, its plan as a timeline, any step
    played at once, then saved, built and shared as the commands do. A bundled routine is
    first copied into the current folder, as `new` does. Stop it with Ctrl-C.

    Example: audioguide studio morning.yaml
    """
    from ..serve.studio import Studio
    from ..serve.studio_desk import Desk

    path, copied = editable_routine(routine)
    if copied:
        click.echo(f"Wrote {path} (a copy of {routine}) to edit")
    server = Studio(Desk(path.resolve().parent, Options(voice=voice)), path.name, port)
    server.bind()
    click.echo(f"Studio for {path} at {server.url}  (Ctrl-C stops it)")
    if not no_open:
        webbrowser.open(server.url)
    try:
        server.serve()
    finally:
        server.desk.close()
