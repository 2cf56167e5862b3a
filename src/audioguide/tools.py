"""The outside programs audioguide runs, found in one place, each with what to install when it
is missing.
"""

from __future__ import annotations

import shutil
from typing import Final

from .errors import ExportError

INSTALL_FFMPEG: Final = "ffmpeg is needed to encode and decode audio: sudo apt-get install ffmpeg"


def ffmpeg(program: str = "ffmpeg") -> str:
    """The path of ffmpeg (or of `ffprobe`, which ships with it)."""
    path = shutil.which(program)
    if path is None:
        raise ExportError(INSTALL_FFMPEG)
    return path
