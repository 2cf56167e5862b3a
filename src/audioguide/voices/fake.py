"""The fake voice: a deterministic, speech-like tone whose length is a known function of the
text, so tests can assert exact lengths.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..audio import SAMPLE_RATE, Samples, fade_edges, to_samples
from ..options import DEFAULT_RATE
from .clips import check_rate


class FakeVoice:
    """A deterministic, speech-like tone whose length is a known function of the text."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        check_rate(rate)
        self.rate = rate

    @property
    def key(self) -> str:
        return f"fake:default:{self.rate}"

    @staticmethod
    def duration_s(text: str, rate: int = DEFAULT_RATE) -> float:
        return (0.25 + 0.3 * len(text.split())) * DEFAULT_RATE / rate

    def synthesize(self, text: str) -> Samples:
        n = to_samples(self.duration_s(text, self.rate))
        t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
        # A text-dependent fundamental (140-160 Hz) so different cues sound different.
        f0 = 150.0 + (zlib.crc32(text.encode("utf-8")) % 21 - 10)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3, 4))
        tone = tone / np.max(np.abs(tone)) if n else tone
        syllables = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)
        return fade_edges((0.5 * tone * syllables).astype(np.float32))

    def close(self) -> None:
        pass
