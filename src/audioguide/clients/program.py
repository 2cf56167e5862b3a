"""Building a program (language/program.py reads the file) for every client: each session's track
for each client, and their private feed of the sessions released so far (see site.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cues import Chapter
from ..language.program import Program
from ..model import Client, Routine
from ..options import Options
from ..paths import slug
from ..publish.companions import chapter_list
from ..publish.outputs import outputs_for
from ..strings import table
from .jobs import Job, RoutineRef
from .manifest import ClientState, Manifest
from .planner import Checked, Part, Placement, check_roster, plan_jobs
from .roster import Roster
from .run import Runner, RunReport, run_jobs
from .site import (
    FEED,
    Channel,
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
    runner: Runner = Runner(),
) -> ProgramResult:
    """Every session for every client on the roster, and each client's private feed listing
    the sessions released by `today` (default: today); clients no longer on the roster get an
    empty feed and their sessions are removed."""
    today = today or dt.date.today()
    base_url = check_base_url(base_url)
    parts = [
        Part(
            RoutineRef(s.routine, s.number, s.title, s.notes, program.clinic, program.register),
            s.variables,
            s.where,
        )
        for s in program.sessions
    ]
    checked = check_roster(roster, parts, options, variables or {}, runner.on_warning)
    program_id = program.path.stem
    known = site_clients(folder, program_id)
    folders = {
        c.slug: known[c.slug].folder if c.slug in known else folder / new_token() for c in checked
    }
    stem = slug(program_id, "program")

    def place(client: Checked, i: int) -> Placement:
        own, number = folders[client.slug], program.sessions[i].number
        released = program.release(number, client.row.start)
        name = client.row.name
        album = table(client.routines[i].language).label("album", title=program.title, name=name)
        track = f"{number:02d}/{stem}-{number:02d}.mp3"
        return Placement(own, track, Client(name, url(base_url, own.name, FEED), released), album)

    outputs = outputs_for("program", on_warning=runner.on_warning)
    planned = plan_jobs(checked, parts, variables or {}, outputs, place)
    states = {}
    for client in checked:
        own, old = folders[client.slug], known.get(client.slug)
        tracks = old.tracks if old else {}
        states[own] = ClientState(own, client.row.name, client.slug, tracks, program_id)
    manifest = Manifest(states)
    report = run_jobs(planned, manifest, runner)
    write_site_root(folder)
    jobs = [p.job for p in planned]
    feeds = [
        _feed(program, client, manifest.states[folders[client.slug]], base_url, today, jobs)
        for client in checked
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
                description=_description(routine, entry.chapters),
                released=program.release(session.number, client.row.start),
                track=job.track,
                entry=entry,
                cover="cover" + (routine.cover.suffix.lower() if routine.cover else ".png"),
            )
        )
    first = client.routines[0]
    author = _author(program, first)
    channel = Channel(
        program.title, _about(program, author), author, first.language, client.row.name
    )
    return write_client_feed(state.folder, base_url, channel, episodes, today)


def _revoke(program: Program, state: ClientState, base_url: str, today: dt.date) -> None:
    """Access taken away, as a podcast host does: the feed stays, empty, and the sessions go."""
    state = remove_tracks(state, ())
    state.save()
    author = program.clinic.name if program.clinic else "audioguide"
    channel = Channel(program.title, _about(program, author), author, "en", state.name)
    write_client_feed(state.folder, base_url, channel, (), today)


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


def _description(routine: Routine, chapters: Sequence[Chapter]) -> str:
    """The episode's notes, then its chapters (as the track was built) as `00:00:00 Title`
    lines, which Apple Podcasts and Spotify show as chapters."""
    lines = "\n".join(routine.notes) or routine.description
    listed = chapter_list(chapters).strip()
    return "\n\n".join(filter(None, [lines, listed])) or routine.title
