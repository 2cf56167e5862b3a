"""What text a user writes may hold, and how it is shown where only one line of plain text fits.

Names and cells come from spreadsheets, pasted from word processors and chat apps: they can hold
control characters (NUL, ESC, BEL, DEL and the C1 set), line and paragraph separators that split
a line where no newline was typed (U+2028, U+2029, NEL, vertical tab, form feed) and the bidi
controls that reorder a line around them. None of them is ever meant as part of a name, and each
breaks a surface: ESC retitles a terminal, NUL splits an ID3 value in two, a separator ends a
subtitle cue. The clients file refuses them (`unsafe_character`), and the surfaces that take one
line of text from anywhere else fold them (`one_line`, `printable`).

Each surface's own escaping lives beside its writer: HTML in publish/html.py, XML and the feed's
HTML in publish/feed.py, ID3 in publish/tags.py, WebVTT and LRC in publish/companions.py.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

UNSAFE: Final = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""Controls (C0 but tab and line ends, DEL, C1 with NEL), line and paragraph separators, and the
bidi embeddings, overrides and isolates: the pages isolate each name themselves (<bdi>), and an
unclosed override would reorder everything after it."""
BREAKS: Final = re.compile("[\\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
"""Any run of white space, controls and separators: one line's worth of space."""
MAX_NAME_CHARS: Final = 100
"""Longer than any real name; a name is drawn on the cover, set in the page and spoken."""
MAX_CELL_CHARS: Final = 1_000
"""A cell of a clients file or a --var is a word or a sentence (a hold, a greeting)."""

_SHOWN_ESCAPED: Final = re.compile(f"{UNSAFE.pattern}|[\t\n\r]")
_NAMES: Final = {
    "\x00": "NUL",
    "\x07": "BEL (a beep)",
    "\x08": "BACKSPACE",
    "\x0b": "VERTICAL TAB",
    "\x0c": "FORM FEED",
    "\x1b": "ESC",
    "\x7f": "DEL",
    "\x85": "NEXT LINE (NEL)",
}


def unsafe_character(text: str) -> str | None:
    """The first character of `text` no name or cell may hold, or None."""
    found = UNSAFE.search(text)
    return found.group() if found else None


def problem(text: str, what: str, limit: int) -> str:
    """Why `text` cannot be a `what` ("name", "cell") of at most `limit` characters, or ""."""
    char = unsafe_character(text)
    if char is not None:
        return (
            f"holds {describe(char)}, a control or separator character no {what} may hold: "
            "retype it (such characters come with text pasted from other programs)"
        )
    if len(text) > limit:
        return f"{len(text):,} characters, over the {limit:,} a {what} may have: shorten it"
    return ""


def describe(char: str) -> str:
    """A character as a message names it: `U+001B ESC`, `U+2028 LINE SEPARATOR`."""
    name = _NAMES.get(char) or unicodedata.name(char, "CONTROL")
    return f"U+{ord(char):04X} {name}"


def one_line(text: str) -> str:
    """`text` on one line: every run of white space, controls and separators one space."""
    return BREAKS.sub(" ", text).strip()


def printable(text: str) -> str:
    """`text` safe to print on one line of a terminal: the characters UNSAFE names, and tab and
    line ends, are shown escaped (as `\\x1b`, `\\u2028`), so they show and do nothing. (Error
    messages escape the same way, and more: errors.AudioguideError.__str__.)"""
    return _SHOWN_ESCAPED.sub(lambda m: repr(m.group())[1:-1], text)
