"""The `audioguide` command: thin click commands over the library.

Library errors are all AudioguideError; they become `Error: ...` and exit code 1 in one place,
`_Group.invoke`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .build import build as build_track
from .build import lay_out, load, voice_for
from .errors import AudioguideError
from .export import DEFAULT_BITRATE_KBPS
from .library import bundled_routines, find_routine, new_routine
from .plan import format_clock, format_plan, plan_dict
from .render import TARGET_LUFS
from .routine import parse_duration
from .timeline import CueKind, Progress, Timeline
from .voices import (
    DEFAULT_RATE,
    NATURAL_INSTALL,
    NATURAL_VOICE,
    default_cache_dir,
    default_engine,
    list_system_voices,
    natural_problem,
)

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AudioguideError as e:
            raise click.ClickException(str(e)) from None


def _parse_vars(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"'{item}' should look like name=value, e.g. client=Sam")
        out[name.strip()] = value
    return out


def _parse_length(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 6 * 3600:
        raise click.BadParameter(f"'{value}' should be a length like 15m, 900s or 1:05:00")
    return seconds


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def routine_options(f: F) -> F:
    """The options every command that reads a routine takes."""
    f = click.option(
        "--bed",
        default=None,
        metavar="NAME|FILE",
        help="Lay a background bed under the session: rain, ocean, brown, drone or an audio "
        "file; 'none' for none [default: the routine's].",
    )(f)
    f = click.option(
        "--length",
        "length_s",
        callback=_parse_length,
        metavar="DURATION",
        help="Fit the session to this length (e.g. 15m) by moving the ranges the routine marks "
        "as stretchable, such as 'hold: 20-40s'.",
    )(f)
    f = click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Where spoken clips are cached [default: per-user cache dir].",
    )(f)
    f = click.option(
        "--rate",
        type=click.IntRange(60, 400),
        default=None,
        help=f"Speaking rate in words per minute [default: {DEFAULT_RATE}].",
    )(f)
    f = click.option(
        "--voice",
        "voice",
        metavar="ENGINE[:NAME]",
        default=None,
        help="Voice to speak with: natural, natural:/path/voice.onnx, system or system:en-gb "
        "[default: natural where installed, else system].",
    )(f)
    f = click.option(
        "--var",
        "variables",
        multiple=True,
        callback=_parse_vars,
        metavar="NAME=VALUE",
        help="Set a routine var, e.g. --var client=Sam.",
    )(f)
    return click.argument("routine")(f)


def sounds_dir_option(f: F) -> F:
    """Folders besides the routine's own that its sound files may come from."""
    return click.option(
        "--sounds-dir",
        "sound_dirs",
        multiple=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        metavar="DIR",
        help="Also read sound files from DIR (repeatable); by default only the routine's folder.",
    )(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioguide")
def cli() -> None:
    """Turn a routine script into a voice-guided, chaptered MP3 session."""


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

    Example: audioguide list
    """
    for name, path in bundled_routines().items():
        timeline = _compile(path, {}, voice, None, None, quiet=True)
        click.echo(f"{name:<22} {format_clock(timeline.total_s):>6}  {timeline.title}")


@cli.command()
@routine_options
@sounds_dir_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the MP3 [default: output/ROUTINE.mp3].",
)
@click.option(
    "--bitrate",
    type=click.Choice(["64", "96", "128", "160", "192", "256", "320"]),
    default=str(DEFAULT_BITRATE_KBPS),
    show_default=True,
    help="MP3 bitrate in kbps.",
)
@click.option(
    "--loudness",
    type=click.FloatRange(-30, -10),
    default=TARGET_LUFS,
    show_default=True,
    help="Target integrated loudness in LUFS.",
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
    voice: str | None,
    rate: int | None,
    cache_dir: Path | None,
    sound_dirs: tuple[Path, ...],
    output: Path | None,
    bitrate: str,
    loudness: float,
    split: bool,
    page: bool,
    length_s: float | None,
    bed: str | None,
) -> None:
    """Render ROUTINE (a .yaml file or a bundled name) to an MP3 with chapters.

    Example: audioguide build psoas-relax --var client=Sam --length 12m
    """
    path = find_routine(routine)
    output = output or Path("output") / f"{path.stem}.mp3"
    with (
        _progress("Speaking") as on_speech,
        _progress("Mixing") as on_mix,
        _progress("Encoding") as on_encode,
    ):
        result = build_track(
            path,
            output,
            variables=variables,
            voice=voice,
            rate=rate,
            cache_dir=cache_dir,
            sound_dirs=sound_dirs,
            bitrate_kbps=int(bitrate),
            target_lufs=loudness,
            on_speech=on_speech,
            on_mix=on_mix,
            on_encode=on_encode,
            split=split,
            page=page,
            length_s=length_s,
            bed=bed,
            on_warning=_warn,
        )
    tl = result.timeline
    size_mb = result.path.stat().st_size / 1e6
    click.echo(
        f"Wrote {result.path} ({format_clock(tl.total_s)}, {len(tl.chapters)} chapters, "
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
@routine_options
@sounds_dir_option
@click.option(
    "-o",
    "--output",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write [default: output/ROUTINE/].",
)
@click.option("--split", is_flag=True, help="Also write one MP3 per chapter and a playlist.")
@click.pass_context
def share(ctx: click.Context, /, routine: str, folder: Path | None, **options: Any) -> None:
    """Build ROUTINE into a folder to hand to a client: the MP3, a page to open, a handout.

    The folder holds the track, index.html (player, chapters, transcript; no network requests,
    works opened from disk or on any static host), handout.html (printable), the cover and the
    transcript and chapter files.

    Example: audioguide share psoas-release --var client=Sam -o output/sam
    """
    stem = find_routine(routine).stem
    folder = folder or Path("output") / stem
    ctx.invoke(build, routine=routine, output=folder / f"{stem}.mp3", page=True, **options)


@cli.command()
@routine_options
@sounds_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    routine: str,
    variables: dict[str, str],
    voice: str | None,
    rate: int | None,
    cache_dir: Path | None,
    sound_dirs: tuple[Path, ...],
    as_json: bool,
    length_s: float | None,
    bed: str | None,
) -> None:
    """Print the timed cue sequence of ROUTINE without rendering audio.

    Example: audioguide plan psoas-release --json
    """
    timeline = _compile(
        find_routine(routine), variables, voice, rate, cache_dir, sound_dirs, length_s, bed
    )
    if as_json:
        click.echo(json.dumps(plan_dict(timeline), indent=2, ensure_ascii=False))
    else:
        click.echo(format_plan(timeline))


@cli.command()
@routine_options
@sounds_dir_option
def check(
    routine: str,
    variables: dict[str, str],
    voice: str | None,
    rate: int | None,
    cache_dir: Path | None,
    sound_dirs: tuple[Path, ...],
    length_s: float | None,
    bed: str | None,
) -> None:
    """Validate ROUTINE: exit 0 when it builds, or print what to fix.

    Example: audioguide check my.yaml
    """
    timeline = _compile(
        find_routine(routine), variables, voice, rate, cache_dir, sound_dirs, length_s, bed
    )
    speech = sum(1 for c in timeline.cues if c.kind is CueKind.SPEECH)
    click.echo(
        f"{routine}: OK, {format_clock(timeline.total_s)}, {speech} spoken cues, "
        f"{len(timeline.chapters)} chapters"
    )


@cli.command()
@click.option(
    "--lang",
    default=None,
    metavar="PREFIX",
    help="Only voices whose language starts with PREFIX, e.g. en.",
)
def voices(lang: str | None) -> None:
    """List the voice engines, which one is the default and why, and the voices available here.

    Example: audioguide voices --lang en
    """
    problem = natural_problem()
    default = default_engine()
    natural = (
        f"installed ({NATURAL_VOICE})"
        if problem is None
        else f"not installed: {NATURAL_INSTALL} ({problem})"
    )
    engines = {
        "natural": f"a neural voice (Piper), offline: {natural}",
        "system": "the system voice (pyttsx3: espeak-ng on Linux, SAPI5 on Windows, "
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
        click.echo(
            f"Natural voices: {NATURAL_VOICE} (--voice natural), or any Piper voice by path: "
            f"--voice natural:/path/voice.onnx"
        )
    found = [
        v
        for v in list_system_voices()
        if lang is None or any(code.startswith(lang) for code in v.languages)
    ]
    click.echo(f"System voices ({len(found)}), use as --voice system:ID:")
    for v in found:
        click.echo(f"  {v.id:<24} {v.name:<28} {', '.join(v.languages)}")


def _compile(
    path: Path,
    variables: dict[str, str],
    voice: str | None,
    rate: int | None,
    cache_dir: Path | None,
    sound_dirs: tuple[Path, ...] = (),
    length_s: float | None = None,
    bed: str | None = None,
    quiet: bool = False,
) -> Timeline:
    routine = load(path, variables, sound_dirs=sound_dirs, bed=bed, on_warning=_warn)
    tts = voice_for(routine, voice, rate, cache_dir)
    try:
        if quiet:
            return lay_out(routine, tts, length_s)[1]
        with _progress("Speaking") as on_speech:
            return lay_out(routine, tts, length_s, progress=on_speech)[1]
    finally:
        tts.close()


@contextmanager
def _progress(label: str) -> Iterator[Progress]:
    """A progress bar on stderr, drawn only on a terminal and only once there is work to show."""
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def main() -> None:
    cli(prog_name="audioguide")
