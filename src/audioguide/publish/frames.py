"""MP3 frames as bytes: where each frame of a file starts, how far its data reaches back into the
bit reservoir, and the Xing/LAME frame that makes a track gapless. What joining spans of one track,
encoded apart, into one stream needs (spans.py); no audio is decoded here.

A Layer III frame's audio data (its "main data") need not start in the frame: main_data_begin, the
first 9 bits of the side information, says how many bytes before the frame's own data area it
starts, in the areas of the frames before (the bit reservoir: LAME at 128 kbps leaves it non-zero
in all but one frame in 50,000 of a spoken track, measured). Only the data areas count: headers
and side information are skipped when counting back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

_BITRATES_KBPS: Final = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""MPEG-1 Layer III, by the header's 4-bit index."""
_RATES: Final = (44100, 48000, 32000)


class FrameError(ValueError):
    """Bytes that are not the MPEG-1 Layer III frames this encoder writes."""


@dataclass(frozen=True)
class Frames:
    """The frames of one MP3 stream (a file from `start`, tags excluded)."""

    offsets: npt.NDArray[np.int64]
    """Where each frame starts in the file, and one past the last frame's end."""
    reach: npt.NDArray[np.int16]
    """Each frame's main_data_begin: bytes of the data areas before its own where it starts."""
    head: int
    """Header, CRC and side information: the bytes of a frame before its data area."""

    def __len__(self) -> int:
        return len(self.reach)

    def size(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def area(self, i: int) -> tuple[int, int]:
        """Frame i's data area: its offset in the file and its length."""
        return int(self.offsets[i]) + self.head, self.size(i) - self.head

    def tail(self, i: int, n: int) -> list[tuple[int, int]]:
        """The last `n` bytes of the data areas before frame i, as (offset, length) pieces in
        order; fewer if the stream starts sooner."""
        pieces = []
        while n > 0 and i > 0:
            i -= 1
            at, length = self.area(i)
            take = min(n, length)
            pieces.append((at + length - take, take))
            n -= take
        return pieces[::-1]

    def reaches_before(self, i: int) -> int:
        """How many bytes of the data areas before frame i the frames from i on read: the
        furthest back any of them starts (main_data_begin is at most 511, so a few frames on
        none reaches past frame i)."""
        furthest, ahead, j = 0, 0, i
        while j < len(self) and ahead < 512:
            furthest = max(furthest, int(self.reach[j]) - ahead)
            ahead += self.area(j)[1]
            j += 1
        return furthest


def scan(file: BinaryIO, start: int = 0) -> Frames:
    """Every frame of the stream in `file` from `start` to its end (or to bytes that are not a
    frame: an ID3v1 tag, say). The file is read whole: a span's is a few MB.

    Every frame of one encoder's CBR stream has the first frame's header but for the padding
    bit, so the headers are found at once as that pattern; bytes of audio data that happen to
    match it are left out by walking from frame to frame (a byte loop took 0.12 s a 20-minute
    track; this, 0.01 s)."""
    file.seek(start)
    data = np.frombuffer(file.read(), np.uint8)
    if len(data) < 4 or data[0] != 0xFF:
        return Frames(np.array([start], np.int64), np.zeros(0, np.int16), 0)
    word = int.from_bytes(data[:4].tobytes(), "big")
    size, head = _frame(word & ~0x200)  # unpadded
    found = np.flatnonzero(data[:-3] == 0xFF)
    found = found[(data[found + 1] == data[1]) & ((data[found + 2] | 2) == (data[2] | 2))]
    ends = found + size + ((data[found + 2] >> 1) & 1)
    nexts = np.searchsorted(found, ends)
    linked = nexts < len(found)
    linked[linked] = found[nexts[linked]] == ends[linked]
    successor = np.where(linked, nexts, -1).tolist()
    chain, i = [], 0
    while i >= 0:
        chain.append(i)
        i = successor[i]
    offsets = found[chain]
    last_end = int(ends[chain[-1]])
    if last_end > len(data):  # the last frame is cut short: not a frame
        offsets, last_end = offsets[:-1], int(offsets[-1])
    side = offsets + head - _side_bytes(word)
    reach = (data[side].astype(np.int16) << 1) | (data[side + 1] >> 7)
    return Frames(np.append(offsets, last_end).astype(np.int64) + start, reach, head)


def _frame(word: int) -> tuple[int, int]:
    """A frame's size and the length of its header, CRC and side information, from its header."""
    version, layer = (word >> 19) & 3, (word >> 17) & 3
    bitrate, rate = (word >> 12) & 0xF, (word >> 10) & 3
    if version != 3 or layer != 1 or bitrate in (0, 15) or rate == 3:
        raise FrameError(f"not an MPEG-1 Layer III frame header: {word:08x}")
    padding, no_crc = (word >> 9) & 1, (word >> 16) & 1
    size = 144000 * _BITRATES_KBPS[bitrate] // _RATES[rate] + padding
    return size, 4 + (0 if no_crc else 2) + _side_bytes(word)


def _side_bytes(word: int) -> int:
    return 17 if (word >> 6) & 3 == 3 else 32  # mono, else any stereo mode


# ---------------------------------------------------------------------------- Xing/LAME frame

_TOC: Final = 100
_LAME_AT: Final = 4 + 4 + 4 + 4 + _TOC + 4
"""The LAME tag, after "Info", its flags, the frame and byte counts, the seek table, the quality."""
_LAME_CRC_SPAN: Final = 190
"""The LAME tag's own CRC covers the frame's first 190 bytes (its own field among them in mono)."""


@dataclass(frozen=True)
class Gapless:
    """What a joined stream's Xing/LAME frame says of it."""

    frames: int
    """Audio frames, the Xing frame not counted."""
    audio_bytes: int
    """The Xing frame and every audio frame."""
    toc: bytes
    padding: int
    """Samples the decoder drops at the end."""
    music_crc: int


def rewrite_info(frame: bytes, gapless: Gapless) -> bytes:
    """The Xing/LAME ("Info") frame `frame`, as ffmpeg wrote it for a part of the track, saying
    `gapless` of the whole: frame and byte counts, seek table, end padding, the music's length
    and CRC, and the tag's own CRC. The encoder delay, quality and version stay."""
    at = frame.find(b"Info")
    lame = at + _LAME_AT
    if at < 0 or frame[at + 4 : at + 8] != b"\0\0\0\x0f" or frame[lame : lame + 4] != b"Lavc":
        raise FrameError("no Xing/LAME frame with frames, bytes and seek table where expected")
    out = bytearray(frame)
    out[at + 8 : at + 12] = gapless.frames.to_bytes(4, "big")
    out[at + 12 : at + 16] = gapless.audio_bytes.to_bytes(4, "big")
    out[at + 16 : at + 16 + _TOC] = gapless.toc
    delay = int.from_bytes(out[lame + 21 : lame + 24], "big") >> 12
    if not 0 <= gapless.padding < 1 << 12:
        raise FrameError(f"end padding {gapless.padding} does not fit the LAME tag")
    out[lame + 21 : lame + 24] = ((delay << 12) | gapless.padding).to_bytes(3, "big")
    out[lame + 28 : lame + 32] = gapless.audio_bytes.to_bytes(4, "big")
    out[lame + 32 : lame + 34] = gapless.music_crc.to_bytes(2, "big")
    # As ffmpeg does: over 190 bytes whatever the frame's layout, the CRC's own field as 0.
    out[lame + 34 : lame + 36] = b"\0\0"
    out[lame + 34 : lame + 36] = crc16(bytes(out[:_LAME_CRC_SPAN])).to_bytes(2, "big")
    return bytes(out)


def encoder_delay(frame: bytes) -> int:
    """The encoder's delay as the Xing/LAME frame gives it (576 for LAME). Decoders drop it and
    their own 529 samples at the start, and at the end the padding less those 529: the padding
    is the stream's frames less the track's samples less this delay (measured against ffmpeg)."""
    lame = frame.find(b"Info") + _LAME_AT
    return int.from_bytes(frame[lame + 21 : lame + 24], "big") >> 12


def seek_table(offsets: npt.NDArray[np.int64], audio_bytes: int) -> bytes:
    """The Xing seek table: for each percent of the frames, where that frame starts, in 256ths of
    the stream (offsets counted from the Xing frame's start)."""
    frames = len(offsets)
    picks = offsets[[i * frames // _TOC for i in range(_TOC)]]
    return bytes(int(min(255, 256 * int(p) // audio_bytes)) for p in picks)


# ---------------------------------------------------------------------------- CRC-16


def _crc_table() -> npt.NDArray[np.uint16]:
    table = np.zeros(256, np.uint16)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[byte] = crc
    return table


_CRC: Final = _crc_table()
"""CRC-16/ARC (the "ANSI" CRC-16, reflected): what the LAME tag's two CRCs are."""
_COLUMNS: Final = 256
"""Bytes per row of the CRC's vectorised pass: every row's CRC is computed at once."""


def _zeros_table(n: int) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """What `n` zero bytes do to a CRC, as a table for its low byte and one for its high byte
    (the CRC is linear in its state: the two parts' images XOR together)."""
    lo = np.arange(256, dtype=np.uint16)
    hi = (lo << 8).astype(np.uint16)
    for _ in range(n):
        lo = (lo >> 8) ^ _CRC[lo & 0xFF]
        hi = (hi >> 8) ^ _CRC[hi & 0xFF]
    return lo, hi


_SHIFT_LO, _SHIFT_HI = _zeros_table(_COLUMNS)


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC of `data`, continued from `crc`. The bytes are cut into rows of 256 whose CRCs
    are computed together, 256 numpy steps for any length, then chained (the CRC is linear): a
    byte loop took 6 s for an hour of MP3. Fed a few MB at a time, the rows stay in the cache."""
    head = len(data) % _COLUMNS
    for byte in data[:head]:
        crc = (crc >> 8) ^ int(_CRC[(crc ^ byte) & 0xFF])
    rows = np.frombuffer(data, np.uint8, offset=head).reshape(-1, _COLUMNS)
    state = np.zeros(len(rows), np.uint16)
    for column in rows.T:
        state = (state >> 8) ^ _CRC[(state ^ column) & 0xFF]
    for row in state.tolist():
        crc = int(_SHIFT_LO[crc & 0xFF] ^ _SHIFT_HI[crc >> 8]) ^ row
    return crc


_CRC_PERIOD: Final = 32767
"""Zero bytes after which any CRC-16/ARC is what it was (the least such count, measured; the
polynomial is (x + 1)(x^15 + x + 1)): carrying a CRC back over n bytes is carrying it on over
the period less n."""


def _map(images: list[int], crc: int) -> int:
    """A linear map of 16-bit states, given as the images of the 16 unit states, applied."""
    out = 0
    for bit, image in enumerate(images):
        if crc >> bit & 1:
            out ^= image
    return out


def _powers() -> list[list[int]]:
    """What 1, 2, 4 ... 2^14 zero bytes do to a CRC, each as a map."""
    one = [(1 << b >> 8) ^ int(_CRC[1 << b & 0xFF]) for b in range(16)]
    maps = [one]
    for _ in range(14):
        maps.append([_map(maps[-1], image) for image in maps[-1]])
    return maps


_POWERS: Final = _powers()


def crc_shift(crc: int, n: int) -> int:
    """The CRC of some bytes followed by `n` zero bytes, from the bytes' CRC `crc` (n may be
    negative: the CRC of the bytes without `-n` zero bytes that ended them)."""
    n %= _CRC_PERIOD
    for bit, images in enumerate(_POWERS):
        if n >> bit & 1:
            crc = _map(images, crc)
    return crc


def crc_join(first: int, second: int, second_bytes: int) -> int:
    """The CRC of two runs of bytes one after the other, from theirs (the CRC is linear and starts
    at 0: the first's carried past the second, plus the second's)."""
    return crc_shift(first, second_bytes) ^ second


def crc_within(whole: int, head: int, tail: int, middle_bytes: int, tail_bytes: int) -> int:
    """The CRC of the middle of head + middle + tail, from the whole's and the ends': what an
    encoder's span kept, from the CRC ffmpeg wrote for all it encoded, without reading it."""
    return crc_shift(whole ^ tail, -tail_bytes) ^ crc_shift(head, middle_bytes)


def music_crc(frame: bytes) -> int:
    """The CRC of the stream's audio frames, as its Xing/LAME frame gives it."""
    lame = frame.find(b"Info") + _LAME_AT
    return int.from_bytes(frame[lame + 32 : lame + 34], "big")
