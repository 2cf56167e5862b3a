"""Words said right: a routine's `pronounce:` entries and the user's lexicon, applied to a line's
text before any engine speaks it, each entry in the form that engine reads.

    Vrksasana: vrik-SHAHS-uh-nuh                 # a respelling: every engine
    iliopsoas: {say: ill-ee-oh-SO-us, espeak: "Ili:oUs'oU@s"}   # phonemes where given

An engine given phonemes for an entry reads them (espeak-ng and Piper inside `[[...]]`, hibari as
`[word](/.../)`); otherwise it reads the respelling; an entry with neither for it leaves the word
alone. The cache keys a line by the text its engine is given (cache.py), so a changed entry
speaks again only the lines it touches.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final, Literal

from ..model import Pronunciation

Form = Literal["espeak", "piper", "hibari", ""]
"""The phoneme alphabet an engine reads: espeak-ng's letters, Piper's IPA, hibari's misaki
phonemes, or "" for an engine that takes no phonemes (pyttsx3's SAPI5 and NSSpeech, the fake
voice): respellings only."""
FORMS: Final[tuple[Form, ...]] = ("espeak", "piper", "hibari")
LEXICON_ENV: Final = "AUDIOGUIDE_LEXICON"
LEXICON_NAME: Final = "lexicon.yaml"


@dataclass(frozen=True)
class Lexicon:
    """Pronunciations by word; a later entry for the same word wins (the routine's over the
    user's)."""

    entries: tuple[Pronunciation, ...] = ()

    @cached_property
    def _chosen(self) -> dict[str, Pronunciation]:
        return {p.word: p for p in self.entries}

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """One alternation of every word, longest first (`Utthita Hasta Padangusthasana` before
        `Padangusthasana`), whole words only; each a case-sensitive group where the entry has a
        capital (a name: `Will` leaves "will" alone), else any case (`iliopsoas` matches
        "Iliopsoas" at a sentence's start)."""
        if not self._chosen:
            return None
        words = sorted(self._chosen, key=lambda w: (-len(w), w))
        parts = [
            re.escape(w) if any(c.isupper() for c in w) else f"(?i:{re.escape(w)})" for w in words
        ]
        # Not inside a longer word or a hyphenated one; a possessive's 's stays after it.
        return re.compile(rf"(?<![\w'\u2019-])(?:{'|'.join(parts)})(?![\w-])")

    def entry(self, word: str) -> Pronunciation | None:
        """The entry a word as written in a line matches."""
        return self._chosen.get(word) or self._chosen.get(word.lower())

    def apply(self, text: str, form: Form) -> str:
        """The text as an engine that reads `form` is given it."""
        if self._pattern is None:
            return text

        def said(m: re.Match[str]) -> str:
            entry = self.entry(m.group(0))
            return m.group(0) if entry is None else spoken(entry, form, m.group(0))

        return self._pattern.sub(said, text)


NO_LEXICON: Final = Lexicon()


def spoken(entry: Pronunciation, form: Form, written: str) -> str:
    """One entry as an engine that reads `form` is given it, for the word as `written`."""
    phonemes = getattr(entry, form) if form else ""
    if phonemes and form == "hibari":
        return f"[{written}](/{phonemes}/)"  # misaki's inline form: hibari's G2P reads it
    if phonemes:
        return f"[[{phonemes}]]"  # espeak-ng reads [[...]] as its phoneme letters, Piper as IPA
    # Capitals show a reader the stress; an engine is given lower case, as espeak-ng and hibari
    # spell out a short word in capitals ("AH-doh" said "A H doh"). A respelling is words, never
    # markup: brackets and slashes (a clients file's cell is not checked as an entry is) go.
    return " ".join(_MARKUP.sub(" ", entry.say).lower().split()) or written


_MARKUP: Final = re.compile(r"[\[\]/]+")


def user_lexicon_path() -> Path:
    """$AUDIOGUIDE_LEXICON, else lexicon.yaml in the per-user config folder
    (~/.config/audioguide/lexicon.yaml on Linux): read when it exists."""
    env = os.environ.get(LEXICON_ENV, "").strip()
    return Path(env).expanduser() if env else user_config() / LEXICON_NAME


def user_config() -> Path:
    """The per-user config folder (~/.config/audioguide on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("audioguide"))
