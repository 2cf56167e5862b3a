"""Building a program (language/program.py reads the file) for every client: each session's track
for each client, and their private feed of the sessions released so far (see site.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..language.program import Program
from ..model import Client, Routine
from ..options import Options
from ..paths import slug
from ..strings import table
from .jobs import Job, RoutineRef
from .manifest import ClientState, Finished, Manifest
from .planner import Checked, Part, check_roster, client_job
from .roster import Roster
from .run import RunReport, run_jobs
from .site import (
    FEED,
    ClientFeed,
    EpisodeSource,
    check_base_url,
    new_token,
    remove_tracks,
    site_clients,
    url,
    write_client_feed,
    write_site_root,
)

OnWarning = Callable[[str], None]


# --- building a program for every client ---------------------------------------------------


@dataclass(frozen=True)
class ProgramResult:
    folder: Path
    feeds: tuple[ClientFeed, ...]
    """The roster's clients' feeds, in roster order."""
    revoked: tuple[str, ...]
    """Clients who had a feed here and are no longer on the roster: theirs is now empty."""
    report: RunReport
    today: dt.date


def build_program(
    program: Program,
    roster: Roster,
    folder: Path,
    base_url: str,
    options: Options,
    variables: Mapping[str, str] | None = None,
    *,
    today: dt.date | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    on_track: Callable[[Finished], None] | None = None,
    on_warning: OnWarning | None = None,
) -> ProgramResult:
    """Every session for every client on the roster, and each client's private feed listing
    the sessions released by `today` (default: today); clients no longer on the roster get an
    empty feed and their sessions are removed."""
    today = today or dt.date.today()
    base_url = check_base_url(base_url)
    parts = [
        Part(
            RoutineRef(s.routine, s.number, s.title, s.notes, program.clinic), s.variables, s.where
        )
        for s in program.sessions
    ]
    checked = check_roster(roster, parts, options, variables or {}, on_warning)
    program_id = program.path.stem
    known = site_clients(folder, program_id)
    stem = slug(program_id, "program")
    jobs, routines, states = [], [], {}
    for client in checked:
        old = known.get(client.slug)
        own = old.folder if old else folder / new_token()
        feed_url = url(base_url, own.name, FEED)
        for i, (session, part) in enumerate(zip(program.sessions, parts, strict=True)):
            number = f"{session.number:02d}"
            released = program.release(session.number, client.row.start)
            jobs.append(
                client_job(
                    client,
                    i,
                    part,
                    variables or {},
                    folder=own,
                    track=f"{number}/{stem}-{number}.mp3",
                    client=Client(client.row.name, feed_url, released),
                    album=table(client.routines[i].language).label(
                        "album", title=program.title, name=client.row.name
                    ),
                )
            )
            routines.append(client.routines[i])
        tracks = old.tracks if old else {}
        states[own] = ClientState(own, client.row.name, client.slug, tracks, program_id)
    manifest = Manifest(states)
    report = run_jobs(
        jobs, routines, manifest, workers=workers, scheduler=scheduler, on_track=on_track
    )
    write_site_root(folder)
    feeds = [
        _feed(program, client, manifest.states[folder_of], base_url, today, jobs)
        for client, folder_of in zip(checked, states, strict=True)
    ]
    on_roster = {c.slug for c in checked}
    revoked = [s for slug_, s in known.items() if slug_ not in on_roster]
    for state in revoked:
        _revoke(program, state, base_url, today)
    return ProgramResult(folder, tuple(feeds), tuple(s.name for s in revoked), report, today)


def _feed(
    program: Program,
    client: Checked,
    state: ClientState,
    base_url: str,
    today: dt.date,
    jobs: Sequence[Job],
) -> ClientFeed:
    own = [j for j in jobs if j.folder == state.folder]
    state = remove_tracks(state, (j.track for j in own))
    state.save()
    episodes = []
    for session, routine, job in zip(program.sessions, client.routines, own, strict=True):
        entry = state.tracks.get(job.track)
        if entry is None or not state.current(job):
            continue  # it failed to build: the error is reported, the feed goes without it
        episodes.append(
            EpisodeSource(
                number=session.number,
                title=routine.title,
                description=_description(routine, state.folder / job.track),
                released=program.release(session.number, client.row.start),
                track=job.track,
                entry=entry,
                cover="cover" + (routine.cover.suffix.lower() if routine.cover else ".png"),
            )
        )
    first = client.routines[0]
    return write_client_feed(
        state.folder,
        base_url,
        title=program.title,
        description=_about(program, _author(program, first)),
        author=_author(program, first),
        language=first.language,
        client=client.row.name,
        episodes=episodes,
        today=today,
    )


def _revoke(program: Program, state: ClientState, base_url: str, today: dt.date) -> None:
    """Access taken away, as a podcast host does: the feed stays, empty, and the sessions go."""
    state = remove_tracks(state, ())
    state.save()
    author = program.clinic.name if program.clinic else "audioguide"
    write_client_feed(
        state.folder,
        base_url,
        title=program.title,
        description=_about(program, author),
        author=author,
        language="en",
        client=state.name,
        episodes=(),
        today=today,
    )


def _author(program: Program, routine: Routine) -> str:
    clinic = program.clinic or routine.clinic
    return clinic.name if clinic else routine.author or "audioguide"


def _about(program: Program, author: str) -> str:
    if program.description:
        return program.description
    every = program.every_days
    period = "week" if every == 7 else f"{every // 7} weeks" if every % 7 == 0 else f"{every} days"
    if every == 1:
        period = "day"
    return f"{len(program.sessions)} sessions from {author}, one every {period}."


def _description(routine: Routine, track: Path) -> str:
    """The episode's notes, then its chapters as `00:00:00 Title` lines, which Apple Podcasts
    and Spotify show as chapters."""
    chapters = track.with_name(track.stem + ".chapters.txt")
    lines = "\n".join(routine.notes) or routine.description
    try:
        listed = chapters.read_text(encoding="utf-8").strip()
    except OSError:
        listed = ""
    return "\n\n".join(filter(None, [lines, listed])) or routine.title
