"""The server's commands: `serve` a program's site to its clients, `report` who listened."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from ..serve.app import Settings
from ..serve.catalog import check_site
from ..serve.dashboard import read_password
from ..serve.logs import import_log
from ..serve.report import site_figures
from ..serve.run import Listen
from ..serve.run import serve as run_server
from ..serve.show import csv_text, table
from ..strings import plural
from .app import cli

SITE = click.argument("site", type=click.Path(file_okay=False, path_type=Path))
TODAY = click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Take it to be this day: sessions out by then are released [default: the clock's].",
)
KEEP = click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    default=365,
    show_default=True,
    help="Forget events older than this many days.",
)


def _day(today: Any) -> dt.date | None:
    return today.date() if today else None


@cli.command()
@SITE
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@TODAY
@KEEP
@click.option(
    "--dashboard-port",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="Also serve the dashboard (the client list and each client's timeline) on "
    "127.0.0.1:PORT, which only this machine reaches.",
)
@click.option(
    "--dashboard-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Guard the dashboard with the password on this file's first line (any user name), "
    "and serve it on --host too.",
)
def serve(
    site: Path,
    host: str,
    port: int,
    today: Any,
    keep_days: int,
    dashboard_port: int | None,
    dashboard_password_file: Path | None,
) -> None:
    """Serve a program's site to its clients: each session from its release day, 410 Gone
    once a client's access has ended, and every fetch, download and play recorded beside the
    site (run it behind a TLS proxy: docs/serving.md).

    Example: audioguide serve output/knee-program --port 8080
    """
    settings = Settings(site, _day(today))
    check_site(site)
    password = read_password(dashboard_password_file) if dashboard_password_file else None
    click.echo(f"Serving {site} on http://{host}:{port}/ (Ctrl-C stops)")
    if dashboard_port:
        where = host if password else "127.0.0.1"
        click.echo(f"Dashboard on http://{where}:{dashboard_port}/")
    try:
        run_server(settings, Listen(host, port, keep_days, dashboard_port, password))
    except KeyboardInterrupt:
        # uvicorn has already finished the requests under way (each event is committed); it
        # raises the signal again once done, which is how Ctrl-C and SIGTERM end up here.
        click.echo("Stopped.")


@cli.command()
@SITE
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per client and session.")
@click.option(
    "--log",
    "logs",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="Read this access log (nginx, Apache, Caddy or S3) into the site's events first; repeat "
    "for more. A line read before is not counted twice.",
)
@TODAY
def report(site: Path, as_csv: bool, logs: tuple[Path, ...], today: Any) -> None:
    """Show who subscribed, downloaded and played each released session, how far and when,
    and each client's adherence, from the events the server recorded (and access logs).

    Example: audioguide report output/knee-program --log /var/log/nginx/access.log
    """
    for log in logs:
        added = import_log(site, log)
        click.echo(f"Read {log}: {plural(added, 'new event')}", err=True)
    clients = site_figures(site, _day(today))
    click.echo(csv_text(clients) if as_csv else table(clients), nl=False)
