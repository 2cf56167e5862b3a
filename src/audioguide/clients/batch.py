"""A batch: one routine built for every client in a clients file, each into a folder of their
own; a rerun builds only what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..model import Client
from ..options import Options
from ..paths import slug
from ..strings import table
from .jobs import (
    RoutineRef,
)
from .manifest import ClientState, Finished, Manifest
from .planner import Part, check_roster, client_job
from .roster import Roster
from .run import RunReport, run_jobs

# --- a batch: one routine for every client ----------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    folder: Path
    clients: int
    report: RunReport
    """Tracks that failed to build are in `report.failed`; the others are written."""


def build_batch(
    routine: Path,
    roster: Roster,
    folder: Path,
    options: Options,
    variables: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_track: Callable[[Finished], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> BatchResult:
    """Build `routine` for every client in `roster`, each into their own folder in `folder`:
    `NAME/ROUTINE-NAME.mp3` and everything client_outputs() writes beside it."""
    part = Part(RoutineRef(routine))
    checked = check_roster(roster, [part], options, variables or {}, on_warning)
    stem = slug(routine.stem, "routine")
    jobs, routines, states = [], [], {}
    for client in checked:
        own = folder / client.slug
        name = client.row.name
        jobs.append(
            client_job(
                client,
                0,
                part,
                variables or {},
                folder=own,
                track=f"{stem}-{client.slug}.mp3",
                client=Client(name),
                album=table(client.routines[0].language).label(
                    "album", title=client.routines[0].title, name=name
                ),
            )
        )
        routines.append(client.routines[0])
        old = ClientState.load(own)
        states[own] = ClientState(own, name, client.slug, old.tracks if old else {})
    report = run_jobs(
        jobs, routines, Manifest(states), workers=workers, scheduler=scheduler, on_track=on_track
    )
    return BatchResult(folder, len(checked), report)
