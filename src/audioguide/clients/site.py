"""The static site a program becomes: one private folder per client, named by a random token,
with their feed, subscribe page, cover and sessions; robots.txt and a blank index page on top.

Nothing at a guessable address names a client or a token: the top index hides the folder list
from hosts that would show it, and each client's token is kept inside their own folder (its
manifest), not in one list beside the site, which a host would serve to anyone who asks.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit

from ..files import place, write_if_changed
from ..publish.cover import cover_png
from ..publish.feed import Episode, Feed, feed_xml
from ..publish.qr import qr_svg
from ..publish.subscribe import SessionLink, ended_page, subscribe_page
from ..strings import Register, table
from .manifest import ClientState, TrackEntry
from .state import SiteError, SiteState

RELEASE_TIME: Final = dt.time(6, 0, tzinfo=dt.UTC)
"""A session comes out early on its day: in the morning in Europe, the night before in the
Americas, so it is there when the day starts."""
FEED: Final = "feed.xml"
PAGE: Final = "index.html"
COVER: Final = "cover.png"
ROBOTS: Final = b"User-agent: *\nDisallow: /\n"
BLANK_PAGE: Final = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    b'<meta name="robots" content="noindex, nofollow"><title></title></head><body></body></html>\n'
)
OWN_FILES: Final = ("robots.txt", PAGE)


@dataclass(frozen=True)
class EpisodeSource:
    """A built session as the feed lists it."""

    number: int
    title: str
    description: str
    released: dt.date
    track: str
    """The MP3's path in the client's folder."""
    entry: TrackEntry
    cover: str | None = None
    """The session's cover file, beside its MP3."""


@dataclass(frozen=True)
class ClientFeed:
    """A client's feed as written: what to send them."""

    name: str
    token: str
    page_url: str
    feed_url: str
    released: int
    """Episodes in the feed today."""


def check_folder(site: Path, state: SiteState) -> None:
    """A folder that holds anything but this program's site is refused, so building a site
    never overwrites or deletes files that are not its own."""
    if state.members or not site.is_dir():
        return
    others = sorted(p.name for p in site.iterdir() if p.name not in OWN_FILES)
    if others:
        raise SiteError(
            f"{site} already holds other files ({', '.join(others[:3])}); give a new or empty "
            "folder for the program's site"
        )


def url(base_url: str, *parts: str) -> str:
    """An absolute URL under the site's base: each part a path, percent-encoded."""
    return "/".join([base_url.rstrip("/"), *(quote(p) for p in parts)])


def check_base_url(base_url: str) -> str:
    """The base URL without its trailing slash; a SiteError unless it is an absolute http(s)
    address a podcast app can fetch and a page can print as it is (it goes into every feed,
    page and QR code, so it is checked before anything is built)."""
    problem = _url_problem(base_url)
    if problem:
        raise SiteError(
            f"--base-url {base_url!r} {problem}: give the address the site will be served at, "
            "like https://clinic.example/p"
        )
    return base_url.rstrip("/")


def _url_problem(base_url: str) -> str:
    if any(c.isspace() or not c.isprintable() or c in "<>\"'`{}|\\^" for c in base_url):
        return "holds a space, a quote or a character that is not part of an address"
    try:
        parts = urlsplit(base_url)
        port = parts.port  # a port out of range or not a number raises ValueError
    except ValueError as e:
        return f"is not an address ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an absolute http(s) address, which is all podcast apps fetch"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password, which every client would see in their feed"
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        return "has a query or a fragment (?... or #...), which would end up inside every link"
    if port == 0:
        return "has port 0"
    return ""


@dataclass(frozen=True)
class Channel:
    """What a client's feed says of itself."""

    title: str
    """The program's title: the feed's is "TITLE: CLIENT"."""
    description: str
    author: str
    language: str
    client: str
    register: Register | None = None
    """The program's register for the subscribe page; None for the language's default."""


def write_client_feed(
    folder: Path,
    base_url: str,
    channel: Channel,
    episodes: Sequence[EpisodeSource],
    today: dt.date,
) -> ClientFeed:
    """The client's feed.xml (the sessions released by `today`), subscribe page and cover, each
    written only when it changed."""
    token = folder.name
    feed = client_feed(token, base_url, channel, episodes, today, episode_files(folder))
    write_if_changed(folder / FEED, feed_xml(feed))
    html = client_page(feed, channel, episodes, today)
    write_if_changed(folder / PAGE, html.encode("utf-8"))
    if not (folder / COVER).is_file():
        # Drawn once: the cover does not change with the sessions, and drawing takes a while.
        cover = cover_png(channel.title, f"{channel.client} · {channel.author}")
        write_if_changed(folder / COVER, cover)
    return ClientFeed(channel.client, token, feed.link, feed.feed_url, len(feed.episodes))


def released_by(episodes: Sequence[EpisodeSource], today: dt.date) -> list[EpisodeSource]:
    return [e for e in episodes if e.released <= today]


def client_feed(
    token: str,
    base_url: str,
    channel: Channel,
    episodes: Sequence[EpisodeSource],
    today: dt.date,
    exists: Callable[[str], bool],
) -> Feed:
    """The client's feed of the sessions released by `today`; `exists` says which files beside
    a session's MP3 are there to link (a session folder's path, relative to the client's)."""
    return Feed(
        title=f"{channel.title}: {channel.client}",
        description=channel.description,
        author=channel.author,
        feed_url=url(base_url, token, FEED),
        link=url(base_url, token) + "/",
        image_url=url(base_url, token, COVER),
        language=channel.language,
        episodes=tuple(_episode(token, base_url, e, exists) for e in released_by(episodes, today)),
    )


def client_page(
    feed: Feed, channel: Channel, episodes: Sequence[EpisodeSource], today: dt.date
) -> str:
    """The client's subscribe page, listing the sessions released by `today` to play there."""
    t = table(channel.language, channel.register)
    sessions = [
        SessionLink(e.title, t.date(e.released), f"{Path(e.track).parent.as_posix()}/")
        for e in sorted(released_by(episodes, today), key=lambda e: e.number)
    ]
    qr = qr_svg(feed.link, label=t.subscribe["qr_alt"])  # scanned from paper, it opens this page
    return subscribe_page(feed, labels=t.subscribe, qr_svg=qr, sessions=sessions)


def ended_html(language: str) -> str:
    """The page a client whose access has ended finds at their page's address."""
    t = table(language)
    return ended_page(language, t.label("access_ended_title"), t.label("access_ended"))


def episode_files(folder: Path) -> Callable[[str], bool]:
    return lambda name: (folder / name).is_file()


def write_revoked_feed(folder: Path, base_url: str, channel: Channel, today: dt.date) -> None:
    """A client whose access has ended: their feed stays, valid and empty (an app that asks
    finds nothing), beside a page that says access has ended; nothing else is left."""
    write_client_feed(folder, base_url, channel, (), today)
    for child in folder.iterdir():
        if child.name not in (FEED, PAGE):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    write_if_changed(folder / PAGE, ended_html(channel.language).encode("utf-8"))


def place_released(built: Path, served: Path, tracks: Sequence[str]) -> None:
    """The released sessions' folders, as built, in the served folder; no other session (a
    host serves whatever is there, so a session not out yet is not there)."""
    sessions = {Path(track).parent for track in tracks} - {Path()}
    for session in sorted(sessions):
        source, target = built / session, served / session
        made = {f.relative_to(source) for f in source.rglob("*") if f.is_file()}
        for name in sorted(made):
            if not name.name.startswith("."):
                place(source / name, target / name)
        for old in [f for f in target.rglob("*") if f.is_file()]:
            if old.relative_to(target) not in made:
                old.unlink()
    if served.is_dir():
        for child in served.iterdir():
            if child.is_dir() and Path(child.name) not in sessions:
                shutil.rmtree(child)


def _episode(
    token: str, base_url: str, source: EpisodeSource, exists: Callable[[str], bool]
) -> Episode:
    track = Path(source.track)
    stem, session = track.stem, track.parent

    def beside(name: str) -> str | None:
        there = exists((session / name).as_posix())
        return url(base_url, token, *session.parts, name) if there else None

    return Episode(
        guid=_guid(token, source.number, source.entry.digest),
        title=source.title,
        description=source.description,
        published=dt.datetime.combine(source.released, RELEASE_TIME),
        number=source.number,
        audio_url=url(base_url, token, *track.parts),
        audio_bytes=source.entry.bytes,
        duration_s=source.entry.duration_s,
        image_url=beside(source.cover) if source.cover else None,
        chapters_url=beside(f"{stem}.chapters.json") if source.entry.chapters else None,
        transcript_url=beside(f"{stem}.vtt"),
    )


def _guid(token: str, number: int, digest: str) -> str:
    # The client's token, the session's number and its audio's hash: stable however often the
    # site is rebuilt, so an app never downloads a session twice; new when the audio changes
    # (a rate or a hold corrected), because podcast apps key an episode by its GUID and ignore
    # an old one's new enclosure: a new GUID is what makes every app fetch the correction.
    return f"audioguide-{token}-{number}-{digest[:12]}"


def remove_tracks(state: ClientState, keep: Iterable[str]) -> ClientState:
    """The state without the tracks not in `keep`, their session folders removed."""
    kept = set(keep)
    gone = [t for t in state.tracks if t not in kept]
    for track in gone:
        session = (state.folder / track).parent
        if session != state.folder and session.is_relative_to(state.folder):
            shutil.rmtree(session, ignore_errors=True)
        else:
            for file in state.folder.glob(f"{Path(track).stem}.*"):
                file.unlink(missing_ok=True)
    tracks: Mapping[str, TrackEntry] = {t: e for t, e in state.tracks.items() if t in kept}
    return replace(state, tracks=tracks)


def write_site_root(site: Path) -> None:
    site.mkdir(parents=True, exist_ok=True)
    write_if_changed(site / "robots.txt", ROBOTS)
    write_if_changed(site / PAGE, BLANK_PAGE)
