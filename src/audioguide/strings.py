"""Everything the tool says or writes in words, per language: the string tables (data files in
languages/, one per language), numbers, dates, durations, plurals and clock text.

A routine's `words:` block overrides its language's spoken phrases; every label on the page,
the handout and the cover comes from the table too, so a Spanish track has no English on it.
Each table speaks and writes in one register (vous or tu, usted or tú, Sie or du): its
language's default, or the one a routine or program chooses.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import yaml

LANGUAGES: Final = ("en", "es", "de", "fr")
"""The languages whose string tables ship with audioguide (languages/<code>.yaml)."""
Register = Literal["formal", "informal"]
REGISTERS: Final[tuple[Register, ...]] = ("formal", "informal")
"""How the tool addresses the listener: formal (vous, usted, Sie) or informal (tu, tú, du).
English has one `you`, so its two registers read the same."""
_CODE: Final = re.compile(r"([A-Za-z]{2})(?:[-_]([A-Za-z]{2}|\d{3}))?")
"""A language, and optionally its region: `es`, `es-MX`, `es-419`, `en_GB`."""


@dataclass(frozen=True)
class Plural:
    """A label that takes a count: `one` for a single thing, `other` for the rest."""

    one: str
    other: str


@dataclass(frozen=True)
class Table:
    """One language's words: what the voice says on its own and every written label."""

    language: str
    register: Register
    """The form of address its words use; `default_register` is the language's own choice."""
    default_register: Register
    address: str
    """The pronoun its words use: "vous", "tú", "Sie", "you"."""
    name: str
    """The language in itself: "Español"."""
    english: str
    """The language in English, for messages: "Spanish"."""
    decimal: str
    date_format: str
    day_one: str
    """How the first of the month is written: "1", or French "1er"."""
    months: tuple[str, ...]
    speech: Mapping[str, str]
    sides: Mapping[str, str]
    labels: Mapping[str, str | Plural]
    subscribe: Mapping[str, str]
    """The private feed's subscribe page (feed.subscribe_page's labels)."""
    sample: str = ""
    """A voice's sample in this language (`audioguide voices --sample`), in its own register."""

    def label(self, key: str, **values: object) -> str:
        text = self.labels[key]
        assert isinstance(text, str), f"{key} takes a count: use count()"
        return text.format(**values) if values else text

    def count(self, key: str, n: int) -> str:
        """`3 sets`, `1 serie`, `0 série` (French counts 0 as one)."""
        forms = self.labels[key]
        assert isinstance(forms, Plural), f"{key} takes no count: use label()"
        one = n == 1 or (self.language == "fr" and n == 0)
        return (forms.one if one else forms.other).format(n=self.number(n))

    def number(self, x: float) -> str:
        """`5`, `5.5` or `5,5`: at most one decimal, none when it is whole."""
        x = round(float(x), 1)
        text = f"{x:,.0f}" if x == int(x) else f"{x:,.1f}"
        # Thousands are rare here (a 1,000-rep routine): a thin space reads in every language.
        return text.replace(",", "\u202f").replace(".", self.decimal)

    def duration(self, seconds: float) -> str:
        """`30 s`, `1,5 s`, `2 min`, `2 min 30 s`: seconds up to two minutes, then minutes."""
        if seconds < 120:
            return self.label("seconds", n=self.number(seconds))
        minutes, secs = divmod(round(seconds), 60)
        if secs == 0:
            return self.label("minutes", m=self.number(minutes))
        return self.label("minutes_seconds", m=self.number(minutes), s=secs)

    def date(self, day: dt.date) -> str:
        """`4 March 2025`, `4 de marzo de 2025`, `4. März 2025`, `1er mars 2025`."""
        return self.date_format.format(
            day=self.day_one if day.day == 1 else day.day,
            month=self.months[day.month - 1],
            year=day.year,
        )

    def side(self, name: str, overrides: Mapping[str, str] = MappingProxyType({})) -> str:
        """A side as written: the spoken side phrase without its full stop ("right side",
        "lado derecho", "rechte Seite")."""
        spoken = {**self.sides, **overrides}.get(name, name)
        return self.speech["side"].format(side=spoken).rstrip(".")


def language_code(value: str) -> str | None:
    """`es`, `es-MX`, `es-419` as written in BCP 47 (`en_gb` -> `en-GB`), when a table exists
    for its language; None otherwise."""
    m = _CODE.fullmatch(value.strip())
    if not m or m.group(1).lower() not in LANGUAGES:
        return None
    base, region = m.group(1).lower(), m.group(2)
    return f"{base}-{region.upper()}" if region else base


def base_language(code: str) -> str:
    """`es` for `es-MX`: the string table a language code uses."""
    return code.split("-", 1)[0].lower()


@functools.cache
def table(language: str, register: Register | None = None) -> Table:
    """The string table of `language` (a code `language_code` accepts, region ignored), its
    words in `register` (None: the language's default register)."""
    base = base_language(language)
    if base not in LANGUAGES:
        raise ValueError(f"no string table for language {language!r}")
    # libyaml's loader where PyYAML has it: the English table in 7 ms -> 1 ms (measured).
    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    raw = yaml.load(  # a safe loader either way
        resources.files("audioguide").joinpath("languages", f"{base}.yaml").read_text("utf-8"),
        Loader=loader,
    )
    default = cast(Register, raw["register"])
    chosen = register or default
    # A register's file section holds only the phrases that differ; the rest are shared.
    own = raw["registers"][chosen]
    return Table(
        language=base,
        register=chosen,
        default_register=default,
        address=own["address"],
        name=raw["name"],
        english=raw["english"],
        decimal=raw["decimal"],
        date_format=raw["date"],
        day_one=str(raw["day_one"]),
        months=tuple(raw["months"]),
        speech=MappingProxyType({**raw["speech"], **own.get("speech", {})}),
        sides=MappingProxyType(dict(raw["sides"])),
        labels=MappingProxyType(
            {k: _label(v) for k, v in {**raw["labels"], **own.get("labels", {})}.items()}
        ),
        subscribe=MappingProxyType({**raw["subscribe"], **own.get("subscribe", {})}),
        sample=raw["sample"],
    )


def _label(value: Any) -> str | Plural:
    return Plural(value["one"], value["other"]) if isinstance(value, dict) else str(value)


ENGLISH_WORDS: Final[Mapping[str, str]] = table("en").speech
"""What the tool speaks on its own, by key; `{name}` fields are filled in when spoken."""

WORD_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "exercise": ("name",),
    "side": ("side",),
    "set": ("n", "total"),
    "rep": ("n",),
    "countdown": ("n",),
    "ready": ("name",),
    "next": ("name",),
    "round": ("n", "total"),
}
"""The placeholders each phrase may use; any other is refused when the routine is read."""


def words(
    language: str, overrides: Mapping[str, str], register: Register | None = None
) -> dict[str, str]:
    """The phrases a routine speaks: its language's in its register (None: the language's
    default), with the routine's own over them."""
    return {**table(language, register).speech, **overrides}


def side_names(language: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """Each side as spoken, by the name `sides:` uses."""
    return {**table(language).sides, **overrides}


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a phrase (`{{` and `}}` are literal braces)."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def number_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase with `{n}` as a pattern matching it spoken for any number: "3" for "{n}"."""
    parts = [re.escape(part) for part in phrase.split("{n}")]
    return re.compile(r"\d+".join(parts))


def sentence(text: str) -> str:
    """A phrase as spoken: its first letter a capital ("right side." -> "Right side."); the rest
    kept as written, so "Lado derecho." stays as it is."""
    return text[:1].upper() + text[1:]


def unspeakable(text: str) -> str:
    """What in a text a voice for audioguide's languages (all written in Latin letters) cannot
    say: letters of another script, emoji and symbols, described; "" when there is none."""
    found = []
    if any(c.isalpha() and not unicodedata.name(c, "").startswith("LATIN") for c in text):
        found.append("letters of another script")
    if any(unicodedata.category(c) in ("So", "Sk", "Cs", "Co") for c in text):
        found.append("emoji or symbols")
    return " and ".join(found)


def clock(seconds: float, *, tenths: bool = False) -> str:
    """`m:ss`, or `m:ss.s` with tenths, with hours in front only when there are any. Rounded
    to what it shows before it carries, so 599.96 s reads 10:00 (and 10:00.0), never 9:59."""
    sign = "-" if seconds < 0 else ""
    seconds = round(abs(seconds), 1) if tenths else float(round(abs(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    secs_text = f"{secs:04.1f}" if tenths else f"{int(secs):02d}"
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs_text}"
    return f"{sign}{minutes}:{secs_text}"


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """`1 chapter`, `0 chapters`, `2 chapters` (the command line's own English)."""
    return f"{n:,} {noun if n == 1 else plural_form or noun + 's'}"
