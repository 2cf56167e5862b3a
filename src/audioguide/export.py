# mutagen ships py.typed but leaves its frame constructors unannotated.
# mypy: disable-error-code="no-untyped-call"
"""Export stage: samples become an MP3 with ID3 tags and chapters, written atomically.

ffmpeg's libmp3lame encodes: unlike lameenc it writes the Xing/LAME header with the encoder delay
and padding, so decoders that honour it give back exactly the samples that went in (measured: 0
samples of difference, a tone onset at 1.000 s decodes at 1.000 s). Tags and chapters are written
with mutagen because ffmpeg's metadata path drops the CTOC frame for MP3.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
from mutagen import MutagenError
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TIT2,
    TPE1,
    TRCK,
    TSSE,
    CTOCFlags,
    Encoding,
    PictureType,
)
from mutagen.id3._tags import save_frame

from .audio import SAMPLE_RATE, Samples
from .errors import AudioguideError, ExportError
from .model import Chapter
from .tools import INSTALL_FFMPEG, ffmpeg

DEFAULT_BITRATE_KBPS: Final = 128
MP3_FRAME: Final = 1152
"""Samples per MPEG-1 Layer III frame."""
BITRATES_KBPS: Final = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""What MPEG-1 Layer III allows at 44.1 kHz; ffmpeg silently rounds anything else."""
ENCODER: Final = "libmp3lame"
CHUNK_FRAMES: Final = 1 << 16
"""Frames converted to int16 and piped per write: about 1.5 s, so no full-length copy is made."""
STDERR_TAIL_LINES: Final = 3
NO_OFFSET: Final = 0xFFFFFFFF
"""CHAP byte offsets unused: players go by the times (ID3v2 Chapter Frame Addendum 1.0)."""
ID3_VERSION: Final = 3
"""ID3v2.3: the version every player reads."""
TEXT_ENCODING: Final = Encoding.UTF16
"""v2.3 knows only Latin-1 and UTF-16."""
STALE_PART_S: Final = 3600.0
"""A temp file untouched this long is left over, whoever made it: a live build writes to its
own continuously (encoding a 6-hour track takes a few minutes)."""


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str = ""
    album: str = ""
    genre: str = "Health & Fitness"
    comment: str = ""
    track: str = ""
    """Track number as "n/total" (TRCK), for the files of a split track."""
    cover: bytes = b""
    """Front cover (APIC), PNG or JPEG: players show it, and people pick a track by it."""


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
    if n_samples == 0:
        raise ExportError(f"nothing to write to {path}: the track is empty; give it some audio")
    if bitrate_kbps not in BITRATES_KBPS:
        raise ExportError(
            f"MP3 bitrate {bitrate_kbps} kbps is not possible: use one of "
            + ", ".join(map(str, BITRATES_KBPS))
        )
    program = ffmpeg()
    with _atomic(path) as part:
        _encode(program, blocks, n_samples, channels, part, bitrate_kbps, path, progress)
        _tag(part, tags, chapters, bitrate_kbps, path)


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write a companion file the way the track is written: whole, or not at all."""
    with _atomic(path) as part:
        try:
            part.write_bytes(data)
        except OSError as e:
            raise _write_error(path, e) from None


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temp file beside `path`, renamed onto it once the block completes, removed if it fails."""
    part = _create_part(path)
    remove_stale_parts(path)
    try:
        yield part
        try:
            _sync(part)
            os.replace(part, path)
        except OSError as e:
            raise _write_error(path, e) from None
    except BaseException:
        # Including KeyboardInterrupt: never leave a half-written file behind.
        part.unlink(missing_ok=True)
        raise


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


def part_pattern(path: Path) -> re.Pattern[str]:
    """Names of the temp files a build of `path` writes: `.NAME.PID-RANDOM.part`, beside it
    (`.NAME.RANDOM.part`, without the pid, from audioguide 0.1)."""
    return re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[0-9a-f]{{8}}\.part")


def remove_stale_parts(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete temp files that earlier builds of `path` left when they were killed: those whose
    process is gone, or that nobody has written to for STALE_PART_S. Best effort; returns them."""
    pattern = part_pattern(path)
    now = time.time() if now is None else now
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return []
    for sibling in siblings:
        match = pattern.fullmatch(sibling.name)
        if match is None:
            continue
        pid = int(match.group(1) or 0)
        if pid == os.getpid():
            continue
        try:
            dead = pid > 0 and not _alive(pid)
            stale = dead or now - sibling.stat().st_mtime > STALE_PART_S
            if stale:
                sibling.unlink()
                removed.append(sibling)
        except OSError:
            continue  # gone already, or not ours to remove: the next build tries again
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no pid can be
        return False
    except PermissionError:
        return True  # another user's process
    # A killed worker whose parent died too stays a zombie until init reaps it, and in a
    # container init may take its time: a zombie writes nothing more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all there is to go on
    return state != "Z"


def _sync(part: Path) -> None:
    """Flush the track to disk before the rename, so even a crash of the machine leaves either the
    old track or the whole new one (the rename alone is atomic only for running programs)."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_part(path: Path) -> Path:
    """Reserve a hidden temp file next to the target, so the final rename stays on one disk."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(
            f"cannot write {path}: part of {path.parent} is a file, not a folder; "
            "choose another output path"
        ) from None
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        # The pid in the name tells a later build whether this one is still running.
        part = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        # Mode 0o666 minus the umask, as any new file; mkstemp's 0o600 would make a track the
        # user means to share unreadable to others.
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as e:
        raise _write_error(path, e) from None
    return part


def _encode(
    program: str,
    blocks: Iterable[Samples],
    n_samples: int,
    channels: int,
    part: Path,
    bitrate_kbps: int,
    path: Path,
    progress: Callable[[int, int], None] | None,
) -> None:
    command = [
        program,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "s16le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        str(channels),
        "-i",
        "pipe:0",
        "-c:a",
        ENCODER,
        "-b:a",
        f"{bitrate_kbps}k",
        "-ar",
        str(SAMPLE_RATE),
        # No ID3 of ffmpeg's own (mutagen writes ours), but the Xing/LAME header: its delay and
        # padding fields are what make decoders sample-exact.
        "-id3v2_version",
        "0",
        "-write_id3v1",
        "0",
        "-write_xing",
        "1",
        "-f",
        "mp3",
        str(part),
    ]
    # stderr goes to a file: a pipe nobody reads while we write stdin can fill up and deadlock.
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=stderr)
            _widen_pipe(proc)
        except OSError as e:
            reason = e.strerror or str(e)
            raise ExportError(f"cannot run {program} ({reason}); {INSTALL_FFMPEG}") from None
        assert proc.stdin is not None
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
        stderr.seek(0)
        message = stderr.read().decode("utf-8", "replace")
    # ffmpeg 5.1 exits 0 when the disk fills while it writes the trailer (measured), so anything
    # it prints at the "error" level counts as a failure too.
    if returncode != 0 or message.strip():
        if "No space left on device" in message:
            raise _write_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        raise ExportError(
            f"ffmpeg could not encode {path} (exit code {returncode}): {_tail(message)}"
        )


def lame_scale(bitrate_kbps: int) -> float:
    """What LAME's CBR presets multiply the input by (presets.c, abr_switch_map): 0.95 up to
    160 kbps, 0.97 at 192, 0.98 at 224, 1 above; measured the same with ffmpeg's libmp3lame and
    the lame 3.100 command on a sine, mono and stereo (-0.445 dB at 128 kbps). The PCM is fed
    multiplied by the inverse, so the decoded track is as loud as the mix."""
    if bitrate_kbps >= 256:
        return 1.0
    return {192: 0.97, 224: 0.98}.get(bitrate_kbps, 0.95)


TRUE_PEAK_DBTP: Final = -1.0
"""The decoded track's true peak at most: Apple Podcasts' spec for what listeners receive."""


def peak_ceiling_dbtp(bitrate_kbps: int, channels: int) -> float:
    """The true peak to limit the mix to, so that the decoded MP3 stays under TRUE_PEAK_DBTP.

    LAME's quantisation noise adds to the peaks of a synthetic voice's spiky glottal pulses: more
    at low bitrates, and in stereo, where a panned voice shares the bits with the other channel.
    The headrooms hold the decoded peak of every bundled routine's lines at -1.6 dBTP or under
    in `scripts/bench.py peaks`; encoding added at most 0.4 dB to a line at 128 kbps mono, and
    2.3 dB to a voice panned to one side."""
    mono, stereo = next(h for kbps, *h in _HEADROOM_DB if bitrate_kbps >= kbps)
    return TRUE_PEAK_DBTP - (mono if channels == 1 else stereo)


_HEADROOM_DB: Final = ((192, 0.5, 1.0), (128, 1.0, 2.5), (96, 2.5, 4.5), (0, 4.5, 5.0))
"""(lowest bitrate, mono dB, stereo dB), highest bitrates first; docs/sound.md has the figures."""


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


def _pcm16(chunk: Samples, gain: np.float32) -> bytes:
    """Float in [-1, 1] times `gain` (32768 and LAME's scale undone) to little-endian int16,
    clipping anything louder (interleaved if 2-D)."""
    if not np.isfinite(chunk).all():
        raise ValueError("samples contain NaN or infinity: the mix is broken upstream")
    scaled = np.multiply(chunk, gain, dtype=np.float32)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype("<i2").tobytes()


def _tail(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " | ".join(lines[-STDERR_TAIL_LINES:]) or "no message"


class _InOrderID3(ID3):
    """ID3 that writes frames in the order they were added.

    mutagen sorts frames by size, which scrambles the CHAP frames; ffmpeg 5.1 (so mpv and other
    libavformat players) lists chapters in file order whatever the CTOC says (measured)."""

    def _write(self, config: Any) -> bytes:
        return b"".join(save_frame(frame, config=config) for frame in self.values())


def _tag(
    part: Path, tags: Tags, chapters: Sequence[Chapter], bitrate_kbps: int, path: Path
) -> None:
    id3 = _InOrderID3()
    id3.add(_title(tags.title))
    for text_frame, value in ((TPE1, tags.artist), (TALB, tags.album), (TCON, tags.genre)):
        if value:
            id3.add(text_frame(encoding=TEXT_ENCODING, text=value))
    if tags.comment:
        id3.add(COMM(encoding=TEXT_ENCODING, lang="eng", desc="", text=tags.comment))
    id3.add(TSSE(encoding=TEXT_ENCODING, text=f"audioguide: {ENCODER} {bitrate_kbps} kbps CBR"))
    if tags.track:
        id3.add(TRCK(encoding=TEXT_ENCODING, text=tags.track))
    if tags.cover:
        id3.add(
            APIC(
                encoding=TEXT_ENCODING,
                mime="image/png" if tags.cover.startswith(b"\x89PNG") else "image/jpeg",
                type=PictureType.COVER_FRONT,
                desc="Cover",
                data=tags.cover,
            )
        )
    for frame in _chapter_frames(tags.title, chapters):
        id3.add(frame)
    try:
        id3.update_to_v23()
        id3.save(part, v1=0, v2_version=ID3_VERSION)
    except (OSError, MutagenError) as e:
        raise _write_error(path, _os_error(e)) from None


def _chapter_frames(title: str, chapters: Sequence[Chapter]) -> list[CHAP | CTOC]:
    """One CHAP per chapter, listed by a top-level, ordered CTOC (Chapter Frame Addendum 1.0)."""
    if not chapters:
        return []
    ids = [f"chp{i}" for i in range(len(chapters))]
    toc = CTOC(
        element_id="toc",
        flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
        child_element_ids=ids,
        sub_frames=[_title(title)],
    )
    return [
        toc,
        *(
            CHAP(
                element_id=element_id,
                start_time=_ms(c.start_sample),
                end_time=_ms(c.end_sample),
                start_offset=NO_OFFSET,
                end_offset=NO_OFFSET,
                sub_frames=[_title(c.title)],
            )
            for element_id, c in zip(ids, chapters, strict=True)
        ),
    ]


def _title(text: str) -> TIT2:
    return TIT2(encoding=TEXT_ENCODING, text=text)


def _ms(sample: int) -> int:
    """Samples to whole milliseconds, half up, in integers so no float error creeps in."""
    return (sample * 1000 + SAMPLE_RATE // 2) // SAMPLE_RATE


def _os_error(error: Exception) -> OSError:
    """The OSError behind an error: mutagen wraps the one it hit in its own MutagenError."""
    for candidate in (error, *error.args, error.__cause__, error.__context__):
        if isinstance(candidate, OSError):
            return candidate
    return OSError(str(error))


def _write_error(path: Path, error: OSError) -> ExportError:
    if error.errno == errno.ENOSPC:
        return ExportError(
            f"not enough disk space to write {path}: free some space or choose "
            "another output folder"
        )
    if isinstance(error, PermissionError):
        return ExportError(
            f"cannot write {path}: permission denied; choose a folder you can write to"
        )
    if isinstance(error, IsADirectoryError):
        return ExportError(f"cannot write {path}: it is a folder; give the file name to write")
    reason = error.strerror or str(error)
    return ExportError(
        f"cannot write {path}: {reason[:1].lower()}{reason[1:]}; choose another output path"
    )
