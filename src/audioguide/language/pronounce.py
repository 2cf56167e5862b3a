"""How words are said, as a user writes it: a routine's `pronounce:` map and the user's lexicon
file (the same map alone in a file), each entry checked with its line.

    pronounce:
      Vrksasana: vrik-SHAHS-uh-nuh
      iliopsoas: {say: ill-ee-oh-SO-us, espeak: "Ili:oUs'oU@s"}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from ..errors import RoutineError, Where
from ..model import Pronunciation
from ..text import MAX_NAME_CHARS, problem
from .keys import PRONOUNCE_KEYS
from .reader import Fields, suggest
from .yamlfile import YMap, parse_yaml, read_text, show

MAX_SAID_CHARS: Final = 200
EXAMPLE: Final = "Vrksasana: vrik-SHAHS-uh-nuh"
_WORD: Final = re.compile(r"\w(?:[\w'\u2019. -]*\w)?")
"""A word or a name of several (`Utthita Hasta Padangusthasana`, `O'Neill`, `St. John`)."""
_NOT_IN: Final = {
    "say": ("[", "]", "/"),
    "espeak": ("[[", "]]"),
    "piper": ("[[", "]]"),
    "hibari": ("/", "[", "]"),
}
"""What would end the form an engine is given early (lexicon.spoken): `[[...]]` for espeak-ng and
Piper, `[word](/.../)` for hibari; a respelling holds no markup at all."""


def read_pronounce(f: Fields) -> tuple[Pronunciation, ...]:
    """A routine's `pronounce:` entries, in the order written."""
    if "pronounce" not in f:
        return ()
    return _entries(f.values["pronounce"], f.at("pronounce"), "'pronounce'")


def read_lexicon(path: Path) -> tuple[Pronunciation, ...]:
    """The entries of a lexicon file: a YAML mapping of words to how they are said; an empty
    file has none."""
    doc = parse_yaml(read_text(path, what="lexicon"), str(path), as_text=True)
    if doc is None:
        return ()
    return _entries(doc, Where(str(path), getattr(doc, "line", 1)), "a lexicon")


def _entries(raw: Any, where: Where, what: str) -> tuple[Pronunciation, ...]:
    if not isinstance(raw, YMap):
        raise RoutineError(f"{what} maps words to how they are said, e.g. {EXAMPLE}", where)
    sub = Fields("pronounce", raw, where)
    return tuple(_entry(word, raw[word], sub.at(word)) for word in raw)


def _entry(word: str, value: Any, where: Where) -> Pronunciation:
    wrong = problem(word, "word", MAX_NAME_CHARS)
    if wrong:
        raise RoutineError(f"the word {show(word)} {wrong}", where)
    if not _WORD.fullmatch(word):
        raise RoutineError(
            f"{show(word)} is not a word or name to pronounce: letters, digits, spaces, hyphens "
            "and apostrophes only, as the routine writes it",
            where,
        )
    if isinstance(value, str):
        return Pronunciation(word, say=_said(word, "say", value, where), where=where)
    if not isinstance(value, YMap):
        raise RoutineError(
            f"'{word}' is said as a respelling (e.g. {EXAMPLE}) or a mapping of say, espeak, "
            f"piper and hibari; got {show(value)}: quote it",
            where,
        )
    given = {}
    for key in value:
        if key not in _NOT_IN:
            names = [k.name for k in PRONOUNCE_KEYS]
            raise RoutineError(
                f"unknown key '{key}' for '{word}': {suggest(key, names, 'pronounce keys')}",
                Where(where.file, value.key_lines.get(key, where.line)),
            )
        given[key] = _said(word, key, value[key], where)
    if not any(given.values()):
        raise RoutineError(f"'{word}' says nothing: give say, espeak, piper or hibari", where)
    return Pronunciation(word, **given, where=where)


def _said(word: str, key: str, value: Any, where: Where) -> str:
    """One form of an entry, checked: one line of text, no markup that would end it early."""
    if not isinstance(value, str) or not value.strip():
        raise RoutineError(
            f"'{key}' for '{word}' needs text, e.g. {EXAMPLE}; got {show(value)}", where
        )
    text = " ".join(value.split())
    wrong = problem(text, key, MAX_SAID_CHARS)
    bad = next((m for m in _NOT_IN[key] if m in text), None)
    if wrong or bad:
        fix = f"write it without {bad!r}" if bad else wrong
        raise RoutineError(f"'{key}' for '{word}' is {show(text)}: {fix}", where)
    return text
