"""Everything the tool says or writes in words: the spoken phrases per language, side names,
clock text and plurals. A routine's `words:` block overrides its language's phrases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ENGLISH_WORDS: Final[Mapping[str, str]] = {
    "exercise": "{name}.",
    "side": "{side} side.",
    "switch": "Switch sides.",
    "set": "Set {n} of {total}.",
    "rest": "Rest.",
    "rep": "{n}.",
    "halfway": "Halfway.",
    "countdown": "{n}",
    "inhale": "Breathe in.",
    "hold": "Hold.",
    "exhale": "Breathe out.",
    "hold-empty": "Hold.",
    "top-up": "More.",
    "introduction": "Introduction",
    "intervals": "Intervals",
    "ready": "Get ready. First: {name}.",
    "next": "Rest. Next: {name}.",
    "round": "Rest. Next: round {n} of {total}.",
    "done": "And stop. Well done.",
}
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

ENGLISH_SIDES: Final[Mapping[str, str]] = {"left": "left", "right": "right"}


def words(language: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """The phrases a routine speaks: its language's, with the routine's own over them."""
    return {**ENGLISH_WORDS, **overrides}


def side_names(language: str, overrides: Mapping[str, str]) -> dict[str, str]:
    """Each side as spoken, by the name `sides:` uses."""
    return {**ENGLISH_SIDES, **overrides}


def sentence(text: str) -> str:
    """A phrase as spoken: its first letter a capital ("right side." -> "Right side."); the rest
    kept as written, so "Lado derecho." stays as it is."""
    return text[:1].upper() + text[1:]


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
    """`1 chapter`, `0 chapters`, `2 chapters`."""
    return f"{n:,} {noun if n == 1 else plural_form or noun + 's'}"
