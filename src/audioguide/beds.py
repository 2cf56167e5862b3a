"""Background beds: ambience laid under a whole session (rain, ocean, brown noise, a drone, or a
user's audio file), as a seamless loop that render tiles across the track."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from .audio import Samples
from .sounds import resolve_sound

BUILTIN_BEDS: Final[tuple[str, ...]] = ("rain", "ocean", "brown", "drone")


def resolve_bed(ref: str, base_dir: Path, *, allowed: Sequence[Path] | None = None) -> str:
    """A built-in bed name, or the absolute path of an audio file (see sounds.resolve_sound)."""
    return resolve_sound(ref, base_dir, allowed=allowed, builtins=BUILTIN_BEDS)


def bed_loop(key: str) -> Samples:
    """The bed for a key from resolve_bed: a mono loop that joins end to start seamlessly."""
    raise NotImplementedError(key)
