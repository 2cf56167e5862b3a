"""Building a program (language/program.py reads the file) for every client: each session's track
for each client, and their private feed of the sessions released so far (see site.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..cues import Chapter
from ..errors import AudioguideError, Problems
from ..files import lock
from ..language.program import Program, is_program, read_program
from ..model import Routine
from ..options import Options
from ..paths import slug
from ..publish.companions import chapter_list
from ..publish.outputs import outputs_for
from ..strings import table
from .jobs import Job, RoutineRef, session_for
from .manifest import ClientState, Manifest
from .planner import Checked, Part, Placement, check_roster, plan_jobs, values_for
from .roster import Roster
from .run import Runner, RunReport, run_jobs
from .schedule import Schedule, save_schedule
from .site import (
    FEED,
    Channel,
    ClientFeed,
    EpisodeSource,
    check_base_url,
    check_folder,
    place_released,
    remove_tracks,
    url,
    write_client_feed,
    write_revoked_feed,
    write_site_root,
)
from .state import SiteState, state_dir


@dataclass(frozen=True)
class ProgramResult:
    folder: Path
    feeds: tuple[ClientFeed, ...]
    """The roster's clients' feeds, in roster order."""
    revoked: tuple[str, ...]
    """Clients who had a feed here and are no longer on the roster: theirs is now empty."""
    report: RunReport
    today: dt.date
    preview: bool = False
    """Whether `folder` is a preview of another day, beside the live site (which it left as
    it was)."""


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
    empty feed and their sessions are removed. One run at a time writes a site."""
    base_url = check_base_url(base_url)
    parts = _parts(program)
    checked = check_roster(
        roster, parts, options, variables or {}, runner.on_warning, for_life=True
    )
    late = [c.row for c in checked if program.last_release(c.row.start) is None]
    if late:
        message = "its last session would come out after the year 9999: start earlier"
        raise Problems([row.error("start", message) for row in late])
    texts = in_languages(program, {c.routines[0].language for c in checked})
    checked = [_in_language(c, texts[c.routines[0].language], variables or {}) for c in checked]
    with lock(state_dir(folder), "lock"):
        return _build(program, checked, texts, folder, base_url, variables or {}, today, runner)


def in_languages(program: Program, languages: Iterable[str]) -> dict[str, Program]:
    """The program with its texts in each language its clients read (from its translations);
    every text missing is one error, before anything is built."""
    texts: dict[str, Program] = {}
    problems: list[AudioguideError] = []
    for language in sorted(languages):
        try:
            texts[language] = read_program(program.path, language)
        except Problems as e:
            problems += e.errors
        except AudioguideError as e:
            problems.append(e)
    if problems:
        raise Problems(list(dict.fromkeys(problems)))
    return texts


def _in_language(client: Checked, program: Program, variables: Mapping[str, str]) -> Checked:
    """The client's routines dressed with the program's titles and notes in their language."""
    routines = tuple(
        session_for(part.ref).routine(
            values_for(client, part, variables),
            variables_from=str(client.row.where),
            options=client.options,
        )
        for part in _parts(program)
    )
    return replace(client, routines=routines)


def _build(
    program: Program,
    checked: Sequence[Checked],
    texts: Mapping[str, Program],
    folder: Path,
    base_url: str,
    variables: Mapping[str, str],
    today: dt.date | None,
    runner: Runner,
) -> ProgramResult:
    # A day given is a preview: its site goes beside the live one, which it never touches.
    served = folder if today is None else preview_folder(folder)
    today = today or dt.date.today()
    program_id = program.path.stem
    site = SiteState.load(folder, program_id)
    check_folder(folder, site)
    here = {c.row.identity for c in checked}
    gone = {i: m for i, m in site.members.items() if i not in here}
    members = {c.row.identity: site.member(c.row, c.routines[0].language) for c in checked}
    site.save()  # before anything is built: a new client's address is theirs from now on
    stem = slug(program_id, "program")

    def place(client: Checked, i: int) -> Placement:
        token, number = members[client.row.identity].token, program.sessions[i].number
        released = program.release(number, client.row.start)
        name, own = client.row.name, texts[client.routines[0].language]
        album = table(client.routines[i].language).label("album", title=own.title, name=name)
        track = f"{number:02d}/{stem}-{number:02d}.mp3"
        page = url(base_url, token) + "/"
        feed = url(base_url, token, FEED)
        client_ = replace(client.row.client, feed_url=feed, page_url=page, date=released)
        return Placement(site.build / token, track, client_, album, _parts(own)[i].ref)

    outputs = outputs_for("program", on_warning=runner.on_warning)
    planned = plan_jobs(checked, _parts(program), variables, outputs, place)
    manifest = Manifest({site.build / m.token: site.client(m) for m in members.values()})
    report = run_jobs(planned, manifest, runner)
    write_site_root(served)
    jobs = [p.job for p in planned]
    feeds = []
    for c in checked:
        token = members[c.row.identity].token
        state = manifest.states[site.build / token]
        own = texts[c.routines[0].language]
        feeds.append(_feed(own, c, state, Release(served / token, base_url, today, folder), jobs))
    for member in gone.values():
        release = Release(served / member.token, base_url, today, folder)
        _revoke(program, site.client(member), member.language, release)
    revoked = tuple(m.name for m in gone.values())
    return ProgramResult(served, tuple(feeds), revoked, report, today, served != folder)


@dataclass(frozen=True)
class Dose:
    """One cell of a program's table: what a client's session will be, before it is built."""

    client: str
    session: int
    released: dt.date
    values: Mapping[str, str]


def program_table(
    program: Program,
    roster: Roster,
    options: Options,
    variables: Mapping[str, str] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> list[Dose]:
    """Every client's every session with its date and the values its vars take, checked as a
    build checks them: what `program --dry-run` shows, building nothing."""
    parts = _parts(program)
    checked = check_roster(roster, parts, options, variables or {}, on_warning, for_life=True)
    return [
        Dose(
            c.row.name,
            s.number,
            program.release(s.number, c.row.start),
            values_for(c, p, variables or {}),
        )
        for c in checked
        for s, p in zip(program.sessions, parts, strict=True)
    ]


def check_clients(
    path: Path,
    roster: Roster,
    options: Options,
    variables: Mapping[str, str],
    on_warning: Callable[[str], None],
) -> int:
    """What `check --clients` does: a routine (or a program) checked for every client in the
    roster as `batch` (or `program`) checks it before building anything; how many clients."""
    if is_program(path):
        program_table(read_program(path), roster, options, variables, on_warning)
    else:
        check_roster(roster, [Part(RoutineRef(path))], options, variables, on_warning)
    return len(roster.rows)


def _parts(program: Program) -> list[Part]:
    return [
        Part(
            RoutineRef(s.routine, s.number, s.title, s.notes, program.clinic, program.register),
            s.variables,
            s.where,
            program.personal,
        )
        for s in program.sessions
    ]


def preview_folder(site: Path) -> Path:
    return site.with_name(site.name + ".preview")


@dataclass(frozen=True)
class Release:
    """Where a client's released sessions and feed are served, and as of which day."""

    folder: Path
    base_url: str
    today: dt.date
    site: Path
    """The live site, beside which the client's schedule is kept (the server reads it)."""


def _feed(
    program: Program, client: Checked, state: ClientState, release: Release, jobs: Sequence[Job]
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
    out = [e.track for e in episodes if e.released <= release.today]
    place_released(state.folder, release.folder, out)
    first = client.routines[0]
    author = _author(program, first)
    channel = Channel(
        program.title,
        _about(program, author, first.language),
        author,
        first.language,
        client.row.name,
        program.register or first.register,
    )
    token = release.folder.name
    save_schedule(release.site, Schedule(token, release.base_url, channel, tuple(episodes)))
    return write_client_feed(release.folder, release.base_url, channel, episodes, release.today)


def _revoke(program: Program, state: ClientState, language: str, release: Release) -> None:
    """Access taken away, as a podcast host does: the feed stays, empty, beside a page that says
    access has ended; the sessions and everything else go."""
    remove_tracks(state, ()).save()
    place_released(state.folder, release.folder, [])
    author = program.clinic.name if program.clinic else "audioguide"
    about = _about(program, author, language)
    channel = Channel(program.title, about, author, language, state.name)
    save_schedule(release.site, Schedule(state.slug, release.base_url, channel, revoked=True))
    write_revoked_feed(release.folder, release.base_url, channel, release.today)


def _author(program: Program, routine: Routine) -> str:
    clinic = program.clinic or routine.clinic
    return clinic.name if clinic else routine.author or "audioguide"


def _about(program: Program, author: str, language: str) -> str:
    """The feed's description: the program's own, else one in the client's language."""
    if program.description:
        return program.description
    t, every = table(language), program.every_days
    if every % 7 == 0:
        period = t.label("every_week") if every == 7 else t.label("every_weeks", n=every // 7)
    else:
        period = t.label("every_day") if every == 1 else t.label("every_days", n=every)
    sessions = t.count("program_sessions", len(program.sessions))
    return t.label("program_about", sessions=sessions, author=author, every=period)


def _description(routine: Routine, chapters: Sequence[Chapter]) -> str:
    """The episode's notes, then its chapters (as the track was built) as `00:00:00 Title`
    lines, which Apple Podcasts and Spotify show as chapters."""
    lines = "\n".join(routine.notes) or routine.description
    listed = chapter_list(chapters).strip()
    return "\n\n".join(filter(None, [lines, listed])) or routine.title
