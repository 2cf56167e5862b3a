"""audioguide: turn a routine script into a voice-guided, chaptered MP3 session.

A routine is loaded once and built as often as you like::

    from audioguide import Options, Session

    with Session.open("my.yaml", Options(voice="system", rate=150)) as session:
        session.build(Path("output/sam.mp3"), {"client": "Sam"}, outputs=["companions", "page"])
        plan = session.plan({"client": "Ann"})      # the timeline, without rendering audio

The stages, one module each: `load_routine` (load) -> `compile_timeline` (compile) -> `render`
(mix) -> `export_mp3` (encode, tag, chapters).
"""

from .errors import AudioguideError, ExportError, RoutineError, SoundError, VoiceError
from .export import Tags, export_mp3
from .load import RoutineSource, load_routine, parse_routine
from .model import Chapter, Cue, CueKind, Routine, Timeline
from .render import render
from .session import BuildResult, Options, Plan, Session
from .timeline import compile_timeline
from .voices import Voice, open_voice

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
