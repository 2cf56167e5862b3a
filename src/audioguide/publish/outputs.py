"""What a build writes besides the MP3: a closed set of outputs, one table of their writers with
what each needs, and the one function that decides which outputs a command writes.

A new output is a member of `Output`, its writer and one row in WRITERS (and, if a command should
write it by default, its place in COMMAND_OUTPUTS).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal, NoReturn, Protocol

from ..audio import Samples, to_seconds
from ..cues import Progress, Timeline
from ..errors import AudioguideError, ExportError
from ..files import write_atomic
from ..model import Client, Routine
from ..sound.mix import is_stereo
from .companions import m3u, write_companions
from .handout import handout_page
from .mp3 import export_split
from .page import share_page
from .pdf import INSTALL_CHROMIUM, find_chromium, html_to_pdf
from .tags import Tags


class Audio(Protocol):
    """A track's samples, mixed on demand a block at a time, from its start or any sample."""

    def __call__(
        self, progress: Progress | None = None, start_sample: int = 0
    ) -> Iterator[Samples]: ...


class Output(StrEnum):
    COMPANIONS = "companions"
    SPLIT = "split"
    PAGE = "page"
    HANDOUT = "handout"
    PDF = "pdf"


@dataclass(frozen=True)
class Track:
    """A built track, as every writer sees it."""

    path: Path
    """The MP3; writers put their files beside it."""
    routine: Routine
    timeline: Timeline
    tags: Tags
    audio: Audio
    """The track's samples as blocks, mixed again on demand, for writers that encode more audio."""
    outputs: tuple[Output, ...]
    """Everything written beside this track in this build: the page links what is there."""
    bitrate_kbps: int
    client: Client | None = None

    def beside(self, name: str) -> Path:
        return self.path.with_name(name)

    @property
    def cover_name(self) -> str:
        return "cover" + (self.routine.cover.suffix.lower() if self.routine.cover else ".png")


def no_audio(progress: Progress | None = None, start_sample: int = 0) -> NoReturn:
    """The samples of a track whose audio is not here (built by a worker, or not rebuilt)."""
    raise ExportError("this track's samples are not here to encode again: build it whole")


@dataclass(frozen=True)
class Writer:
    write: Callable[[Track], list[Path]]
    doc: str
    audio: bool = False
    """It encodes the samples again, so it needs the mix, not only the plan."""
    chromium: bool = False
    """It is printed by headless Chromium: without one it is left out, with a warning."""
    link: str | None = None
    """The file the share page links to when the build writes it."""
    version: int = 1
    """Bump it when what the writer makes changes: a rerun then writes it again (no audio)."""


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
    links = {o: WRITERS[o].link for o in track.outputs if WRITERS[o].link}
    html = share_page(
        track.timeline,
        track.routine,
        mp3_name=track.path.name,
        cover_name=track.cover_name,
        handout_name=links.get(Output.HANDOUT),
        pdf_name=links.get(Output.PDF),
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
    """handout.pdf, printed by headless Chromium from the handout, made afresh in a folder of
    its own (the same page handout.html holds: it names no other file)."""
    pdf = track.beside("handout.pdf")
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


WRITERS: Final[Mapping[Output, Writer]] = {
    Output.COMPANIONS: Writer(
        _companions, "the transcript (.vtt, .lrc) and chapter lists (.chapters.txt, .json)"
    ),
    Output.SPLIT: Writer(_split, "one MP3 per chapter and an .m3u playlist", audio=True),
    Output.PAGE: Writer(_page, "the share page (index.html) and the cover"),
    Output.HANDOUT: Writer(_handout, "the printable handout", link="handout.html"),
    Output.PDF: Writer(_pdf, "the handout as a PDF", chromium=True, link="handout.pdf"),
}
"""Every output, in the order they are written."""

Command = Literal["build", "share", "batch", "program"]
COMMAND_OUTPUTS: Final[Mapping[Command, tuple[Output, ...]]] = {
    "build": (Output.COMPANIONS,),
    "share": (Output.COMPANIONS, Output.PAGE, Output.HANDOUT, Output.PDF),
    "batch": (Output.COMPANIONS, Output.PAGE, Output.HANDOUT, Output.PDF),
    "program": (Output.COMPANIONS, Output.PAGE, Output.HANDOUT, Output.PDF),
}
"""What each command writes beside its MP3 unless told otherwise."""


def outputs_for(
    command: Command,
    also: Iterable[Output] = (),
    on_warning: Callable[[str], None] | None = None,
) -> tuple[Output, ...]:
    """The outputs `command` writes (with `also`), in WRITERS' order. One that needs what this
    machine lacks (Chromium) is left out, with one warning."""
    asked = {*COMMAND_OUTPUTS[command], *also}
    chosen = []
    for output, writer in WRITERS.items():
        if output not in asked:
            continue
        if writer.chromium and find_chromium() is None:
            if on_warning:
                on_warning(f"no {writer.link or output.value}: {INSTALL_CHROMIUM}")
            continue
        chosen.append(output)
    return tuple(chosen)


def parse_outputs(names: Iterable[str | Output]) -> tuple[Output, ...]:
    """Outputs named by a library user, in WRITERS' order; an unknown name is an error."""
    chosen = set()
    for name in names:
        try:
            chosen.add(Output(name))
        except ValueError:
            known = ", ".join(o.value for o in Output)
            raise AudioguideError(f"unknown output {name!r}: use one of {known}") from None
    return tuple(o for o in WRITERS if o in chosen)


def write_outputs(
    track: Track, only: Iterable[Output] | None = None, progress: Progress | None = None
) -> dict[Output, list[Path]]:
    """The track's outputs (or `only` these of them), in WRITERS' order: the files each wrote;
    `progress(done, total)` from the start and after each (the handout's PDF takes seconds)."""
    wanted = set(track.outputs if only is None else only)
    chosen = [(o, writer) for o, writer in WRITERS.items() if o in wanted]
    written: dict[Output, list[Path]] = {}
    for done, (output, writer) in enumerate(chosen):
        if progress:
            progress(done, len(chosen))
        written[output] = writer.write(track)
    if progress and chosen:
        progress(len(chosen), len(chosen))
    return written
