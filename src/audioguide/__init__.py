"""audioguide: turn a routine script into a voice-guided, chaptered MP3 session.

A routine is loaded once and built as often as you like::

    from . import Options, Session

    with Session.open("my.yaml", Options(voice="system", rate=150)) as session:
        session.build(Path("output/sam.mp3"), {"client": "Sam"}, outputs=["companions", "page"])
        plan = session.plan({"client": "Ann"})      # the timeline, without rendering audio

The stages, one module each: `load_routine` (load) -> `compile_timeline` (compile) -> `render`
(mix) -> `export_mp3` (encode, tag, chapters).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cues import Chapter, Cue, CueKind, Timeline
    from .errors import AudioguideError, ExportError, RoutineError, SoundError, VoiceError
    from .language.load import RoutineSource, load_routine, parse_routine
    from .model import Routine
    from .options import Options
    from .publish.mp3 import export_mp3
    from .publish.tags import Tags
    from .session import BuildResult, Plan, Session
    from .sound.mix import render
    from .timing.compile import compile_timeline
    from .voices.choose import open_voice
    from .voices.clips import Voice

_HOMES = {
    "cues": ("Chapter", "Cue", "CueKind", "Timeline"),
    "errors": ("AudioguideError", "ExportError", "RoutineError", "SoundError", "VoiceError"),
    "language.load": ("RoutineSource", "load_routine", "parse_routine"),
    "model": ("Routine",),
    "options": ("Options",),
    "publish.mp3": ("export_mp3",),
    "publish.tags": ("Tags",),
    "session": ("BuildResult", "Plan", "Session"),
    "sound.mix": ("render",),
    "timing.compile": ("compile_timeline",),
    "voices.choose": ("open_voice",),
    "voices.clips": ("Voice",),
}
"""Where each public name lives. Imported on first use: the system voice's worker process
imports one module of the package, and should not pay for all of them (scipy alone is 1 s)."""


def __getattr__(name: str) -> Any:
    for module, names in _HOMES.items():
        if name in names:
            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'audioguide' has no attribute {name!r}")


__version__ = "0.3.0"
"""The one version number: pyproject.toml reads it from here."""

__all__ = [
    "AudioguideError",
    "BuildResult",
    "Chapter",
    "Cue",
    "CueKind",
    "ExportError",
    "Options",
    "Plan",
    "Routine",
    "RoutineError",
    "RoutineSource",
    "Session",
    "SoundError",
    "Tags",
    "Timeline",
    "Voice",
    "VoiceError",
    "compile_timeline",
    "export_mp3",
    "load_routine",
    "open_voice",
    "parse_routine",
    "render",
]
