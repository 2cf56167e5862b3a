"""What a build writes besides the MP3, one small writer each: companions, split parts, the share
page, the handout. A new output is one function here and one row in OUTPUTS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .audio import Samples, to_seconds
from .companions import m3u, write_companions
from .export import Tags, export_split, write_atomic
from .model import Client, Routine, Timeline
from .page import handout_page, share_page


@dataclass(frozen=True)
class Track:
    """A built track, as every writer sees it."""

    path: Path
    """The MP3; writers put their files beside it."""
    routine: Routine
    timeline: Timeline
    tags: Tags
    audio: Callable[[], Samples]
    """The mixed samples, for writers that encode more audio (made again on demand)."""
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
        tags=track.tags,
        chapters=track.timeline.chapters,
        bitrate_kbps=track.bitrate_kbps,
    )
    playlist = folder / f"{track.path.stem}.m3u"
    entries = [(p.name, to_seconds(n), p.stem) for p, n in parts]
    write_atomic(playlist, m3u(entries).encode("utf-8"))
    return [*(p for p, _ in parts), playlist]


def _page(track: Track) -> list[Path]:
    html = share_page(
        track.timeline,
        track.routine,
        mp3_name=track.path.name,
        cover_name=track.cover_name,
        handout_name="handout.html" if "handout" in track.outputs else None,
    )
    return _write(track, {"index.html": html.encode("utf-8"), track.cover_name: track.tags.cover})


def _handout(track: Track) -> list[Path]:
    html = handout_page(track.timeline, track.routine)
    return _write(track, {"handout.html": html.encode("utf-8")})


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
}
"""Every output a build can write, by name, in the order they are written."""
