"""The `audioguide` command: thin click commands over the library (session.Session).

Library errors are all AudioguideError; they become `Error: ...` and exit code 1 in one place,
`_Group.invoke`.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from . import __version__
from .clients.batch import build_batch
from .clients.manifest import Finished
from .clients.program import build_program
from .clients.roster import read_roster
from .clients.run import RunReport, default_workers
from .cues import Speech
from .errors import AudioguideError, Problems
from .language.library import BUNDLED_DIR, bundled_routines, find_routine, new_routine
from .language.load import RoutineSource
from .language.program import read_program
from .model import Client, parse_duration
from .options import BITRATES_KBPS, DEFAULT_BITRATE_KBPS, DEFAULT_RATE, TARGET_LUFS, Options
from .publish.pdf import INSTALL_CHROMIUM, find_chromium
from .session import Report, Session
from .strings import LANGUAGES, clock, language_code, plural, table
from .timing.plan import format_plan, plan_dict
from .voices.cache import default_cache_dir
from .voices.choose import voice_for, voice_options
from .voices.natural import (
    NATURAL_INSTALL,
    NATURAL_VOICE,
    PIPER_VOICES_ENV,
    default_engine,
    natural_problem,
)

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Problems as e:
            for error in e.errors:
                click.echo(f"Error: {error}", err=True)
            raise SystemExit(1) from None
        except AudioguideError as e:
            raise click.ClickException(str(e)) from None


def _parse_vars(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"'{item}' should look like name=value, e.g. client=Sam")
        if name in out:
            raise click.BadParameter(
                f"'{name}' is set twice ({name}={out[name]} and {item}): keep one"
            )
        out[name] = value
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


_OPTION_NAMES = ("voice", "language", "rate", "cache_dir", "bed", "length_s", "sound_dirs")


def build_options(f: F, argument: str = "routine") -> F:
    """The options every command that builds or plans takes, gathered into one `options`, after
    the `argument` it builds (a routine, or a program)."""
    options = [
        click.option(
            "--var",
            "variables",
            multiple=True,
            callback=_parse_vars,
            metavar="NAME=VALUE",
            help="Set a routine var, e.g. --var client=Sam (each var once).",
        ),
        click.option(
            "--voice",
            metavar="ENGINE[:NAME]",
            default=None,
            help="Voice to speak with: natural, natural:/path/voice.onnx, system, system:en-gb, "
            "male or female [default: the language's: natural where installed, else system].",
        ),
        click.option(
            "--language",
            metavar="CODE",
            default=None,
            help="Build in this language: en, es, de or fr, optionally with a region (es-MX); "
            "a routine in another language needs its translation ROUTINE.CODE.yaml "
            "[default: the routine's].",
        ),
        click.option(
            "--rate",
            type=click.IntRange(60, 400),
            default=None,
            help=f"Speaking rate in words per minute [default: {DEFAULT_RATE}].",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(path_type=Path),
            default=None,
            help="Where spoken clips are cached [default: per-user cache dir].",
        ),
        click.option(
            "--length",
            "length_s",
            callback=_parse_length,
            metavar="DURATION",
            help="Fit the session to this length (e.g. 15m) by moving the ranges the routine "
            "marks as stretchable, such as 'hold: 20-40s'.",
        ),
        click.option(
            "--bed",
            default=None,
            metavar="NAME|FILE",
            help="Lay a background bed under the session: rain, ocean, brown, drone or an audio "
            "file; 'none' for none [default: the routine's].",
        ),
        click.option(
            "--sounds-dir",
            "sound_dirs",
            multiple=True,
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            metavar="DIR",
            help="Also read sound files from DIR (repeatable); by default only the routine's "
            "folder.",
        ),
    ]

    @functools.wraps(f)
    def command(**kw: Any) -> Any:
        given = {name: kw.pop(name) for name in _OPTION_NAMES}
        extra: dict[str, Any] = {n: kw.pop(n) for n in ("bitrate", "loudness") if n in kw}
        kw["options"] = _options(given, extra)
        return f(**kw)

    for option in reversed(options):
        command = option(command)
    return click.argument(argument)(command)  # type: ignore[return-value]


def _options(given: dict[str, Any], extra: dict[str, Any]) -> Options:
    return Options(
        voice=given["voice"],
        language=given["language"],
        rate=given["rate"],
        cache_dir=given["cache_dir"],
        bed=given["bed"],
        length_s=given["length_s"],
        sound_dirs=tuple(given["sound_dirs"]),
        bitrate_kbps=int(extra.get("bitrate", DEFAULT_BITRATE_KBPS)),
        target_lufs=float(extra.get("loudness", TARGET_LUFS)),
    )


def encoding_options(f: F) -> F:
    f = click.option(
        "--loudness",
        type=click.FloatRange(-30, -10),
        default=TARGET_LUFS,
        show_default=True,
        help="Target loudness of the voice in LUFS.",
    )(f)
    return click.option(
        "--bitrate",
        type=click.Choice([str(b) for b in BITRATES_KBPS if b >= 64]),
        default=str(DEFAULT_BITRATE_KBPS),
        show_default=True,
        help="MP3 bitrate in kbps.",
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

    A length marked ~ is estimated from the words, as that speech is not spoken yet (nothing is
    spoken to list them); building or checking the routine makes it exact.

    Example: audioguide list
    """
    for name, path in bundled_routines().items():
        with Session.open(path, Options(voice=voice)) as session:
            plan = session.plan(estimate=True)
        length = ("~" if plan.estimated else "") + clock(plan.timeline.total_s)
        click.echo(f"{name:<22} {length:>7}  {plan.timeline.title}")


@cli.command()
@build_options
@encoding_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the MP3 [default: output/ROUTINE.mp3].",
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
    output: Path | None,
    split: bool,
    page: bool,
) -> None:
    """Render ROUTINE (a .yaml file or a bundled name) to an MP3 with chapters.

    Example: audioguide build psoas-relax --var client=Sam --length 12m
    """
    path = find_routine(routine)
    outputs = ["companions", *(["split"] if split else []), *(["page", "handout"] if page else [])]
    _build(path, variables, options, output or Path("output") / f"{path.stem}.mp3", outputs)


def _build(
    path: Path,
    variables: dict[str, str],
    options: Options,
    output: Path,
    outputs: list[str],
    client: Client | None = None,
) -> None:
    with Session.open(path, options, _warn) as session, _progress() as report:
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
@build_options
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
    path = find_routine(routine)
    folder = folder or Path("output") / path.stem
    pdf = ["pdf"] if find_chromium() else []
    if not pdf:
        _warn(f"no handout.pdf: {INSTALL_CHROMIUM}")
    outputs = ["companions", *(["split"] if split else []), "page", "handout", *pdf]
    client = Client(client_name) if client_name else None
    if client_name and "client" in RoutineSource.read(path).var_names:
        variables = {"client": client_name, **variables}
    _build(path, variables, options, folder / f"{path.stem}.mp3", outputs, client)


@cli.command()
@build_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(routine: str, variables: dict[str, str], options: Options, as_json: bool) -> None:
    """Print the timed cue sequence of ROUTINE without rendering audio.

    Example: audioguide plan psoas-release --json
    """
    with Session.open(find_routine(routine), options, _warn) as session, _progress() as report:
        timeline = session.plan(variables, progress=_stage(report, "speaking")).timeline
    if as_json:
        click.echo(json.dumps(plan_dict(timeline), indent=2, ensure_ascii=False))
    else:
        click.echo(format_plan(timeline))


@cli.command()
@build_options
def check(routine: str, variables: dict[str, str], options: Options) -> None:
    """Validate ROUTINE: exit 0 when it builds, or print what to fix.

    Example: audioguide check my.yaml
    """
    with Session.open(find_routine(routine), options, _warn) as session, _progress() as report:
        timeline = session.plan(variables, progress=_stage(report, "speaking")).timeline
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
    """Start a translation of ROUTINE: ROUTINE.CODE.yaml beside it, listing every line to
    translate. Fill it in, then `check --language CODE` names any line still missing.

    Example: audioguide translate morning.yaml --language es
    """
    path = find_routine(routine)
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
    help="Only the voices for this language: en, es, de or fr.",
)
def voices(lang: str | None) -> None:
    """List the voice engines, which one is the default and why, and the male and female voices
    for each language.

    Example: audioguide voices --lang es
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
            f"Natural voices: {NATURAL_VOICE} (--voice natural), any Piper voice by path "
            f"(--voice natural:/path/voice.onnx), or a folder of them in ${PIPER_VOICES_ENV}"
        )
    code = language_code(lang) if lang else None
    if lang and code is None:
        raise click.BadParameter(
            f"{lang!r}: use one of {', '.join(LANGUAGES)}", param_hint="--lang"
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


# --- many clients: batch and program -----------------------------------------------------


def _many_options(output: str) -> Callable[[F], F]:
    """The clients file, and where and how to build: this machine's processes or a cluster."""
    return functools.partial(_add_many_options, output=output)


def _add_many_options(f: F, output: str) -> F:
    options = [
        click.option(
            "-o",
            "--output",
            "folder",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help=output,
        ),
        click.option(
            "--clients",
            type=click.Path(dir_okay=False, path_type=Path),
            required=True,
            metavar="FILE",
            help="The clients: a CSV with a header, or a YAML list; a 'name' column, and a column "
            "per routine var.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 256),
            default=None,
            help="Processes to build with on this machine [default: one per core].",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="Render on the Dask cluster whose scheduler is at ADDRESS, e.g. "
            "tcp://10.0.0.5:8786 (needs the 'cluster' extra) [default: this machine].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _workers(workers: int | None, scheduler: str | None) -> int:
    if scheduler is not None and workers is not None:
        raise click.UsageError("--workers is for this machine: with --scheduler, the cluster's")
    return workers or default_workers()


def _built(finished: Finished) -> None:
    click.echo(f"Built {finished.job.path} ({clock(finished.duration_s)})")


def _summary(clients: int, folder: Path, report: RunReport) -> None:
    summary = f"{report.built} built, {report.current} up to date"
    if report.built:
        summary += (
            f"; speech: {plural(report.spoken, 'clip')} spoken, "
            f"{report.cache_share:.0%} from the cache"
        )
    click.echo(f"{plural(clients, 'client')} in {folder}: {summary}")


@cli.command()
@build_options
@encoding_options
@_many_options("Folder to write, a folder per client in it [default: output/ROUTINE/].")
def batch(
    routine: str,
    variables: dict[str, str],
    options: Options,
    clients: Path,
    workers: int | None,
    scheduler: str | None,
    folder: Path | None,
) -> None:
    """Build ROUTINE for every client in a clients file, each in a folder of their own.

    A client's folder holds their track, its transcript and chapters, the page, the handout
    and the cover. A rerun builds only what changed.

    Example: audioguide batch knee.yaml --clients clients.csv -o out/
    """
    path = find_routine(routine)
    result = build_batch(
        path,
        read_roster(clients),
        folder or Path("output") / path.stem,
        options,
        variables,
        workers=_workers(workers, scheduler),
        scheduler=scheduler,
        on_track=_built,
        on_warning=_warn,
    )
    _summary(result.clients, result.folder, result.report)
    if result.report.failed:
        raise Problems(result.report.failed)


@cli.command()
@functools.partial(build_options, argument="program")
@encoding_options
@_many_options("Folder to write the site in [default: output/PROGRAM/].")
@click.option(
    "--base-url",
    required=True,
    metavar="URL",
    help="Where the folder will be served, e.g. https://clinic.example/p: every link in the "
    "feeds starts with it.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Release the sessions due by this day, to preview a later week [default: today].",
)
def program(
    program: str,
    variables: dict[str, str],
    options: Options,
    clients: Path,
    workers: int | None,
    scheduler: str | None,
    folder: Path | None,
    base_url: str,
    today: Any,
) -> None:
    """Build a PROGRAM (sessions released over weeks) for every client in a clients file, as a
    static site of private podcast feeds, one per client.

    Upload the folder to any static host; send each client their page (its address is printed),
    where one tap subscribes their podcast app. Run it again on a later day to release the next
    sessions: only the feeds change.

    Example: audioguide program knee-program.yaml --clients clients.csv -o site/ --base-url
    https://clinic.example/p
    """
    path = Path(program)
    result = build_program(
        read_program(path),
        read_roster(clients),
        folder or Path("output") / path.stem,
        base_url,
        options,
        variables,
        today=today.date() if today else None,
        workers=_workers(workers, scheduler),
        scheduler=scheduler,
        on_track=_built,
        on_warning=_warn,
    )
    feeds = result.feeds
    _summary(len(feeds), result.folder, result.report)
    click.echo(f"Feeds on {result.today.isoformat()}; send each client their page:")
    width = max(len(f.name) for f in feeds)
    for feed in feeds:
        click.echo(f"  {feed.name:<{width}}  {plural(feed.released, 'session')}  {feed.page_url}")
    for name in result.revoked:
        click.echo(f"  {name}: no longer on the list, their feed is now empty")
    if result.report.failed:
        raise Problems(result.report.failed)


def _stage(report: Report, stage: str) -> Callable[[int, int], None]:
    return lambda done, total: report(stage, done, total)


QUIET_S: Final = 1.0
"""Off a terminal, a stage says nothing until it has run this long: a quick check or a failure
prints only its result, a long build in a log is never silent."""
LOG_EVERY_S: Final = 10.0


@contextmanager
def _progress() -> Iterator[Report]:
    """Progress on stderr: a bar per stage on a terminal; elsewhere (a log, CI) a line
    `Mixing: 40%` once a stage has run QUIET_S, then every LOG_EVERY_S."""
    bars: dict[str, Any] = {}
    began: dict[str, float] = {}
    said: dict[str, float] = {}
    tty = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if not tty:
            now = time.monotonic()
            began.setdefault(stage, now)
            due = said[stage] + LOG_EVERY_S if stage in said else began[stage] + QUIET_S
            if now >= due or (stage in said and done == total):
                said[stage] = now
                click.echo(f"{stage.capitalize()}: {100 * done // max(total, 1)}%", err=True)
            return
        if stage not in bars:
            for other in bars.values():
                other.__exit__(None, None, None)
            bars.clear()
            bars[stage] = click.progressbar(length=total, label=stage.capitalize(), file=sys.stderr)
            bars[stage].__enter__()
        bar = bars[stage]
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)


def main() -> None:
    cli(prog_name="audioguide")
