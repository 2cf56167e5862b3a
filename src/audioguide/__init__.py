"""audioguide: turn a routine script into a voice-guided, chaptered MP3 session.

A routine is loaded once and built as often as you like::

    from audioguide import Options, Session

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
    from .errors import AudioguideError, ExportError, RoutineError, SoundError, VoiceError
    from .export import Tags, export_mp3
    from .load import RoutineSource, load_routine, parse_routine
    from .model import Chapter, Cue, CueKind, Routine, Timeline
    from .render import render
    from .session import BuildResult, Options, Plan, Session
    from .timeline import compile_timeline
    from .voices import Voice, open_voice

_HOMES = {
    "errors": ("AudioguideError", "ExportError", "RoutineError", "SoundError", "VoiceError"),
    "export": ("Tags", "export_mp3"),
    "load": ("RoutineSource", "load_routine", "parse_routine"),
    "model": ("Chapter", "Cue", "CueKind", "Routine", "Timeline"),
    "render": ("render",),
    "session": ("BuildResult", "Options", "Plan", "Session"),
    "timeline": ("compile_timeline",),
    "voices": ("Voice", "open_voice"),
}
"""Where each public name lives. Imported on first use: the system voice's worker process
imports one module of the package, and should not pay for all of them (scipy alone is 1 s)."""


def __getattr__(name: str) -> Any:
    for module, names in _HOMES.items():
        if name in names:
            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'audioguide' has no attribute {name!r}")


__version__ = "0.2.0"

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
