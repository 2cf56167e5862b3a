"""One script in several languages: a routine's lines in another language live beside it in a
sidecar file, `ROUTINE.LANG.yaml`, keyed by the line as the routine writes it.

Why a sidecar and not the translations inline: the routine keeps its timing, reps and holds in
one place and stays readable in its own language; a translator edits a flat list of lines and
cannot break the session's structure; adding a language is adding a file. Keyed by the source
text, not its line number, so reordering or reformatting the routine keeps every translation, and
a line said ten times is translated once. When a line of the routine changes, its translation
no longer matches: `check --language es` names the routine's line that lacks one, and warns of
sidecar entries nothing uses any more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from ..errors import RoutineError, Where
from ..strings import base_language, placeholders, table
from .yamlfile import YMap, at, parse_yaml, read_text, show

_LETTER: Final = re.compile(r"[^\W\d_]")
_VAR: Final = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def needs_translation(text: str) -> bool:
    """Whether a text has words in it: "{n}.", "3" or "{client}" has nothing to translate."""
    return bool(_LETTER.search(_VAR.sub("", text)))


def sidecar_paths(routine: Path, language: str) -> tuple[Path, ...]:
    """Where a routine's translation into `language` may be: `morning.es-MX.yaml`, then
    `morning.es.yaml`."""
    codes = dict.fromkeys((language, base_language(language)))
    return tuple(routine.with_name(f"{routine.stem}.{code}{routine.suffix}") for code in codes)


@dataclass(frozen=True)
class Translation:
    """A sidecar file, read: the routine's lines in one language."""

    language: str
    file: str
    """The sidecar as messages name it."""
    lines: Mapping[str, str] = field(default_factory=dict)
    """Each source text (whitespace collapsed, {vars} unfilled) and its translation."""
    line_of: Mapping[str, int] = field(default_factory=dict)
    """Where each translation is written (or still empty), for messages."""
    empty: frozenset[str] = frozenset()
    """The lines listed with no translation yet (as `audioguide translate` writes them)."""
    doc: YMap = field(default_factory=YMap)
    """The whole file, for load.py to read its `vars:`, `words:` and `voice:`."""

    @property
    def english(self) -> str:
        return table(self.language).english


@dataclass
class Translator:
    """Looks each text up while a routine is read, noting every one that has no translation,
    every translation used, and every var a translated text names."""

    translation: Translation
    missing: dict[str, Where] = field(default_factory=dict)
    """Each text with no translation, where the routine first writes it."""
    used: set[str] = field(default_factory=set)
    text_vars: set[str] = field(default_factory=set)

    def __call__(self, text: str, where: Where) -> str:
        if not needs_translation(text):
            return text
        found = self.translation.lines.get(text)
        if found is None:
            self.missing.setdefault(text, where)
            return text
        self.used.add(text)
        self.text_vars |= placeholders(found)
        return found

    def problems(self) -> list[RoutineError]:
        """One error for each line with no translation, at the routine's line."""
        t = self.translation
        return [
            RoutineError(
                f"not translated into {t.english} yet: write its translation at "
                f"{t.file}:{t.line_of[text]}: {show(text)}"
                if text in t.empty
                else f"not translated into {t.english}: add this line under 'lines:' in "
                f"{t.file}: {show(text)}",
                where,
            )
            for text, where in self.missing.items()
        ]

    def stale(self) -> list[str]:
        """Warnings for the translations no line of the routine uses any more."""
        t = self.translation
        return [
            f"{t.file}:{t.line_of[text]}: {show(text)} is not a line of the routine any more "
            "(changed or removed?): update or remove its translation"
            for text in (*t.lines, *t.empty)
            if text not in self.used and text not in self.missing
        ]


def read_translation(path: Path, language: str) -> Translation:
    """Read and check a sidecar: `lines:` maps each source text to its translation, with the same
    {vars}; `vars:`, `words:` and `voice:` are left to the loader."""
    name = str(path)
    doc = parse_yaml(read_text(path, "translation"), name)
    top = Where(name, getattr(doc, "line", 1))
    if not isinstance(doc, YMap) or not isinstance(doc.get("lines"), YMap):
        raise RoutineError(
            "a translation maps each line of the routine to its translation under 'lines:', "
            'e.g. lines: {"Lie on your back.": "Túmbate boca arriba."}',
            top,
        )
    raw = doc["lines"]
    lines: dict[str, str] = {}
    line_of: dict[str, int] = {}
    empty: set[str] = set()
    for key, value in raw.items():
        where = at(raw, key, top)
        source = " ".join(key.split())
        line_of[source] = where.line
        if value is None or (isinstance(value, str) and not value.strip()):
            empty.add(source)
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise RoutineError(
                f"the translation of {show(source)} is text, got {show(value)}", where
            )
        text = " ".join(str(value).split())
        if placeholders(text) != placeholders(source):
            want = ", ".join(sorted(f"{{{v}}}" for v in placeholders(source))) or "none"
            raise RoutineError(
                f"the translation of {show(source)} must use the same {{vars}} ({want}), "
                f"got {show(text)}",
                where,
            )
        lines[source] = text
    return Translation(language, name, lines, line_of, frozenset(empty), doc)


def sidecar_text(routine_name: str, language: str, texts: list[str]) -> str:
    """A new sidecar listing each line still to translate, with an empty translation: `check`
    then names each one until it is written."""
    english = table(language).english
    head = (
        f"# {english} lines of {routine_name}: write each translation after its colon.\n"
        f"# `audioguide check {routine_name} --language {language}` lists what is left.\n"
    )
    body = yaml.safe_dump(
        {"lines": dict.fromkeys(texts, "")}, allow_unicode=True, sort_keys=False, width=1000
    )
    return head + body
