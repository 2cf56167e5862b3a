"""Encoding on every core: the track cut into spans at MP3 frame boundaries, each span mixed and
encoded by its own ffmpeg at once, and the spans' frames joined into one gapless stream that
decodes to the plan's samples exactly. On one core, or for a short track, one encoder as before.

The encoder is the build's critical path (a warm build spent 79% of its time waiting on it), and
LAME runs on one core. Joining spans encoded apart needs three things (measured, not assumed):

- Frame alignment. A span starts on a frame boundary of the track, and its encoder is fed a lead
  of the audio before it (LEAD_FRAMES), so the frames it keeps were encoded as one encoder would
  (the psychoacoustic model and the transform's overlap warmed up on the same audio). Frame j of a
  span fed from sample s is frame s / 1152 + j of the track: every encoder delays the same 1,105.
- The bit reservoir. A frame's data may start up to 511 bytes back, in the frames before it, and
  LAME at 128 kbps leaves main_data_begin at 0 in one frame in 50,000 of a spoken track, so
  waiting for a frame that borrows nothing does not work, and `-reservoir 0` would cost every
  frame of every span. Instead the seam goes at the first frame F (within SEAM_FRAMES of the cut)
  where what the later span's frames read before F fits in what the earlier span's own frames
  left unused before F (frames.py); those bytes are overwritten with the later span's. Every frame
  then reads exactly the bytes its encoder wrote.
- The gapless header. The first span's Xing/LAME frame is rewritten for the whole stream: frame
  and byte counts, seek table, end padding, the music's length and CRC (frames.py).

Each span's worker mixes its own span (mix.render_blocks from a sample on, MIX_LEAD_S early so the
limiter is settled), so memory stays flat with length and no mix waits on another's encoder.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

from ..audio import Samples, to_samples
from ..cues import Chapter
from ..errors import ExportError
from ..files import atomic, scratch
from ..options import DEFAULT_BITRATE_KBPS
from ..tools import ffmpeg
from .frames import (
    Frames,
    Gapless,
    crc16,
    crc_join,
    crc_within,
    encoder_delay,
    music_crc,
    rewrite_info,
    scan,
    seek_table,
)
from .mp3 import MP3_FRAME, check_export, comment, encode_file, export_stream
from .tags import Tags, write_tags

Int64s = npt.NDArray[np.int64]
Mixed = Callable[[int], Iterable[Samples]]
"""The track's blocks from a sample on (mix.render_blocks' start_sample) to its end."""

LEAD_FRAMES: Final = 8
"""Frames of the audio before a span fed to its encoder and dropped: the psychoacoustic model
looks a frame back and the transform overlaps one, so 8 (0.2 s) leaves it settled."""
SEAM_FRAMES: Final = 64
"""How far past a span's cut its seam may go: the earlier span encodes this far on (1.7 s)."""
TAIL_FRAMES: Final = 8
"""Frames the earlier span encodes past the last possible seam, so none it keeps is near its end."""
MIX_LEAD_S: Final = 3.0
"""A span's mix starts this early: the limiter's release (0.1 s) is over within 1.4 s of its last
action (it ends exactly at gain 1), so the samples equal the whole track's."""
MIN_SPAN_S: Final = 60.0
"""A track is cut only into spans at least this long: an encoder starts in about 50 ms."""
SPAN_S: Final = 240.0
"""About how long a span is: a track's spans depend on its length alone, not on the cores that
encode them, so a track is the same bytes on any machine with two cores or more. Short enough
that the cores finish together (a 63-minute track is 16 spans), long enough that the seams
(a lead and at most SEAM_FRAMES encoded twice) cost under 1%."""


def encoders() -> int:
    """How many encoders a track gets: AUDIOGUIDE_ENCODERS when set, else the cores this process
    may run on."""
    chosen = os.environ.get("AUDIOGUIDE_ENCODERS", "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS or Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Span:
    """Samples [start, end) of the track, fed to an encoder from `fed` to `stop`."""

    start: int
    end: int
    fed: int
    stop: int

    @property
    def base(self) -> int:
        """The track frame the encoder's first frame is."""
        return self.fed // MP3_FRAME


def cut(n_samples: int) -> list[Span]:
    """The track's spans: SPAN_S long or so, at least two when two MIN_SPAN_S fit (so a
    two-minute track is encoded on two cores), each starting on a frame boundary."""
    shortest = to_samples(MIN_SPAN_S)
    count = max(min(2, n_samples // shortest), -(-n_samples // to_samples(SPAN_S)))
    count = max(1, min(count, n_samples // shortest))
    frames = -(-n_samples // MP3_FRAME)
    starts = [frames * i // count * MP3_FRAME for i in range(count)]
    ends = [*starts[1:], n_samples]
    reach = (SEAM_FRAMES + TAIL_FRAMES) * MP3_FRAME
    return [
        Span(
            start,
            end,
            max(0, start - LEAD_FRAMES * MP3_FRAME),
            n_samples if end == n_samples else min(n_samples, end + reach),
        )
        for start, end in zip(starts, ends, strict=True)
    ]


def export_mixed(
    mixed: Mixed,
    path: Path,
    *,
    channels: int,
    n_samples: int,
    tags: Tags,
    chapters: Sequence[Chapter] = (),
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """The track at `path` as export_stream writes it, its spans encoded `encoders()` at a time;
    with one encoder, or for a track too short to cut, exactly as export_stream (its bytes)."""
    spans = cut(n_samples)
    if len(spans) == 1 or encoders() == 1:
        export_stream(
            mixed(0),
            path,
            channels=channels,
            n_samples=n_samples,
            tags=tags,
            chapters=chapters,
            bitrate_kbps=bitrate_kbps,
            progress=progress,
        )
        return
    check_export(n_samples, bitrate_kbps, path)
    ffmpeg()  # found before anything is written
    with atomic(path) as part, ExitStack() as stack:
        files = [stack.enter_context(scratch(path)) for _ in spans]
        job = _Job(mixed, channels, bitrate_kbps, path, n_samples, progress)
        job.run(spans, files)
        _join(spans, files, part, n_samples)
        write_tags(part, tags, chapters, comment(bitrate_kbps), path)


class _Job:
    """The spans' workers: a thread each, mixing its span into its own ffmpeg."""

    def __init__(
        self,
        mixed: Mixed,
        channels: int,
        bitrate_kbps: int,
        path: Path,
        n_samples: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.mixed, self.channels, self.bitrate_kbps = mixed, channels, bitrate_kbps
        self.path, self.n_samples, self.progress = path, n_samples, progress
        self.lock = threading.Lock()
        self.starting = threading.Lock()
        self.done = 0
        self.procs: list[subprocess.Popen[bytes]] = []
        self.failed: list[BaseException] = []

    def run(self, spans: list[Span], files: list[Path]) -> None:
        """Every span encoded, `encoders()` at a time, in order."""
        todo = iter(zip(spans, files, strict=True))

        def take() -> None:
            while not self.failed:
                with self.lock:
                    span_file = next(todo, None)
                if span_file is None:
                    return
                self.work(*span_file)

        threads = [
            threading.Thread(target=take, name="audioguide-encoder", daemon=True)
            for _ in range(min(encoders(), len(spans)))
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException as e:  # Ctrl-C: no encoder outlives the build
            self.stop(e)
            for thread in threads:
                thread.join()
            raise
        if self.failed:
            raise self.failed[0]

    def stop(self, error: BaseException) -> None:
        """No span is started after `error`, and the encoders running are killed."""
        with self.lock:
            self.failed.append(error)
            for proc in self.procs:
                proc.kill()

    def work(self, span: Span, out: Path) -> None:
        try:
            encode_file(
                _samples(self.mixed, span, self.starting),
                span.stop - span.fed,
                self.channels,
                out,
                self.bitrate_kbps,
                self.path,
                self.count(span),
                self.started,
            )
        except BaseException as e:
            self.stop(e)  # the others' work is wasted: stop it

    def started(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.procs.append(proc)
            if self.failed:
                proc.kill()

    def count(self, span: Span) -> Callable[[int, int], None]:
        """Progress in the track's samples: each span counts those it keeps."""
        last = [0]

        def fed(done: int, total: int) -> None:
            kept = min(max(0, span.fed + done - span.start), span.end - span.start)
            with self.lock:
                self.done += kept - last[0]
                last[0] = kept
                if self.progress and kept:
                    self.progress(self.done, self.n_samples)

        return fed


def _samples(mixed: Mixed, span: Span, starting: threading.Lock) -> Iterator[Samples]:
    """The track's samples [span.fed, span.stop), mixed from MIX_LEAD_S before. The first block,
    which sets the mixer up, is made holding `starting`: two mixers setting up at once each made
    the bed (a cold three-hour build with rain peaked at 409 MB, against 226 MB with one)."""
    at = max(0, span.fed - to_samples(MIX_LEAD_S))
    blocks = iter(mixed(at))
    try:
        with starting:
            first = next(blocks, None)
        for block in itertools.chain([] if first is None else [first], blocks):
            lo, hi = max(span.fed, at), min(span.stop, at + len(block))
            if hi > lo:
                yield block[lo - at : hi - at]
            at += len(block)
            if at >= span.stop:
                return
    finally:
        close = getattr(blocks, "close", None)
        if close:
            close()


# ---------------------------------------------------------------------------- joining


def _join(spans: list[Span], files: list[Path], part: Path, n_samples: int) -> None:
    """The spans' frames as one stream at `part`, its Xing/LAME frame the first span's,
    rewritten for the whole."""
    with ExitStack() as stack:
        sources = [stack.enter_context(f.open("rb")) for f in files]
        # Each scan's frame 0 is its encoder's Xing frame: a span's frame j is scan frame j + 1.
        scans = [scan(s) for s in sources]
        seams = [
            _seam(a, s, b, t)
            for a, s, b, t in zip(scans, spans, scans[1:], spans[1:], strict=False)
        ]
        firsts = [1] + [seam - span.base + 1 for seam, span in zip(seams, spans[1:], strict=True)]
        ends = [seam - span.base + 1 for seam, span in zip(seams, spans[:-1], strict=True)]
        ends.append(len(scans[-1]))
        info = _read(sources[0], int(scans[0].offsets[0]), scans[0].size(0))
        with part.open("w+b") as out:
            out.write(info)
            offsets, crc = [], 0
            for i, (source, frames) in enumerate(zip(sources, scans, strict=True)):
                if i > 0:
                    crc ^= _patch_reservoir(
                        source, frames, firsts[i], out, scans[i - 1], ends[i - 1]
                    )
                offsets.append(_copy(source, frames, firsts[i], ends[i], out))
                kept = int(frames.offsets[ends[i]] - frames.offsets[firsts[i]])
                crc = crc_join(crc, _kept_crc(source, frames, firsts[i], ends[i]), kept)
            frames_at = np.concatenate(offsets)
            size = out.tell()
            padding = len(frames_at) * MP3_FRAME - n_samples - encoder_delay(info)
            out.seek(0)
            gapless = Gapless(len(frames_at), size, seek_table(frames_at, size), padding, crc)
            out.write(rewrite_info(info, gapless))


def _kept_crc(source: BinaryIO, frames: Frames, first: int, end: int) -> int:
    """The CRC of frames [first, end) of an encoder's file, from the CRC its encoder wrote of all
    its audio frames and those of the few frames either side, read: not the megabytes kept."""
    offsets = [int(x) for x in (frames.offsets[1], frames.offsets[first])]
    offsets += [int(x) for x in (frames.offsets[end], frames.offsets[-1])]
    head = crc16(_read(source, offsets[0], offsets[1] - offsets[0]))
    tail = crc16(_read(source, offsets[2], offsets[3] - offsets[2]))
    whole = music_crc(_read(source, int(frames.offsets[0]), frames.size(0)))
    return crc_within(whole, head, tail, offsets[2] - offsets[1], offsets[3] - offsets[2])


def _seam(a: Frames, span_a: Span, b: Frames, span_b: Span) -> int:
    """The first track frame from span_b's cut on where span_b may take over from span_a: what
    span_b's frames from there read before it fits in what span_a's frames before it leave
    unused (their last bytes, which span_b's then overwrite)."""
    first = span_b.start // MP3_FRAME
    for frame in range(first, first + SEAM_FRAMES):
        in_a, in_b = frame - span_a.base + 1, frame - span_b.base + 1
        if in_a >= len(a) or in_b >= len(b):
            break
        if b.reaches_before(in_b) <= int(a.reach[in_a]):
            return frame
    raise ExportError(
        f"no seam between the encoders' spans within {SEAM_FRAMES} frames of sample "
        f"{span_b.start}; build with one encoder (AUDIOGUIDE_ENCODERS=1)"
    )


def _copy(source: BinaryIO, frames: Frames, first: int, end: int, out: BinaryIO) -> Int64s:
    """Frames [first, end) of `source` appended to `out`; where each starts in `out`."""
    at = out.tell()
    lo, hi = int(frames.offsets[first]), int(frames.offsets[end])
    source.seek(lo)
    _copy_bytes(source, out, hi - lo)
    return frames.offsets[first:end] - lo + at


def _patch_reservoir(
    source: BinaryIO, frames: Frames, first: int, out: BinaryIO, before: Frames, end: int
) -> int:
    """Overwrite the last data bytes in `out` (the earlier span's up to its frame `end`, unused
    by its frames) with the bytes this span's frames from `first` read before themselves; the
    CRC of what that changed (the old bytes XOR the new, to the end of `out`)."""
    reservoir = frames.tail(first, frames.reaches_before(first))
    data = b"".join(_read(source, at, n) for at, n in reservoir)
    written = out.tell()
    # The earlier span's frames were copied so that its frame `end` would start where `out` is.
    shift = written - int(before.offsets[end])
    pieces = before.tail(end, len(data))
    if not pieces:
        return 0
    changed = pieces[0][0] + shift
    old = _read(out, changed, written - changed)
    for at, n in pieces:
        out.seek(at + shift)
        out.write(data[:n])
        data = data[n:]
    new = _read(out, changed, written - changed)
    out.seek(written)
    return crc16(bytes(a ^ b for a, b in zip(old, new, strict=True)))


def _read(source: BinaryIO, at: int, n: int) -> bytes:
    source.seek(at)
    return source.read(n)


def _copy_bytes(source: BinaryIO, out: BinaryIO, n: int) -> None:
    while n > 0:
        chunk = source.read(min(n, _COPY))
        if not chunk:
            raise ExportError("an encoder's file ended before its frames did")
        out.write(chunk)
        n -= len(chunk)


_COPY: Final = 1 << 22
