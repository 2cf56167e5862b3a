"""MP3 export: samples become a CBR MP3 with ID3 tags and chapters, written atomically.

ffmpeg's libmp3lame encodes: unlike lameenc it writes the Xing/LAME header with the encoder delay
and padding, so decoders that honour it give back exactly the samples that went in (measured: 0
samples of difference, a tone onset at 1.000 s decodes at 1.000 s). Tags and chapters are written
with mutagen (tags.py) because ffmpeg's metadata path drops the CTOC frame for MP3.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Final

import numpy as np

from ..audio import SAMPLE_RATE, Samples
from ..audio import float_to_pcm16 as _pcm16  # by this name: the tests interrupt it there
from ..cues import Chapter
from ..errors import AudioguideError, ExportError
from ..files import atomic, write_error
from ..options import BITRATES_KBPS, DEFAULT_BITRATE_KBPS
from ..tools import INSTALL_FFMPEG, ffmpeg
from .tags import Tags, write_tags

MP3_FRAME: Final = 1152
"""Samples per MPEG-1 Layer III frame."""
ENCODER: Final = "libmp3lame"
CHUNK_FRAMES: Final = 1 << 16
"""Frames converted to int16 and piped per write: about 1.5 s, so no full-length copy is made."""
STDERR_TAIL_LINES: Final = 3


def export_mp3(
    samples: Samples,
    path: Path,
    *,
    tags: Tags,
    chapters: Sequence[Chapter] = (),
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Encode mono (n,) or stereo (n, 2) samples to a CBR MP3 at `path`, tagged and chaptered;
    `progress(done, total)` counts the sample frames fed to the encoder.

    A pre-existing file at `path` is replaced only once the new one is complete."""
    chunks = (samples[i : i + CHUNK_FRAMES] for i in range(0, len(samples), CHUNK_FRAMES))
    export_stream(
        chunks,
        path,
        channels=_channels(samples),
        n_samples=len(samples),
        tags=tags,
        chapters=chapters,
        bitrate_kbps=bitrate_kbps,
        progress=progress,
    )


def check_export(n_samples: int, bitrate_kbps: int, path: Path) -> None:
    """What makes any track unwritable, said before anything is encoded."""
    if n_samples == 0:
        raise ExportError(f"nothing to write to {path}: the track is empty; give it some audio")
    if bitrate_kbps not in BITRATES_KBPS:
        raise ExportError(
            f"MP3 bitrate {bitrate_kbps} kbps is not possible: use one of "
            + ", ".join(map(str, BITRATES_KBPS))
        )


def export_stream(
    blocks: Iterable[Samples],
    path: Path,
    *,
    channels: int,
    n_samples: int,
    tags: Tags,
    chapters: Sequence[Chapter] = (),
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Encode blocks as they come (the mix is made while ffmpeg, in its own process, encodes
    what came before): `n_samples` frames of `channels` in all, mono (n,) or stereo (n, 2)."""
    check_export(n_samples, bitrate_kbps, path)
    ffmpeg()  # found before anything is written
    with atomic(path) as part:
        encode_file(blocks, n_samples, channels, part, bitrate_kbps, path, progress)
        write_tags(part, tags, chapters, comment(bitrate_kbps), path)


def comment(bitrate_kbps: int) -> str:
    """What the track's tags say made it."""
    return f"audioguide: {ENCODER} {bitrate_kbps} kbps CBR"


def export_split(
    blocks: Iterable[Samples],
    folder: Path,
    *,
    channels: int,
    n_samples: int,
    tags: Tags,
    chapters: Sequence[Chapter],
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
) -> list[tuple[Path, int]]:
    """One MP3 per chapter in `folder`, for players that ignore chapters: (path, samples) each.

    Each file carries the encoder's delay and padding in its LAME header, so gapless players join
    them with nothing added or lost. Decoders cannot end a file less than 47 samples into its last
    1,152-sample frame (measured with ffmpeg and mpg123: they round up to 47), so every cut is
    moved back to a frame boundary, at most 26 ms, into the quiet before the chapter: then every
    file but the last is whole frames and decodes exactly, and the last ends as the track does."""
    cuts = [0, *(c.start_sample // MP3_FRAME * MP3_FRAME for c in chapters[1:]), n_samples]
    stream = _Cutter(iter(blocks))
    written = []
    for i, (chapter, start, end) in enumerate(
        zip(chapters, cuts[:-1], cuts[1:], strict=True), start=1
    ):
        path = folder / f"{i:02d} {_file_safe(chapter.title)}.mp3"
        part_tags = replace(
            tags, title=chapter.title, album=tags.title, track=f"{i}/{len(chapters)}"
        )
        export_stream(
            stream.take(end - start),
            path,
            channels=channels,
            n_samples=end - start,
            tags=part_tags,
            bitrate_kbps=bitrate_kbps,
        )
        written.append((path, end - start))
    return written


class _Cutter:
    """One stream of blocks handed out in consecutive parts of given lengths."""

    def __init__(self, blocks: Iterator[Samples]) -> None:
        self.blocks = blocks
        self.left: Samples | None = None

    def take(self, n: int) -> Iterator[Samples]:
        while n > 0:
            block = self.left if self.left is not None else next(self.blocks)
            self.left = block[n:] if len(block) > n else None
            yield block[:n]
            n -= min(n, len(block))


def _file_safe(title: str) -> str:
    """A chapter title as a file name that every file system and player accepts."""
    return re.sub(r"[^\w\s,.'()-]", "", title).strip(" .")[:80] or "chapter"


def encoder_version() -> str | None:
    """The encoder, e.g. "ffmpeg 5.1.9-0+deb12u1"; None when ffmpeg is absent or does not run."""
    try:
        out = subprocess.run(
            [ffmpeg(), "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError, AudioguideError):
        return None
    match = re.match(r"ffmpeg version (\S+)", out)
    return f"ffmpeg {match.group(1)}" if match else None


def _channels(samples: Samples) -> int:
    if samples.ndim == 1:
        return 1
    if samples.ndim == 2 and samples.shape[1] in (1, 2):
        return int(samples.shape[1])
    raise ValueError(f"samples must have shape (n,) or (n, 2), got {samples.shape}")


def encode_file(
    blocks: Iterable[Samples],
    n_samples: int,
    channels: int,
    out: Path,
    bitrate_kbps: int,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> None:
    """ffmpeg encoding `n_samples` of `blocks` to the MP3 `out`, with its Xing/LAME frame; errors
    name `path`, the file the user asked for. `started` is given the encoder's process."""
    command = _command(ffmpeg(), channels, bitrate_kbps, str(out), xing=True)
    # stderr goes to a file: a pipe nobody reads while we write stdin can fill up and deadlock.
    with tempfile.TemporaryFile() as stderr:
        proc = _start(command, stderr, stdout=None)
        assert proc.stdin is not None
        if started:
            started(proc)
        try:
            gain = np.float32(32768.0 / lame_scale(bitrate_kbps))
            _pipe_pcm(blocks, n_samples, gain, proc.stdin, progress)
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # closes the pipe even when flushing into it fails
        message = _read(stderr)
    # ffmpeg 5.1 exits 0 when the disk fills while it writes the trailer (measured), so anything
    # it prints at the "error" level counts as a failure too.
    if returncode != 0 or message.strip():
        if "No space left on device" in message:
            raise write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        raise ExportError(
            f"ffmpeg could not encode {path} (exit code {returncode}): {_tail(message)}"
        )


def mp3_stream(
    blocks: Iterable[Samples],
    *,
    channels: int,
    n_samples: int,
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS,
) -> Iterator[bytes]:
    """The MP3's frames as the encoder makes them, for a player to start on at once (a studio
    playing a chapter): no tags and no Xing header, which a stream cannot go back to write.
    Closing the iterator early stops the encoder."""
    program = ffmpeg()
    command = _command(program, channels, bitrate_kbps, "pipe:1", xing=False)
    with tempfile.TemporaryFile() as stderr:
        proc = _start(command, stderr, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        gain = np.float32(32768.0 / lame_scale(bitrate_kbps))
        failed: list[BaseException] = []

        def feed() -> None:
            try:
                _pipe_pcm(blocks, n_samples, gain, proc.stdin, None)  # type: ignore[arg-type]
            except BaseException as e:  # the mix failed: the reader raises it
                failed.append(e)
                proc.kill()

        feeder = threading.Thread(target=feed, name="audioguide-mp3-feed", daemon=True)
        feeder.start()
        try:
            while chunk := os.read(proc.stdout.fileno(), STREAM_CHUNK_BYTES):
                yield chunk
            returncode = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            feeder.join()
            proc.stdout.close()
        if failed:
            raise failed[0]
        if returncode != 0:
            raise ExportError(f"ffmpeg could not encode the stream: {_tail(_read(stderr))}")


STREAM_CHUNK_BYTES: Final = 1 << 14
"""About a second of 128 kbps MP3: a player starts on the first chunk."""


def _command(program: str, channels: int, bitrate_kbps: int, out: str, *, xing: bool) -> list[str]:
    """ffmpeg reading s16le PCM on stdin and writing CBR MP3 to `out`."""
    return [
        *(program, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(channels), "-i", "pipe:0"),
        *("-c:a", ENCODER, "-b:a", f"{bitrate_kbps}k", "-ar", str(SAMPLE_RATE)),
        # No ID3 of ffmpeg's own (mutagen writes ours), but the Xing/LAME header: its delay and
        # padding fields are what make decoders sample-exact.
        *("-id3v2_version", "0", "-write_id3v1", "0", "-write_xing", "1" if xing else "0"),
        *("-f", "mp3", out),
    ]


def _start(command: list[str], stderr: IO[bytes], stdout: int | None) -> subprocess.Popen[bytes]:
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr)
    except OSError as e:
        reason = e.strerror or str(e)
        raise ExportError(f"cannot run {command[0]} ({reason}); {INSTALL_FFMPEG}") from None
    _widen_pipe(proc)
    return proc


def _read(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode("utf-8", "replace")


def lame_scale(bitrate_kbps: int) -> float:
    """What LAME's CBR presets multiply the input by (presets.c, abr_switch_map): 0.95 up to
    160 kbps, 0.97 at 192, 0.98 at 224, 1 above; measured the same with ffmpeg's libmp3lame and
    the lame 3.100 command on a sine, mono and stereo (-0.445 dB at 128 kbps). The PCM is fed
    multiplied by the inverse, so the decoded track is as loud as the mix."""
    if bitrate_kbps >= 256:
        return 1.0
    return {192: 0.97, 224: 0.98}.get(bitrate_kbps, 0.95)


PIPE_BYTES: Final = 1 << 20
"""The encoder's input pipe, widened from Linux's 64 kB: six seconds of audio in flight, so the
mixer and the encoder each keep working while the other has a slow block."""


def _widen_pipe(proc: subprocess.Popen[bytes]) -> None:
    try:
        import fcntl  # not on Windows, where the pipe stays as it is
    except ImportError:
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is not None and proc.stdin is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(proc.stdin.fileno(), set_size, PIPE_BYTES)


def _pipe_pcm(
    blocks: Iterable[Samples],
    n_samples: int,
    gain: np.float32,
    stdin: IO[bytes],
    progress: Callable[[int, int], None] | None,
) -> None:
    """Feed ffmpeg, then close its input so it finishes the file."""
    done = 0
    try:
        for block in blocks:
            stdin.write(_pcm16(block, gain))
            done += len(block)
            if progress:
                progress(done, n_samples)
        stdin.close()
    except BrokenPipeError:
        return  # ffmpeg stopped reading: it has failed, and its stderr says why
    if done != n_samples:
        raise ValueError(f"{done} samples were mixed where the plan has {n_samples}")


def _tail(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_TAIL_LINES:]) or "no message"
