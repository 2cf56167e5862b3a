"""How to build: every build option in one table. The command line's options, the clients file's
option columns, their ranges and the part of a job's hash that options make are all read from
OPTIONS, so a new option is one field of `Options` and one row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from .model import MAX_DURATION_S, parse_duration

DEFAULT_BITRATE_KBPS: Final = 128
BITRATES_KBPS: Final = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""What MPEG-1 Layer III allows at 44.1 kHz; ffmpeg silently rounds anything else."""
CHOSEN_BITRATES_KBPS: Final = tuple(b for b in BITRATES_KBPS if b >= 64)
"""What a user may ask for: under 64 kbps a voice sounds like a telephone."""

DEFAULT_RATE: Final = 150
"""Words per minute: a calm teacher's pace."""
MIN_RATE: Final = 60
MAX_RATE: Final = 400

TARGET_LUFS: Final = -16.0
"""The voice's loudness: Apple Podcasts' spoken-word target, which a listener sets the volume by."""
LOUDNESS_RANGE_LUFS: Final = (-30.0, -10.0)


@dataclass(frozen=True)
class Options:
    """How to build: the command line's options, which a clients file may override per client.
    Each field has one row in OPTIONS."""

    voice: str | None = None
    """`natural`, `system:en-us`, `female`, ...; None for the routine's `voice:` or the default
    for the language (voices.choose.voice_for)."""
    language: str | None = None
    """The language to build in (`es`, `es-MX`); None for the routine's `language:`. A routine
    written in another language is read with its translation, ROUTINE.LANG.yaml beside it."""
    rate: int | None = None
    cache_dir: Path | None = None
    bed: str | None = None
    """A built-in bed, a file (any path: the user typed it), or "none"; None for the routine's."""
    length_s: float | None = None
    target_lufs: float = TARGET_LUFS
    bitrate_kbps: int = DEFAULT_BITRATE_KBPS
    sound_dirs: tuple[Path, ...] = ()
    lexicon: Path | None = None
    """The user's lexicon file (how words are said); None for $AUDIOGUIDE_LEXICON, else the
    per-user one where it exists (voices.lexicon.user_lexicon_path)."""


class OptionError(ValueError):
    """A value an option cannot take; its message says what it takes ("a length like 15m")."""


@dataclass(frozen=True)
class Option:
    """One build option: how it is typed on the command line and in a clients file, and what it
    changes."""

    field: str
    """Its field of `Options`."""
    flag: str
    help: str
    parse: Callable[[str], Any]
    """Text to the field's value; OptionError says what it takes."""
    metavar: str = "TEXT"
    column: str | None = None
    """The clients file's column that sets it for one client; None when a row cannot."""
    audio: bool = True
    """Whether a track depends on it (and so a job's hash), not only where things are kept."""
    plans: bool = True
    """Whether it changes the plan too (`plan` and `check` take it), not only the sound."""
    multiple: bool = False
    default: str | None = None
    """The default as the help shows it; None when it depends on the routine."""


def _text(value: str) -> str:
    if not value.strip():
        raise OptionError("empty: leave the option out for the default")
    return value.strip()


def _in_range(
    lo: float, hi: float, what: str, cast: Callable[[str], float]
) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            number = cast(value.strip())
        except ValueError:
            number = None
        if number is None or not lo <= number <= hi:
            raise OptionError(f"{what} from {lo:g} to {hi:g}")
        return number

    return parse


def _length(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_DURATION_S:
        raise OptionError("a length like 15m, 900s or 1:05:00")
    return seconds


def _bitrate(value: str) -> int:
    try:
        kbps = int(value.strip())
    except ValueError:
        kbps = 0
    if kbps not in CHOSEN_BITRATES_KBPS:
        raise OptionError("an MP3 bitrate: " + ", ".join(map(str, CHOSEN_BITRATES_KBPS)))
    return kbps


def _folder(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise OptionError("a folder that exists")
    return path


OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        "voice",
        "--voice",
        "Voice to speak with: natural, natural:heart, natural:/path/voice.onnx, system, "
        "system:en-gb, male or female [default: the language's: natural where installed, else "
        "system].",
        _text,
        metavar="ENGINE[:NAME]",
        column="voice",
    ),
    Option(
        "language",
        "--language",
        "Build in this language: en, es, de or fr, optionally with a region (es-MX); a routine in "
        "another language needs its translation ROUTINE.CODE.yaml [default: the routine's].",
        _text,
        metavar="CODE",
        column="language",
    ),
    Option(
        "rate",
        "--rate",
        "Speaking rate in words per minute.",
        _in_range(MIN_RATE, MAX_RATE, "a speaking rate in words per minute", int),
        metavar="WPM",
        column="rate",
        default=str(DEFAULT_RATE),
    ),
    Option(
        "cache_dir",
        "--cache-dir",
        "Where spoken clips are cached [default: per-user cache dir].",
        lambda value: Path(_text(value)).expanduser(),
        metavar="DIR",
        audio=False,
    ),
    Option(
        "length_s",
        "--length",
        "Fit the session to this length (e.g. 15m) by moving the ranges the routine marks as "
        "stretchable, such as 'hold: 20-40s'.",
        _length,
        metavar="DURATION",
        column="length",
    ),
    Option(
        "bed",
        "--bed",
        "Lay a background bed under the session: rain, ocean, brown, drone or an audio file; "
        "'none' for none [default: the routine's].",
        _text,
        metavar="NAME|FILE",
        column="bed",
    ),
    Option(
        "sound_dirs",
        "--sounds-dir",
        "Also read sound files from DIR (repeatable); by default only the routine's folder.",
        _folder,
        metavar="DIR",
        audio=False,  # which folders may be read; the files read are hashed by their content
        multiple=True,
    ),
    Option(
        "lexicon",
        "--lexicon",
        "Say words as this lexicon file says (YAML: word: respelling), under the routine's own "
        "pronounce: entries [default: $AUDIOGUIDE_LEXICON, else lexicon.yaml in the per-user "
        "config dir, where it exists].",
        lambda value: Path(_text(value)).expanduser(),
        metavar="FILE",
        audio=False,  # its entries become the routine's (Routine.pronounce), which a job hashes
    ),
    Option(
        "target_lufs",
        "--loudness",
        "Target loudness of the voice in LUFS.",
        _in_range(*LOUDNESS_RANGE_LUFS, "a loudness in LUFS", float),
        metavar="LUFS",
        column="loudness",
        plans=False,
        default=f"{TARGET_LUFS:g}",
    ),
    Option(
        "bitrate_kbps",
        "--bitrate",
        "MP3 bitrate in kbps.",
        _bitrate,
        metavar="KBPS",
        plans=False,
        default=str(DEFAULT_BITRATE_KBPS),
    ),
)
"""Every build option, in the order the help lists them."""

BY_COLUMN: Final[Mapping[str, Option]] = {o.column: o for o in OPTIONS if o.column}
"""The options a clients file's row may set, by column."""


def options_from(values: Mapping[str, Any], base: Options = Options()) -> Options:
    """`base` with the values given (by field; None or an empty list for not given)."""
    given = {k: v for k, v in values.items() if v is not None and v != () and v != []}
    if "sound_dirs" in given:
        given["sound_dirs"] = tuple(given["sound_dirs"])
    return replace(base, **given)


def audio_options(options: Options) -> dict[str, Any]:
    """What a track depends on among the options, for its hash."""
    return {o.field: _plain(getattr(options, o.field)) for o in OPTIONS if o.audio}


def _plain(value: Any) -> Any:
    if isinstance(value, Iterable) and not isinstance(value, str):
        return [str(v) for v in value]
    return value if value is None or isinstance(value, int | float | str) else str(value)
