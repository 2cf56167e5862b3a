"""The commands that make or show one track: new, list, build, share, plan, check, translate,
voices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cues import Speech
from ..files import write_atomic
from ..language.library import BUNDLED_DIR, bundled_routines, find_routine, new_routine
from ..language.load import RoutineSource
from ..language.program import is_program, new_program_translation
from ..model import Client
from ..options import Options
from ..session import Session
from ..strings import LANGUAGES, clock, language_code, plural, table
from ..text import MAX_NAME_CHARS, problem
from ..timing.plan import format_plan, plan_dict
from ..voices.cache import default_cache_dir
from ..voices.choose import voice_for, voice_options
from ..voices.hibari import HIBARI_VOICE, hibari_problem
from ..voices.natural import (
    NATURAL_INSTALL,
    NATURAL_VOICE,
    PIPER_VOICES_ENV,
    default_engine,
    natural_problem,
)
from ..voices.sample import play, sample_path, voice_sample, wav_bytes
from .app import cli, warn
from .options import build_options
from .progress import progress, stage

if TYPE_CHECKING:
    from ..publish.outputs import Output  # imported by the commands that write (not plan)


@cli.command()
@click.argument("name")
@click.option(
    "--from",
    "source",
    default="psoas-release",
    show_default=True,
    metavar="ROUTINE",
    help="The routine to start from: a bundled name or a file.",
)
def new(name: str, source: str) -> None:
    """Start a routine of your own as a copy of a bundled one (or of any routine file).

    Example: audioguide new morning --from psoas-stretch
    """
    path = new_routine(name, source)
    click.echo(f"Wrote {path} (a copy of {source}): edit it, then run: audioguide check {path}")


@cli.command("list")
@click.option("--voice", default=None, metavar="ENGINE[:NAME]", help="Voice to time them with.")
def list_cmd(voice: str | None) -> None:
    """List the bundled routines with their titles and lengths.

    A length marked ~ is estimated from the words, as that speech is not spoken yet (nothing is
    spoken to list them); building or checking the routine makes it exact.

    Example: audioguide list
    """
    for name, path in bundled_routines().items():
        with Session.open(path, Options(voice=voice)) as session:
            plan = session.plan(estimate=True)
        length = ("~" if plan.estimated else "") + clock(plan.timeline.total_s)
        click.echo(f"{name:<22} {length:>7}  {plan.timeline.title}")


class _Misused(click.ClickException):
    """Bad usage, exit code 2 as the docs promise, in one `Error:` line without the usage."""

    exit_code = 2


def _mp3_name(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    # An MP3 named x.wav would play in nothing that trusts the name: say so rather than write it.
    if value is not None and value.suffix.lower() != ".mp3":
        raise _Misused(
            f"-o {value}: audioguide writes MP3 only; name it {value.with_suffix('.mp3')}"
        )
    return value


@cli.command()
@build_options()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=_mp3_name,
    help="Where to write the MP3, a name ending in .mp3 [default: output/ROUTINE.mp3].",
)
@click.option(
    "--split",
    is_flag=True,
    help="Also write one MP3 per chapter and an .m3u playlist, in NAME-chapters/.",
)
@click.option(
    "--page",
    is_flag=True,
    help="Also write the share page (index.html), handout.html and cover.png beside the MP3.",
)
def build(
    routine: str,
    variables: dict[str, str],
    options: Options,
    show_progress: bool,
    output: Path | None,
    split: bool,
    page: bool,
) -> None:
    """Render ROUTINE (a .yaml file or a bundled name) to an MP3 with chapters.

    Example: audioguide build psoas-relax --var client=Sam --length 12m
    """
    from ..publish.outputs import Output, outputs_for

    path = find_routine(routine)
    also = [*([Output.SPLIT] if split else []), *([Output.PAGE, Output.HANDOUT] if page else [])]
    outputs = outputs_for("build", also, warn)
    output = output or Path("output") / f"{path.stem}.mp3"
    _build(path, variables, options, output, outputs, show_progress=show_progress)


def _build(
    path: Path,
    variables: dict[str, str],
    options: Options,
    output: Path,
    outputs: tuple[Output, ...],
    client: Client | None = None,
    *,
    show_progress: bool,
) -> None:
    with Session.open(path, options, warn) as session, progress(show_progress) as report:
        result = session.build(output, variables, outputs=outputs, client=client, report=report)
    tl = result.timeline
    size_mb = result.path.stat().st_size / 1e6
    click.echo(
        f"Wrote {result.path} ({clock(tl.total_s)}, {plural(len(tl.chapters), 'chapter')}, "
        f"{size_mb:.1f} MB)"
    )
    if result.companions:
        # Files in a sub-folder (a split track) are counted, not listed one by one.
        names: dict[str, int] = {}
        for p in result.companions:
            top = p.relative_to(result.path.parent).parts[0]
            names[top] = names.get(top, 0) + 1
        click.echo(
            "  and "
            + ", ".join(n if count == 1 else f"{n}/ ({count} files)" for n, count in names.items())
        )


@cli.command()
@build_options()
@click.option(
    "-o",
    "--output",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write [default: output/ROUTINE/].",
)
@click.option("--split", is_flag=True, help="Also write one MP3 per chapter and a playlist.")
@click.option(
    "--client",
    "client_name",
    metavar="NAME",
    default=None,
    help="Who the track is for: named on the page, handout and cover, and the routine's "
    "{client} unless --var sets it.",
)
def share(
    routine: str,
    variables: dict[str, str],
    options: Options,
    show_progress: bool,
    folder: Path | None,
    split: bool,
    client_name: str | None,
) -> None:
    """Build ROUTINE into a folder to hand to a client: the MP3, a page to open, a handout.

    The folder holds the track, index.html (player, chapters, transcript; no network requests,
    works opened from disk or on any static host), handout.html and handout.pdf (printable),
    the cover and the transcript and chapter files, all in the routine's language.

    Example: audioguide share psoas-release --client Sam -o output/sam
    """
    from ..publish.outputs import Output, outputs_for

    path = find_routine(routine)
    folder = folder or Path("output") / path.stem
    outputs = outputs_for("share", [Output.SPLIT] if split else [], warn)
    if client_name and (wrong := problem(client_name, "name", MAX_NAME_CHARS)):
        raise click.BadParameter(wrong, param_hint="--client")
    client = Client(client_name) if client_name else None
    if client_name and "client" in RoutineSource.read(path).var_names:
        variables = {"client": client_name, **variables}
    output = folder / f"{path.stem}.mp3"
    _build(path, variables, options, output, outputs, client, show_progress=show_progress)


@cli.command()
@build_options(sound=False)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    routine: str, variables: dict[str, str], options: Options, show_progress: bool, as_json: bool
) -> None:
    """Print the timed cue sequence of ROUTINE without rendering audio.

    Example: audioguide plan psoas-release --json
    """
    with (
        Session.open(find_routine(routine), options, warn) as session,
        progress(show_progress) as report,
    ):
        timeline = session.plan(variables, progress=stage(report, "speaking")).timeline
    if as_json:
        click.echo(json.dumps(plan_dict(timeline), indent=2, ensure_ascii=False))
    else:
        click.echo(format_plan(timeline))


@cli.command()
@build_options(sound=False)
@click.option(
    "--clients",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Check ROUTINE (or a program) for every client in this clients file (CSV or YAML), as "
    "batch and program do before building: each row's values, and names the voice cannot say.",
)
def check(
    routine: str,
    variables: dict[str, str],
    options: Options,
    show_progress: bool,
    clients: Path | None,
) -> None:
    """Validate ROUTINE: exit 0 when it builds, or print what to fix.

    Example: audioguide check my.yaml
    """
    if clients is not None:
        # Imported here: a plain check stays lean (no publish/ or clients/ to import).
        from ..clients.program import check_clients
        from ..clients.roster import read_roster

        path = find_routine(routine)
        count = check_clients(path, read_roster(clients), options, variables, warn)
        click.echo(f"{routine}: OK for {plural(count, 'client')} in {clients}")
        return
    with (
        Session.open(find_routine(routine), options, warn) as session,
        progress(show_progress) as report,
    ):
        timeline = session.plan(variables, progress=stage(report, "speaking")).timeline
    speech = sum(1 for c in timeline.cues if isinstance(c, Speech))
    click.echo(
        f"{routine}: OK, {clock(timeline.total_s, tenths=True)}, "
        f"{plural(speech, 'spoken cue')}, {plural(len(timeline.chapters), 'chapter')}"
    )


@cli.command()
@click.argument("routine")
@click.option(
    "--language",
    required=True,
    metavar="CODE",
    help="The language to translate into: es, de, fr or en (optionally with a region).",
)
def translate(routine: str, language: str) -> None:
    """Start a translation of ROUTINE (or of a program): ROUTINE.CODE.yaml beside it, listing
    every line to translate. Fill it in, then `check --language CODE` (a program: `program
    --dry-run`) names any line still missing.

    Example: audioguide translate morning.yaml --language es
    """
    path = find_routine(routine)
    if is_program(path):
        target = new_program_translation(path, language)
        click.echo(f"Wrote {target}: translate each text; clients who read {language} get it")
        return
    if path.parent == BUNDLED_DIR:
        raise click.ClickException(
            f"{routine} is a bundled routine: copy it with `audioguide new NAME --from {routine}`"
            ", then translate the copy"
        )
    target = RoutineSource.read(path).new_translation(language)
    click.echo(
        f"Wrote {target}: translate each line, then run: audioguide check {path} "
        f"--language {language}"
    )


@cli.command()
@click.option(
    "--lang",
    "--language",
    "lang",
    default=None,
    metavar="CODE",
    help="Only the voices for this language: en, es, de or fr (with --sample: its sample).",
)
@click.option(
    "--sample",
    "sample",
    default=None,
    metavar="VOICE",
    help="Play a short sample of VOICE (anything --voice takes) in its language, or write it "
    "with -o.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --sample: write the sample to this .wav file instead of playing it.",
)
def voices(lang: str | None, sample: str | None, output: Path | None) -> None:
    """List the voice engines, which one is the default and why, and the male and female voices
    for each language; or hear one voice's sample.

    Example: audioguide voices --lang es

    Example: audioguide voices --sample female -o female.wav
    """
    code = language_code(lang) if lang else None
    if lang and code is None:
        raise click.BadParameter(
            f"{lang!r}: use one of {', '.join(LANGUAGES)}", param_hint="--lang"
        )
    if sample is not None or output is not None:
        _sample(sample, code, output)
        return
    problem = natural_problem()
    default = default_engine()
    natural = (
        f"installed ({NATURAL_VOICE})"
        if problem is None
        else f"not installed: {NATURAL_INSTALL} ({problem})"
    )
    engines = {
        "natural": f"a neural voice (Piper), offline: {natural}",
        "system": "the system voice (espeak-ng on Linux; pyttsx3 with SAPI5 on Windows, "
        "NSSpeech on macOS)",
        "fake": "a deterministic test tone, for tests",
    }
    click.echo("Engines:")
    for name, what in engines.items():
        click.echo(f"  {name:<9}{what}{'  [default]' if name == default else ''}")
    why = (
        "it is installed" if problem is None else f"the natural voice is not installed ({problem})"
    )
    click.echo(f"Default: {default}, because {why}")
    click.echo(f"Speech cache: {default_cache_dir()}")
    if problem is None:
        heart = "" if hibari_problem() else f"{HIBARI_VOICE} (--voice natural:{HIBARI_VOICE}), "
        click.echo(
            f"Natural voices: {NATURAL_VOICE} (--voice natural), {heart}any Piper voice by path "
            f"(--voice natural:/path/voice.onnx), or a folder of them in ${PIPER_VOICES_ENV}"
        )
    click.echo(
        "Voices by language, use as --voice SPEC (--voice male or female picks by language):"
    )
    for language in [code] if code else LANGUAGES:
        default = voice_for(language, None)
        click.echo(f"{table(language).english} ({language}):")
        for option in voice_options(language):
            mark = "  [default]" if option.spec == default else ""
            click.echo(f"  {option.spec:<24} {option.gender or '-':<7} {option.description}{mark}")


def _sample(spec: str | None, language: str | None, output: Path | None) -> None:
    if not spec:
        raise click.UsageError("-o writes a sample: give the voice with --sample VOICE")
    if output is not None and output.suffix.lower() != ".wav":
        raise click.BadParameter(f"{output}: the sample is a WAV file, name it .wav")
    said = voice_sample(spec, language)
    what = f"{said.spec} in {table(said.language).english}, {said.duration_s:.1f} s"
    if output is None and play(said):
        click.echo(f"Played {what}: {said.text}")
        return
    target = output or sample_path(said)
    write_atomic(target, wav_bytes(said.samples))
    click.echo(f"Wrote {target} ({what}): {said.text}")
