"""Which files a routine may name, and how names from users become file names: one check that a
path stays inside the allowed folders, and one way to make any text a safe, distinct file name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from anyascii import anyascii

MAX_NAME_CHARS: Final = 60
"""Long enough for any real name, short enough for every file system and a readable URL."""


def resolve_inside(name: str, base_dir: Path, allowed: Sequence[Path] = ()) -> Path | None:
    """`name` (relative to base_dir) with symlinks and `..` resolved, or None when the result lies
    outside base_dir and every allowed folder: a routine someone shares cannot make the tool read
    any other file. Checked before the file's existence, so it cannot probe for files either."""
    path = (base_dir / Path(name).expanduser()).resolve()
    folders = (base_dir, *allowed)
    return path if any(path.is_relative_to(f.resolve()) for f in folders) else None


def slug(text: str, fallback: str = "client") -> str:
    """Any text as a lower-case file name of ASCII letters, digits and dashes: "Zoë O'Brien" ->
    "zoe-obrien", "Jürgen Groß" -> "jurgen-gross", "فاطمة الزهراء" -> "ftmh-lzhr", "李小龙" ->
    "li-xiao-long", "../x" -> "x", "<script>" -> "script". Other scripts are transliterated
    (anyascii); emoji and symbols are left out unless the name has nothing else ("🌻" ->
    "sunflower"); only text with nothing to spell at all becomes `fallback`."""
    words = _ascii(text, symbols=False) or _ascii(text, symbols=True)
    out = re.sub(r"[^a-z0-9]+", "-", words).strip("-")[:MAX_NAME_CHARS].strip("-")
    return out or fallback


def _ascii(text: str, symbols: bool) -> str:
    """`text` transliterated to lower-case ASCII, apostrophes dropped (O'Brien is one word)."""
    spelled = []
    for char in unicodedata.normalize("NFC", text):
        if ord(char) < 0x80:
            spelled.append(char)
        elif unicodedata.category(char) == "So" and not symbols:
            spelled.append(" ")
        elif unicodedata.name(char, "").startswith(_SYLLABIC):
            # One syllable a character: anyascii runs them together ("LiXiaoLong").
            spelled.append(f" {anyascii(char)} ")
        else:
            spelled.append(anyascii(char))
    return re.sub(r"[^a-z0-9]+", " ", "".join(spelled).lower().replace("'", "")).strip()


_SYLLABIC: Final = ("CJK", "HANGUL SYLLABLE")


def distinct_slugs(names: Iterable[str], fallback: str = "client") -> list[str]:
    """A slug for each name, numbered where two would clash (`ann-li`, `ann-li-2`)."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = slug(name, fallback)
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out
