"""A batch: one routine built for every client in a clients file, each into a folder of their
own; a rerun builds only what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError
from ..files import lock
from ..options import Options
from ..paths import slug
from ..publish.outputs import outputs_for
from ..strings import table
from .jobs import RoutineRef
from .manifest import ClientState, Manifest
from .planner import Checked, Part, Placement, check_roster, plan_jobs
from .roster import Roster
from .run import Runner, RunReport, run_jobs


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
    runner: Runner = Runner(),
) -> BatchResult:
    """Build `routine` for every client in `roster`, each into their own folder in `folder`:
    `NAME/ROUTINE-NAME.mp3` and what outputs_for("batch") writes beside it."""
    part = Part(RoutineRef(routine))
    checked = check_roster(roster, [part], options, variables or {}, runner.on_warning)
    stem = slug(routine.stem, "routine")

    def place(client: Checked, _: int) -> Placement:
        name, first = client.row.name, client.routines[0]
        album = table(first.language).label("album", title=first.title, name=name)
        return Placement(
            folder / client.slug, f"{stem}-{client.slug}.mp3", client.row.client, album
        )

    outputs = outputs_for("batch", on_warning=runner.on_warning)
    planned = plan_jobs(checked, [part], variables or {}, outputs, place)
    with lock(folder):
        states = {}
        for client in checked:
            own = folder / client.slug
            old = ClientState.load(own)
            if old is None and own.is_dir() and any(own.iterdir()):
                # A client called "www" must not overwrite a folder that is someone else's.
                name = client.row.name
                raise ExportError(
                    f"{own} already holds files audioguide did not write (for {name!r}); choose "
                    "a new or empty output folder"
                )
            states[own] = ClientState(own, client.row.name, client.slug, old.tracks if old else {})
        report = run_jobs(planned, Manifest(states), runner)
    return BatchResult(folder, len(checked), report)
