"""The library's front door: a routine loaded once and built many times (other variables, length,
voice), each voice opened once; `build`, `share`, `plan` and `check` are thin commands over it.

A Session may be used from several threads at once (a server's workers): it keeps no state of a
build, its voices serialise their engines, and everything it caches is filled the same by any
thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .audio import Samples
from .cues import Progress, Timeline
from .errors import AudioguideError, RoutineError, VoiceError, Where
from .language.load import RoutineSource
from .language.pronounce import read_lexicon
from .language.reader import resolve_sound
from .model import BUILTIN_BEDS, Bed, Client, Pronunciation, Routine
from .options import DEFAULT_RATE, Options
from .paths import resolve_inside
from .strings import base_language, clock, table
from .timing.compile import compile_timeline
from .timing.fit import fit_length
from .timing.size import check_size
from .voices.cache import CachedVoice, EstimatedVoice
from .voices.choose import VoicePool, speaks, voice_for, voice_languages
from .voices.clips import Voice
from .voices.lexicon import LEXICON_ENV, Lexicon, user_lexicon_path

if TYPE_CHECKING:
    # Imported where a track is made, not here: `plan` and `check` make none, and the writers,
    # the mixer and the encoder's modules were 0.1-0.2 s of their start (python -X importtime).
    from .publish.outputs import Output, Track
    from .publish.tags import Tags

Report = Callable[[str, int, int], None]
"""`report(stage, done, total)`: stage is "speaking" or "mixing"."""

STAGES: Final = ("speaking", "mixing", "writing")
"""Mixing and encoding are one pass: the encoder takes each block as it is mixed. Writing is the
files beside the track (the page, the handout and its PDF)."""


@dataclass(frozen=True)
class Plan:
    routine: Routine
    """The routine as built: every range set to the value the length asked for."""
    timeline: Timeline
    estimated: bool = False
    """Whether some speech was timed by its words rather than spoken (see Session.plan)."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    timeline: Timeline
    written: Mapping[Output, tuple[Path, ...]] = field(default_factory=dict)
    """The files each output wrote beside the track."""

    @property
    def companions(self) -> tuple[Path, ...]:
        """Every file written beside the track."""
        return tuple(p for paths in self.written.values() for p in paths)


@dataclass
class Session:
    """A routine loaded once, built many times. Use it as a context manager, or call `close()`:
    it closes its voices. Sessions made by `with_source` share them."""

    source: RoutineSource
    options: Options = Options()
    on_warning: Callable[[str], None] | None = None
    voices: VoicePool = field(default_factory=VoicePool)

    @classmethod
    def open(
        cls,
        path: Path | str,
        options: Options = Options(),
        on_warning: Callable[[str], None] | None = None,
    ) -> Session:
        return cls(RoutineSource.read(path), options, on_warning)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.voices.close()

    def with_source(self, source: RoutineSource) -> Session:
        """Another routine (or the same one edited) built with this session's voices."""
        return Session(source, self.options, self.on_warning, self.voices)

    # --- the stages ---

    def routine(
        self,
        variables: Mapping[str, str] | None = None,
        *,
        variables_from: str = "--var",
        options: Options | None = None,
        pronounce: Sequence[Pronunciation] = (),
    ) -> Routine:
        """The routine validated for these variables, with the options' bed in place of its own
        and the user's lexicon and `pronounce` (a client's name as said) around its own entries;
        warnings go to `on_warning`."""
        options = options or self.options
        routine = self.source.routine(
            variables,
            variables_from=variables_from,
            sound_dirs=options.sound_dirs,
            language=options.language,
        )
        routine = _with_lexicon(routine, options.lexicon, pronounce)
        # A routine too big to build fails here, before its warnings: one line, the error alone.
        check_size(routine)
        for warning in routine.warnings:
            if self.on_warning:
                self.on_warning(warning)
        return _with_bed(routine, options.bed)

    def voice(self, routine: Routine, options: Options | None = None) -> Voice:
        """The voice for the routine (see `voice_spec`), opened once for all sessions that share
        this one's voices. A voice that cannot speak the routine's language is refused, naming
        where it was chosen."""
        options = options or self.options
        spec, where = self._voice_spec(routine, options)
        try:
            voice = self.voices.get(
                spec, rate=options.rate or routine.voice.rate, cache_dir=options.cache_dir
            )
        except VoiceError as e:
            raise e.at(where) from None
        if isinstance(voice, CachedVoice):  # every voice a session opens is (VoicePool)
            voice = voice.pronouncing(Lexicon(routine.pronounce))
        if not speaks(voice, routine.language):
            language = table(routine.language).english
            raise VoiceError(
                f"The voice {spec} speaks {', '.join(voice_languages(voice))}, not {language} "
                f"({routine.language}): leave the voice out to have a {language} one chosen, or "
                f"pick one from `audioguide voices --lang {base_language(routine.language)}`",
                where,
            )
        return voice

    def voice_spec(self, routine: Routine, options: Options | None = None) -> str:
        """Which voice speaks the routine, without opening it: the command line's wins over the
        routine's `voice:` block, which wins over the default for the routine's language."""
        return self._voice_spec(routine, options or self.options)[0]

    def _voice_spec(self, routine: Routine, options: Options) -> tuple[str, Where | None]:
        given = options.voice or _routine_voice(routine)
        # A voice typed on the command line needs no place: the message names it.
        where = None if options.voice or not given else Where(f"{routine.where}: voice")
        try:
            return voice_for(routine.language, given), where
        except VoiceError as e:
            raise e.at(where) from None

    def plan(
        self,
        variables: Mapping[str, str] | None = None,
        *,
        variables_from: str = "--var",
        options: Options | None = None,
        progress: Progress | None = None,
        estimate: bool = False,
        pronounce: Sequence[Pronunciation] = (),
    ) -> Plan:
        """The timeline, fitted to the options' length when one is given. With `estimate`,
        nothing is spoken: speech not in the cache is timed by its words (`Plan.estimated`)."""
        options = options or self.options
        routine = self.routine(
            variables, variables_from=variables_from, options=options, pronounce=pronounce
        )
        voice = self.voice(routine, options)
        if not estimate or not isinstance(voice, CachedVoice):
            return lay_out(routine, voice, options.length_s, progress)
        guess = EstimatedVoice(voice, options.rate or routine.voice.rate or DEFAULT_RATE)
        plan = lay_out(routine, guess, options.length_s, progress)
        return replace(plan, estimated=guess.estimated > 0)

    def build(
        self,
        output: Path,
        variables: Mapping[str, str] | None = None,
        *,
        variables_from: str = "--var",
        options: Options | None = None,
        outputs: Iterable[str | Output] = ("companions",),
        client: Client | None = None,
        tags: Callable[[Tags], Tags] | None = None,
        report: Report | None = None,
    ) -> BuildResult:
        """Build the track at `output` and the `outputs` beside it (publish.outputs.Output), for
        `client` when it is one person's; `tags` may adjust the track's tags."""
        from .publish.outputs import parse_outputs, write_outputs

        options = options or self.options
        chosen = parse_outputs(outputs)
        stage = _stages(report)
        plan = self.plan(
            variables,
            variables_from=variables_from,
            options=options,
            progress=stage["speaking"],
            pronounce=client.pronounce if client else (),
        )
        track = self.track(output, plan, options, chosen, client=client, tags=tags)
        if mixing := stage["mixing"]:
            # Shown before the first block, which levels its clips and the bed (seconds, cold).
            mixing(0, plan.timeline.total_samples)
        export_track(track, mixing)
        written = write_outputs(track, progress=stage["writing"])
        return BuildResult(output, plan.timeline, {o: tuple(ps) for o, ps in written.items()})

    def track(
        self,
        output: Path,
        plan: Plan,
        options: Options,
        outputs: tuple[Output, ...],
        *,
        client: Client | None = None,
        tags: Callable[[Tags], Tags] | None = None,
    ) -> Track:
        """The planned track as its writers see it; its audio is mixed when asked for."""
        from .publish.outputs import Track
        from .sound.levels import peak_ceiling_dbtp
        from .sound.mix import render_blocks

        voice = self.voice(plan.routine, options)
        track_tags = track_tags_for(plan, client)
        if tags:
            track_tags = tags(track_tags)
        ceiling = peak_ceiling_dbtp(options.bitrate_kbps, channels_of(plan.timeline))

        def audio(progress: Progress | None = None, start_sample: int = 0) -> Iterator[Samples]:
            return render_blocks(
                plan.timeline,
                voice,
                target_lufs=options.target_lufs,
                ceiling_dbtp=ceiling,
                progress=progress,
                start_sample=start_sample,
            )

        return Track(
            output,
            plan.routine,
            plan.timeline,
            track_tags,
            audio,
            outputs,
            options.bitrate_kbps,
            client,
        )


def export_track(track: Track, progress: Progress | None = None) -> None:
    """The track's MP3 at its path, mixed as it is encoded."""
    from .publish.spans import export_mixed

    export_mixed(
        lambda start: track.audio(None, start),
        track.path,
        channels=channels_of(track.timeline),
        n_samples=track.timeline.total_samples,
        tags=track.tags,
        chapters=track.timeline.chapters,
        bitrate_kbps=track.bitrate_kbps,
        progress=progress,
    )


def channels_of(timeline: Timeline) -> int:
    from .sound.mix import is_stereo

    return 2 if is_stereo(timeline) else 1


def lay_out(
    routine: Routine, voice: Voice, length_s: float | None = None, progress: Progress | None = None
) -> Plan:
    """The routine's timeline, fitted to `length_s` when given."""
    if length_s is None:
        return Plan(routine, compile_timeline(routine, voice, progress=progress))
    fit = fit_length(routine, voice, length_s, progress=progress)
    return Plan(fit.routine, fit.timeline)


def track_tags_for(plan: Plan, client: Client | None = None) -> Tags:
    """The track's tags: the clinic (else the author) as artist; for a client, their name as the
    album (a music player groups their tracks), in the comment and on the generated cover."""
    from .publish.cover import cover_png
    from .publish.tags import Tags

    routine, timeline = plan.routine, plan.timeline
    artist = routine.clinic.name if routine.clinic else timeline.author
    t = table(routine.language)
    if client is None:
        album, subtitle = "audioguide", " · ".join(filter(None, [clock(timeline.total_s), artist]))
        comment = routine.description
    else:
        album = t.label("for_client", name=client.name)
        subtitle = "\n".join(filter(None, [album, artist]))
        dated = f"{album}, {t.date(client.date)}" if client.date else album
        comment = "\n".join(filter(None, [dated, routine.description]))
    return Tags(
        title=timeline.title,
        artist=artist,
        album=album,
        comment=comment,
        cover=routine.cover.read_bytes() if routine.cover else cover_png(timeline.title, subtitle),
        language=routine.language,
    )


def _stages(report: Report | None) -> dict[str, Progress | None]:
    if report is None:
        return dict.fromkeys(STAGES)

    def stage(name: str) -> Progress:
        return lambda done, total: report(name, done, total)

    return {name: stage(name) for name in STAGES}


def _with_bed(routine: Routine, bed: str | None) -> Routine:
    """`bed` (a built-in bed, a file, or "none") in place of the routine's own."""
    if bed is None:
        return routine
    if bed.strip().lower() == "none":
        return replace(routine, bed=None)
    try:
        sound = resolve_sound(bed, Path.cwd(), None, builtins=BUILTIN_BEDS, what="bed")
    except AudioguideError as e:
        raise e.at(Where("--bed")) from None
    level = routine.bed.level_db if routine.bed else Bed.level_db
    return replace(routine, bed=Bed(sound, level))


def _with_lexicon(
    routine: Routine, path: Path | None, extra: Sequence[Pronunciation] = ()
) -> Routine:
    """The routine's entries after the user's lexicon (the file given, else $AUDIOGUIDE_LEXICON
    or the per-user one where it exists) and before `extra`: a later entry wins."""
    named = path is not None or bool(os.environ.get(LEXICON_ENV, "").strip())
    path = path or user_lexicon_path()
    # Nobody asked for a lexicon: the per-user file is read only where it is.
    users = read_lexicon(path) if named or path.exists() else ()
    if not users and not extra:
        return routine
    return replace(routine, pronounce=(*users, *routine.pronounce, *extra))


def _routine_voice(routine: Routine) -> str | None:
    """The routine's `voice:` block as a voice spec; a model file must lie in its folder, as
    sounds do."""
    engine, name = routine.voice.engine, routine.voice.name
    if not engine:
        return None
    if name and name.lower().endswith(".onnx"):
        folder = routine.path.parent if routine.path else Path()
        model = resolve_inside(name, folder)
        if model is None:
            raise RoutineError(
                f"the voice file {name} is outside the routine's folder; put it next to the "
                f"routine, or choose it yourself with --voice natural:{name}",
                Where(f"{routine.where}: voice"),
            )
        name = str(model)
    return engine + (f":{name}" if name else "")
