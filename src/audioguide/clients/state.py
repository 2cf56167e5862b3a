"""What the tool keeps about a program's site, beside it and never in it (a host serves whatever
is in the folder): whose private folder is whose, by who the client is, and what was built in
each; and the lock that keeps two runs from writing one site at once.

    site/                    what is uploaded: robots.txt, a blank index, a folder per token
    site.audioguide/         what is not: clients.json (identity -> token), a manifest per
                             token, the lock
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from ..errors import AudioguideError
from ..files import write_if_changed
from .manifest import STATE_FILE, ClientState
from .roster import ClientRow, same_name

SUFFIX: Final = ".audioguide"
CLIENTS: Final = "clients.json"
FORMAT: Final = 1
TOKEN_BYTES: Final = 16
"""128 random bits (22 URL-safe characters): no one finds a feed by trying addresses."""


class SiteError(AudioguideError):
    """The output folder is not this program's site, or the site's state cannot be trusted."""


@dataclass(frozen=True)
class Member:
    """A client who has (or had) a folder on the site."""

    identity: str
    token: str
    name: str
    language: str = "en"
    """The language of their last build: what their feed says once their access has ended."""


def state_dir(site: Path) -> Path:
    return site.with_name(site.name + SUFFIX)


class SiteState:
    """Who is who on a site: each identity keeps its token for life, whatever happens to the
    other rows of the clients file."""

    def __init__(self, site: Path, program: str, members: Iterable[Member] = ()) -> None:
        self.site = site
        self.program = program
        self.members = {m.identity: m for m in members}
        self.build = state_dir(site) / "build"
        """Every client's sessions as built, released or not."""

    @classmethod
    def load(cls, site: Path, program: str) -> SiteState:
        """The site's state; one kept inside its client folders (audioguide 0.2) is moved out.
        A state file that cannot be read is an error, never a reason to hand out new
        addresses (the old ones would go on serving, and never be revoked)."""
        path = state_dir(site) / CLIENTS
        if not path.exists():
            return _moved_out(site, program)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            members = [
                Member(m["identity"], m["token"], m["name"], m.get("language", "en"))
                for m in doc["clients"]
            ]
            owner = str(doc["program"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SiteError(
                f"{path} is damaged ({type(e).__name__}: {e}): restore it from a backup of "
                f"{state_dir(site)}; without it every client would get a new private address"
            ) from None
        if owner != program:
            raise SiteError(
                f"{site} holds the feeds of another program ({owner}); give each program its own "
                "output folder"
            )
        return cls(site, program, members)

    def member(self, row: ClientRow, language: str) -> Member:
        """The client's place on the site: theirs since they were first built, or a new one. A
        client first known by name who is given an id keeps their address."""
        known = self.members.get(row.identity)
        if known is None and row.identity.startswith("id:"):
            known = self.members.pop(f"name:{same_name(row.name)}", None)
        if known is None:
            known = Member(row.identity, secrets.token_urlsafe(TOKEN_BYTES), row.name)
        self.members[row.identity] = Member(row.identity, known.token, row.name, language)
        return self.members[row.identity]

    def client(self, member: Member) -> ClientState:
        """What was built for the member: their sessions are built beside the site, and only
        those released are placed in it (a host serves whatever is there)."""
        file = state_dir(self.site) / f"{member.token}.json"
        folder = self.build / member.token
        old = ClientState.load(folder, file)
        tracks = old.tracks if old else {}
        return ClientState(folder, member.name, member.token, tracks, self.program, file)

    def save(self) -> None:
        doc = {
            "format": FORMAT,
            "program": self.program,
            "clients": [vars(m) for m in sorted(self.members.values(), key=lambda m: m.token)],
        }
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        write_if_changed(state_dir(self.site) / CLIENTS, text.encode("utf-8"))


def _moved_out(site: Path, program: str) -> SiteState:
    """A new site's state, or one whose client folders still hold their manifests inside (as
    audioguide 0.2 kept them, where a host would serve them): they move beside the site."""
    state = SiteState(site, program)
    if not site.is_dir():
        return state
    for folder in sorted(p for p in site.iterdir() if p.is_dir()):
        old = ClientState.load(folder)
        if old is None:
            continue
        if old.program != program:
            raise SiteError(
                f"{site} holds the feeds of another program ({old.program}); give each program "
                "its own output folder"
            )
        identity = f"name:{same_name(old.name)}"
        if identity in state.members:
            raise SiteError(
                f"{site} has two folders for {old.name!r}; add an 'id' column to the clients "
                "file, then move one folder away"
            )
        member = Member(identity, folder.name, old.name)
        state.members[identity] = member
        moved = replace(state.client(member), tracks=old.tracks)
        for session in {Path(track).parent for track in old.tracks} - {Path()}:
            # The sessions move to the build beside the site; the released come back as links.
            if (folder / session).is_dir():
                (moved.folder / session).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(folder / session, moved.folder / session)
        moved.save()
        (folder / STATE_FILE).unlink()
    state.save()
    return state
