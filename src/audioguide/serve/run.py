"""Running the server: uvicorn, one process, on the address given; the events older than the
retention period forgotten at start and once a day."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from .app import Settings, make_app
from .catalog import check_site
from .dashboard import Guard, make_dashboard
from .events import Events

DAY_S = 86_400


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080
    keep_days: int = 365
    """How long events are kept."""
    dashboard_port: int | None = None
    """Where the dashboard listens; None: no dashboard."""
    dashboard_password: str | None = None
    """With one, the dashboard listens on `host` too, behind it; without, on 127.0.0.1 only."""


def forget_old(settings: Settings, keep_days: int) -> int:
    events = Events(settings.site)
    try:
        return events.forget_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days))
    finally:
        events.close()


def serve(settings: Settings, listen: Listen) -> None:
    """Serves the site until interrupted."""
    check_site(settings.site)
    servers = [_server(make_app(settings), listen.host, listen.port)]
    if listen.dashboard_port is not None:
        dashboard: ASGIApp = make_dashboard(settings.site, settings.today)
        host = "127.0.0.1"
        if listen.dashboard_password is not None:
            dashboard, host = Guard(dashboard, listen.dashboard_password), listen.host
        servers.append(_server(dashboard, host, listen.dashboard_port))
    asyncio.run(_run(servers, settings, listen.keep_days))


def _server(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # the events store is the log, without addresses
        server_header=False,
        proxy_headers=True,  # the client's address from the TLS proxy on this machine
    )
    return uvicorn.Server(config)


async def _run(servers: list[uvicorn.Server], settings: Settings, keep_days: int) -> None:
    async def forget() -> None:
        while True:
            forget_old(settings, keep_days)
            await asyncio.sleep(DAY_S)

    task = asyncio.create_task(forget())
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        task.cancel()
