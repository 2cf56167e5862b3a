"""The whole pipeline in one call, as `audioguide build` runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .audio import to_seconds
from .beds import resolve_bed
from .companions import m3u, write_companions
from .cover import cover_png
from .errors import AudioguideError, RoutineError, SoundError, VoiceError
from .export import Tags, export_mp3, export_split, write_atomic
from .fit import fit_length
from .page import handout_page, share_page
from .plan import format_clock
from .render import TARGET_LUFS, render
from .routine import Bed, Routine, load_routine
from .timeline import Progress, Timeline, check_size, compile_timeline
from .voices import Voice, open_voice


@dataclass(frozen=True)
class BuildResult:
    path: Path
    timeline: Timeline
    companions: tuple[Path, ...] = ()
    """The transcript and chapter files written beside the track."""


def voice_for(
    routine: Routine,
    spec: str | None = None,
    rate: int | None = None,
    cache_dir: Path | None = None,
    cache: bool = True,
) -> Voice:
    """The command line wins over the routine's `voice:` block, which wins over the defaults."""
    rate = rate or routine.voice.rate
    if spec is not None or not routine.voice.engine:
        return open_voice(spec, rate=rate, cache_dir=cache_dir, cache=cache)
    where = f"{routine.path or '<routine>'}: voice"
    name = routine.voice.name
    if name and name.lower().endswith(".onnx"):
        # A shared routine may only load a voice model from its own folder, as with sounds.
        folder = (routine.path.parent if routine.path else Path()).resolve()
        model = (folder / name).resolve()
        if not model.is_relative_to(folder):
            raise RoutineError(
                f"{where}: the voice file {name} is outside the routine's folder; put it next "
                f"to the routine, or choose it yourself with --voice natural:{name}"
            )
        name = str(model)
    try:
        return open_voice(
            routine.voice.engine + (f":{name}" if name else ""),
            rate=rate,
            cache_dir=cache_dir,
            cache=cache,
        )
    except VoiceError as e:
        raise VoiceError(f"{where}: {e}") from None


def load(
    routine_path: Path,
    variables: Mapping[str, str] | None = None,
    *,
    sound_dirs: Sequence[Path] = (),
    bed: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Routine:
    """Read the routine; `bed` (a built-in bed, a file, or "none") replaces its own bed."""
    routine = load_routine(routine_path, variables, sound_dirs=sound_dirs)
    # A routine too big to build fails here, before its warnings: one line, the error alone.
    check_size(routine)
    for warning in routine.warnings:
        if on_warning:
            on_warning(warning)
    if bed is None:
        return routine
    if bed.strip().lower() == "none":
        return replace(routine, bed=None)
    try:
        sound = resolve_bed(bed, Path.cwd())  # named by the user, so any path they can read
    except AudioguideError as e:
        raise SoundError(f"--bed: {e}") from None
    level = routine.bed.level_db if routine.bed else Bed.level_db
    return replace(routine, bed=Bed(sound, level))


def lay_out(
    routine: Routine,
    voice: Voice,
    length_s: float | None = None,
    progress: Progress | None = None,
) -> tuple[Routine, Timeline]:
    """The routine's timeline, fitted to `length_s` when given, and the routine as fitted."""
    if length_s is None:
        return routine, compile_timeline(routine, voice, progress=progress)
    fit = fit_length(routine, voice, length_s, progress=progress)
    return fit.routine, fit.timeline


def build(
    routine_path: Path,
    output: Path,
    *,
    variables: Mapping[str, str] | None = None,
    voice: str | None = None,
    rate: int | None = None,
    cache_dir: Path | None = None,
    sound_dirs: Sequence[Path] = (),
    bitrate_kbps: int = 128,
    target_lufs: float = TARGET_LUFS,
    on_speech: Progress | None = None,
    on_mix: Progress | None = None,
    on_encode: Progress | None = None,
    split: bool = False,
    page: bool = False,
    length_s: float | None = None,
    bed: str | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the track at `output` and its companions; `split` adds one MP3 per chapter and a
    playlist in `<name>-chapters/`, `page` adds the share page, handout and cover beside it."""
    routine = load(routine_path, variables, sound_dirs=sound_dirs, bed=bed, on_warning=on_warning)
    tts = voice_for(routine, voice, rate, cache_dir)
    try:
        routine, timeline = lay_out(routine, tts, length_s, progress=on_speech)
        samples = render(timeline, tts, target_lufs=target_lufs, progress=on_mix)
    finally:
        tts.close()
    tags = Tags(
        title=timeline.title,
        artist=timeline.author,
        album="audioguide",
        comment=routine.description,
        cover=routine.cover.read_bytes()
        if routine.cover
        else cover_png(
            timeline.title,
            " · ".join(filter(None, [format_clock(timeline.total_s), timeline.author])),
        ),
    )
    export_mp3(
        samples,
        output,
        tags=tags,
        chapters=timeline.chapters,
        bitrate_kbps=bitrate_kbps,
        progress=on_encode,
    )
    written = write_companions(output, timeline)
    if split and timeline.chapters:
        folder = output.with_name(output.stem + "-chapters")
        parts = export_split(
            samples, folder, tags=tags, chapters=timeline.chapters, bitrate_kbps=bitrate_kbps
        )
        playlist = folder / f"{output.stem}.m3u"
        entries = [(p.name, to_seconds(n), p.stem) for p, n in parts]
        write_atomic(playlist, m3u(entries).encode("utf-8"))
        written += [*(p for p, _ in parts), playlist]
    if page:
        cover_name = "cover" + (routine.cover.suffix.lower() if routine.cover else ".png")
        files = {
            "index.html": share_page(
                timeline,
                routine,
                mp3_name=output.name,
                cover_name=cover_name,
                handout_name="handout.html",
            ).encode("utf-8"),
            "handout.html": handout_page(timeline, routine).encode("utf-8"),
            cover_name: tags.cover,
        }
        for name, data in files.items():
            write_atomic(output.with_name(name), data)
            written.append(output.with_name(name))
    return BuildResult(output, timeline, tuple(written))
