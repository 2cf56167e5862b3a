"""Running the server: uvicorn, one process, on the address given; the events older than the
retention period forgotten at start and once a day."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import uvicorn

from ..clients.state import CLIENTS, SiteError, state_dir
from .app import Settings, make_app
from .events import Events

DAY_S = 86_400


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080
    keep_days: int = 365
    """How long events are kept."""


def check_site(settings: Settings) -> None:
    if not (state_dir(settings.site) / CLIENTS).is_file():
        raise SiteError(
            f"{settings.site} is not a program's site (no {state_dir(settings.site) / CLIENTS}): "
            "give the folder `audioguide program -o` wrote"
        )


def forget_old(settings: Settings, keep_days: int) -> int:
    events = Events(settings.site)
    try:
        return events.forget_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days))
    finally:
        events.close()


def serve(settings: Settings, listen: Listen) -> None:
    """Serves the site until interrupted."""
    check_site(settings)
    app = make_app(settings)
    config = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        log_level="warning",
        access_log=False,  # the events store is the log, without addresses
        server_header=False,
        proxy_headers=True,  # the client's address from the TLS proxy on this machine
    )
    asyncio.run(_run(uvicorn.Server(config), settings, listen.keep_days))


async def _run(server: uvicorn.Server, settings: Settings, keep_days: int) -> None:
    async def forget() -> None:
        while True:
            forget_old(settings, keep_days)
            await asyncio.sleep(DAY_S)

    task = asyncio.create_task(forget())
    try:
        await server.serve()
    finally:
        task.cancel()
