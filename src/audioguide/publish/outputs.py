"""What a build writes besides the MP3, one small writer each: companions, split parts, the share
page, the handout and its PDF. A new output is one function here and one row in OUTPUTS.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..audio import Samples, to_seconds
from ..cues import Timeline
from ..files import write_atomic
from ..model import Client, Routine
from ..sound.mix import is_stereo
from .companions import m3u, write_companions
from .handout import handout_page
from .mp3 import export_split
from .page import share_page
from .pdf import html_to_pdf
from .tags import Tags


@dataclass(frozen=True)
class Track:
    """A built track, as every writer sees it."""

    path: Path
    """The MP3; writers put their files beside it."""
    routine: Routine
    timeline: Timeline
    tags: Tags
    audio: Callable[[], Iterator[Samples]]
    """The track's samples as blocks, mixed again on demand, for writers that encode more audio."""
    outputs: tuple[str, ...]
    bitrate_kbps: int
    client: Client | None = None

    def beside(self, name: str) -> Path:
        return self.path.with_name(name)

    @property
    def cover_name(self) -> str:
        return "cover" + (self.routine.cover.suffix.lower() if self.routine.cover else ".png")


Writer = Callable[[Track], list[Path]]


def _companions(track: Track) -> list[Path]:
    return write_companions(track.path, track.timeline)


def _split(track: Track) -> list[Path]:
    if not track.timeline.chapters:
        return []
    folder = track.path.with_name(track.path.stem + "-chapters")
    parts = export_split(
        track.audio(),
        folder,
        channels=2 if is_stereo(track.timeline) else 1,
        n_samples=track.timeline.total_samples,
        tags=track.tags,
        chapters=track.timeline.chapters,
        bitrate_kbps=track.bitrate_kbps,
    )
    playlist = folder / f"{track.path.stem}.m3u"
    entries = [(p.name, to_seconds(n), p.stem) for p, n in parts]
    write_atomic(playlist, m3u(entries).encode("utf-8"))
    return [*(p for p, _ in parts), playlist]


def _day(track: Track) -> dt.date:
    """The session's date: the client's (its release in a program), else the day it is built."""
    client = track.client
    return client.date if client is not None and client.date else dt.date.today()


def _page(track: Track) -> list[Path]:
    html = share_page(
        track.timeline,
        track.routine,
        mp3_name=track.path.name,
        cover_name=track.cover_name,
        handout_name="handout.html" if "handout" in track.outputs else None,
        pdf_name="handout.pdf" if "pdf" in track.outputs else None,
        client=track.client,
        day=_day(track),
    )
    return _write(track, {"index.html": html.encode("utf-8"), track.cover_name: track.tags.cover})


def _handout_html(track: Track) -> bytes:
    html = handout_page(track.timeline, track.routine, client=track.client, day=_day(track))
    return html.encode("utf-8")


def _handout(track: Track) -> list[Path]:
    return _write(track, {"handout.html": _handout_html(track)})


def _pdf(track: Track) -> list[Path]:
    """handout.pdf, printed by headless Chromium from the handout (written already, or made
    here when the build writes no handout.html)."""
    pdf = track.beside("handout.pdf")
    if "handout" in track.outputs:
        html_to_pdf(track.beside("handout.html"), pdf)
        return [pdf]
    with tempfile.TemporaryDirectory(prefix="audioguide-handout-") as work:
        html = Path(work) / "handout.html"
        html.write_bytes(_handout_html(track))
        html_to_pdf(html, pdf)
    return [pdf]


def _write(track: Track, files: dict[str, bytes]) -> list[Path]:
    written = []
    for name, data in files.items():
        write_atomic(track.beside(name), data)
        written.append(track.beside(name))
    return written


OUTPUTS: Final[dict[str, Writer]] = {
    "companions": _companions,
    "split": _split,
    "page": _page,
    "handout": _handout,
    "pdf": _pdf,
}
"""Every output a build can write, by name, in the order they are written."""


def write_outputs(track: Track) -> list[Path]:
    """Every output the track asks for, in OUTPUTS' order: what a build writes beside its MP3."""
    written: list[Path] = []
    for name, write in OUTPUTS.items():
        if name in track.outputs:
            written += write(track)
    return written
