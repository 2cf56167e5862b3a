"""The keys of the files around the steps (a routine's own, its voice, bed and clinic, a
translation), each with the line the docs give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Key:
    name: str
    doc: str


ROUTINE_KEYS: Final[tuple[Key, ...]] = (
    Key("title", "the track's title"),
    Key("author", "shown as the track's artist"),
    Key("description", "a sentence or two; the ID3 comment"),
    Key("notes", "written notes for the page and handout; never spoken"),
    Key("cover", "the track's cover image, next to the routine"),
    Key("voice", "default voice settings: engine, name, rate"),
    Key("language", "the language it is spoken and written in: en, es, de or fr"),
    Key("register", "formal or informal: vous or tu, usted or tú, Sie or du"),
    Key("vars", "named values for {name} in any value"),
    Key("words", "the phrases the tool speaks on its own, and side names"),
    Key("pronounce", "how words and names are said: a respelling, or phonemes per engine"),
    Key("bed", "a background sound under the session"),
    Key("pacer", "how breathe steps sound"),
    Key("pan", "sides: each side's cues from that side"),
    Key("clinic", "the practitioner: name, contact, logo"),
    Key("steps", "the list of steps"),
)
"""The keys of a routine file itself (load.py reads them)."""
VOICE_KEYS: Final = (
    Key("engine", "natural or system"),
    Key("name", "one of the engine's voices"),
    Key("rate", "words per minute, 60 to 400"),
)
PRONOUNCE_KEYS: Final = (
    Key("say", "a respelling every engine reads, e.g. vrik-SHAHS-uh-nuh"),
    Key("espeak", "espeak-ng's phoneme letters, for the system voice"),
    Key("piper", "IPA as Piper writes it, for Piper voices (natural)"),
    Key("hibari", "misaki phonemes, for the natural female voice (natural:heart)"),
)
"""The keys of one `pronounce:` entry written as a mapping (pronounce.py)."""
BED_KEYS: Final = (
    Key("sound", "rain, ocean, brown, drone, or an audio file"),
    Key("level", "its loudness between cues, in LU under the voice (-40 to -6)"),
)
CLINIC_KEYS: Final = (
    Key("name", "the practice's or practitioner's name"),
    Key("contact", "one line: phone, email or address"),
    Key("logo", "a PNG or JPEG next to the routine"),
)


TRANSLATION_KEYS: Final = (
    Key("lines", "each line as the routine writes it, and its translation"),
    Key("vars", "the vars' defaults in this language"),
    Key("words", "the phrases the tool speaks on its own, in this language"),
    Key("voice", "the voice for this language: engine, name, rate"),
    Key("register", "formal or informal in this language, over the routine's own"),
)
"""The keys of a translation, ROUTINE.LANG.yaml beside the routine (translation.py)."""
KEY_TABLES: Final = (
    ROUTINE_KEYS,
    VOICE_KEYS,
    BED_KEYS,
    CLINIC_KEYS,
    TRANSLATION_KEYS,
    PRONOUNCE_KEYS,
)
"""Every table of keys besides the steps' own (grammar.all_keys: what the docs must describe)."""
