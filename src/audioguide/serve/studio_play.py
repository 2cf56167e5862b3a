"""What the studio plays: the build's own mix, from any sample, as a WAV stream.

WAV rather than MP3: its samples are the mix's, so the first samples a player gets can be shown
to equal the built track's at that point (an MP3 stream's would differ by the coding error and
start after the encoder's delay), and it starts at once: no encoder in between. The mix is made
a second at a time as the player reads, so a 60-minute track costs what the part heard costs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Final

import numpy as np

from ..audio import SAMPLE_RATE, Samples, float_to_pcm16

FULL_SCALE: Final = np.float32(32768.0)
"""Float [-1, 1] to int16 as a decoder of the built MP3 gives it back (the encoder's own input is
scaled for LAME's presets, which the decoder undoes: publish.mp3.lame_scale)."""


def wav_header(n_samples: int, channels: int) -> bytes:
    """A canonical 44-byte PCM header for `n_samples` frames of 16-bit audio at SAMPLE_RATE."""
    data = n_samples * channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, SAMPLE_RATE, SAMPLE_RATE * channels * 2, channels * 2, 16
        )
        + b"data"
        + struct.pack("<I", data)
    )


def wav_stream(blocks: Iterable[Samples], n_samples: int, channels: int) -> Iterator[bytes]:
    """The header, then exactly `n_samples` frames of the blocks (the rest is not mixed)."""
    yield wav_header(n_samples, channels)
    left = n_samples
    for block in blocks:
        if left <= 0:
            break
        part = block[:left]
        left -= len(part)
        yield float_to_pcm16(part, FULL_SCALE)  # rounded and clipped as the encoder's input is
    if left > 0:  # a track shorter than asked: the header promised these frames
        yield bytes(left * channels * 2)


def read_wav(data: bytes) -> tuple[Samples, int]:
    """A studio WAV's int16 samples (frames x channels) and channel count, for tests and the
    bench."""
    channels = struct.unpack_from("<H", data, 22)[0]
    pcm = np.frombuffer(data[44:], dtype="<i2")
    return pcm.reshape(-1, channels).astype(np.float32), channels
