"""How to build: the options the command line takes and a clients file may set per client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_BITRATE_KBPS: Final = 128
BITRATES_KBPS: Final = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""What MPEG-1 Layer III allows at 44.1 kHz; ffmpeg silently rounds anything else."""

DEFAULT_RATE: Final = 150
"""Words per minute: a calm teacher's pace."""
MIN_RATE: Final = 60
MAX_RATE: Final = 400

TARGET_LUFS: Final = -16.0
"""The voice's loudness: Apple Podcasts' spoken-word target, which a listener sets the volume by."""


@dataclass(frozen=True)
class Options:
    """How to build: the command line's options, which a clients file may override per client."""

    voice: str | None = None
    """`natural`, `system:en-us`, `female`, ...; None for the routine's `voice:` or the default
    for the language (voices.voice_for)."""
    language: str | None = None
    """The language to build in (`es`, `es-MX`); None for the routine's `language:`. A routine
    written in another language is read with its translation, ROUTINE.LANG.yaml beside it."""
    rate: int | None = None
    cache_dir: Path | None = None
    bed: str | None = None
    """A built-in bed, a file (any path: the user typed it), or "none"; None for the routine's."""
    length_s: float | None = None
    target_lufs: float = TARGET_LUFS
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    sound_dirs: tuple[Path, ...] = ()
