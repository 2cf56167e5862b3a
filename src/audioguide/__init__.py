"""audioguide: turn a routine script into a voice-guided, chaptered MP3 session.

The pipeline, one module per stage::

    routine = load_routine("my.yaml", {"client": "Sam"})
    voice = open_voice("system", rate=150)
    timeline = compile_timeline(routine, voice)
    samples = render(timeline, voice)
    tags = Tags(timeline.title, timeline.author)
    export_mp3(samples, Path("output/my.mp3"), tags=tags, chapters=timeline.chapters)
"""

from .build import build
from .errors import AudioguideError, ExportError, RoutineError, SoundError, VoiceError
from .export import Tags, export_mp3
from .render import render
from .routine import Routine, load_routine
from .timeline import Chapter, Cue, CueKind, Timeline, compile_timeline
from .voices import Voice, open_voice

__version__ = "0.1.0"

__all__ = [
    "AudioguideError",
    "Chapter",
    "Cue",
    "CueKind",
    "ExportError",
    "Routine",
    "RoutineError",
    "SoundError",
    "Tags",
    "Timeline",
    "Voice",
    "VoiceError",
    "build",
    "compile_timeline",
    "export_mp3",
    "load_routine",
    "open_voice",
    "render",
]
