"""The whole pipeline in one call, as `audioguide build` runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .export import Tags, export_mp3
from .render import TARGET_LUFS, render
from .routine import Routine, load_routine
from .timeline import Progress, Timeline, compile_timeline
from .voices import Voice, open_voice


@dataclass(frozen=True)
class BuildResult:
    path: Path
    timeline: Timeline


def voice_for(
    routine: Routine,
    spec: str | None = None,
    rate: int | None = None,
    cache_dir: Path | None = None,
    cache: bool = True,
) -> Voice:
    """The command line wins over the routine's `voice:` block, which wins over the defaults."""
    if spec is None and routine.voice.engine:
        spec = routine.voice.engine + (f":{routine.voice.name}" if routine.voice.name else "")
    return open_voice(spec, rate=rate or routine.voice.rate, cache_dir=cache_dir, cache=cache)


def build(
    routine_path: Path,
    output: Path,
    *,
    variables: Mapping[str, str] | None = None,
    voice: str | None = None,
    rate: int | None = None,
    cache_dir: Path | None = None,
    bitrate_kbps: int = 128,
    target_lufs: float = TARGET_LUFS,
    on_speech: Progress | None = None,
    on_mix: Progress | None = None,
    on_encode: Progress | None = None,
) -> BuildResult:
    routine = load_routine(routine_path, variables)
    tts = voice_for(routine, voice, rate, cache_dir)
    try:
        timeline = compile_timeline(routine, tts, progress=on_speech)
        samples = render(timeline, tts, target_lufs=target_lufs, progress=on_mix)
    finally:
        tts.close()
    tags = Tags(
        title=timeline.title,
        artist=timeline.author,
        album="audioguide",
        comment=routine.description,
    )
    export_mp3(
        samples,
        output,
        tags=tags,
        chapters=timeline.chapters,
        bitrate_kbps=bitrate_kbps,
        progress=on_encode,
    )
    return BuildResult(output, timeline)
