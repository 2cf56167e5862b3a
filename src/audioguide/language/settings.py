"""The routine's own keys besides its steps: vars, words, voice, language, bed, clinic, cover and
notes, each read with its line kept.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from ..errors import RoutineError, Where
from ..model import (
    BED_LEVEL_RANGE_DB,
    BUILTIN_BEDS,
    Bed,
    Clinic,
    VoiceSettings,
)
from ..strings import (
    ENGLISH_WORDS,
    LANGUAGES,
    REGISTERS,
    WORD_FIELDS,
    Register,
    language_code,
    table,
)
from .keys import BED_KEYS, CLINIC_KEYS, VOICE_KEYS, Key
from .reader import Fields, Reader, Var, suggest
from .yamlfile import YMap, show

_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
MAX_IMAGE_BYTES: Final = 5_000_000


def language_list() -> str:
    return ", ".join(f"{table(code).english} ({code})" for code in LANGUAGES)


PAN_HINT: Final = "sides (left-side cues from the left, right from the right) or none"


def check_keys(f: Fields, keys: tuple[Key, ...], kinds: str) -> None:
    names = [k.name for k in keys]
    for key in f.values:
        if key not in names:
            raise RoutineError(f"unknown key '{key}': {suggest(key, names, kinds)}", f.at(key))


def _sub(r: Reader, f: Fields, key: str, keys: tuple[Key, ...], example: str) -> Fields:
    raw = f.values[key]
    if not isinstance(raw, YMap):
        raise RoutineError(f"'{key}' is a mapping, e.g. {example}", f.at(key))
    sub = Fields(key, raw, f.at(key))
    check_keys(sub, keys, f"{key} keys")
    return sub


def read_vars(
    f: Fields, overrides: Mapping[str, str], overrides_from: str, translated: Fields | None = None
) -> dict[str, Var]:
    """The routine's vars, with a translation's defaults over its own and `overrides` over
    both."""
    out = {
        key: Var(var.value, var.source, own_at=var.own_at)
        for key, var in _var_defaults(f, "client: friend").items()
    }
    if translated is not None:
        for key, var in _var_defaults(translated, "client: amigo").items():
            if key not in out:
                known = ", ".join(out) or "none"
                raise RoutineError(
                    f"the routine has no var '{key}' (its vars: {known}): remove it here",
                    translated.at("vars"),
                )
            out[key] = Var(var.value, var.source)
    for key, value in overrides.items():
        if key not in out:
            known = ", ".join(out) or "none"
            raise RoutineError(
                f"{overrides_from} {key}: the routine has no var '{key}' (its vars: {known}); "
                "add it under 'vars:'",
                Where(f.where.file),
            )
        out[key] = Var(value, overrides_from)
    return out


def _var_defaults(f: Fields, example: str) -> dict[str, Var]:
    raw = f.values.get("vars", YMap())
    if not isinstance(raw, YMap):
        raise RoutineError(f"'vars' maps names to values, e.g. vars: {{{example}}}", f.at("vars"))
    out: dict[str, Var] = {}
    sub = Fields("vars", raw, f.at("vars"))
    for key, value in raw.items():
        if not re.fullmatch(r"\w+", key) or isinstance(value, dict | list) or value is None:
            raise RoutineError(
                f"var '{key}' needs a plain name and a value, e.g. {example}", sub.at(key)
            )
        out[key] = Var(str(value), f"vars: at {sub.at(key)}", own_at=sub.at(key))
    return out


def read_words(r: Reader, f: Fields) -> tuple[dict[str, str], dict[str, str]]:
    """The routine's own phrases, and its side names as spoken."""
    if "words" not in f:
        return {}, {}
    raw = f.values["words"]
    if not isinstance(raw, YMap):
        raise RoutineError(
            "'words' maps names to phrases, e.g. words: {switch: Cambia de lado.}", f.at("words")
        )
    sub = Fields("words", raw, f.at("words"))
    words: dict[str, str] = {}
    sides: dict[str, str] = {}
    for key in raw:
        if key == "sides":
            sides = _side_names(r, sub)
        elif key not in ENGLISH_WORDS:
            raise RoutineError(
                f"unknown key '{key}': {suggest(key, [*ENGLISH_WORDS, 'sides'], 'words')}",
                sub.at(key),
            )
        else:
            words[key] = _word(r, sub, key)
    return words, sides


def _side_names(r: Reader, words: Fields) -> dict[str, str]:
    raw = words.values["sides"]
    if not isinstance(raw, YMap):
        raise RoutineError(
            "'sides' in 'words' maps side names to how they are spoken, e.g. sides: {left: "
            "izquierdo, right: derecho}",
            words.at("sides"),
        )
    sub = Fields("sides", raw, words.at("sides"))
    return {key.lower(): r.text(sub, key, template=False) for key in raw}


def _word(r: Reader, words: Fields, key: str) -> str:
    """A phrase from `words:`; only its own placeholders, so filling it in cannot fail."""
    text = r.text(words, key, template=False)
    allowed = WORD_FIELDS.get(key, ())
    can = " and ".join(f"{{{f}}}" for f in allowed) or "no {placeholders}"
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)]
    except ValueError:
        fields = [("", "?", None)]  # a lone brace
    for name, spec, conv in fields:
        if name is not None and (name not in allowed or spec or conv):
            raise RoutineError(
                f"'{key}' in 'words' can use {can}, got {show(text)}; write {{{{ and }}}} for "
                "literal braces",
                words.at(key),
            )
    return text


def read_voice(r: Reader, f: Fields) -> VoiceSettings:
    if "voice" not in f:
        return VoiceSettings()
    v = _sub(r, f, "voice", VOICE_KEYS, "voice: {rate: 150}")
    rate = r.value(v, "rate")
    if rate is not None and (
        not isinstance(rate, int) or isinstance(rate, bool) or not 60 <= rate <= 400
    ):
        raise r.fail(v, "rate", f"voice rate is words per minute from 60 to 400, got {rate!r}")
    engine, name = r.value(v, "engine"), r.value(v, "name")
    return VoiceSettings(
        engine=None if engine is None else str(engine),
        name=None if name is None else str(name),
        rate=rate,
    )


def read_language(r: Reader, f: Fields) -> str:
    if "language" not in f:
        return "en"
    written = r.text(f, "language", translate=False)
    code = language_code(written)
    if code is None:
        raise r.fail(
            f,
            "language",
            f"'language' is one of {language_list()}, optionally with a region (es-MX), got "
            f"{show(written)}",
        )
    return code


_ADDRESS: Final[Mapping[str, Register]] = {
    "vous": "formal",
    "usted": "formal",
    "sie": "formal",
    "tu": "informal",
    "tú": "informal",
    "du": "informal",
}
"""The pronouns a practitioner may write for a register: each is a did-you-mean."""


def read_register(r: Reader, f: Fields) -> Register | None:
    """`register: formal|informal` (a routine's or a program's); None when not given, for the
    language's own default."""
    if "register" not in f:
        return None
    written = r.text(f, "register", translate=False)
    if written in REGISTERS:
        return written
    meant = _ADDRESS.get(written.lower())
    hint = f"did you mean '{meant}'?" if meant else suggest(written, REGISTERS, "registers")
    raise r.fail(
        f,
        "register",
        "'register' is formal (vous, usted, Sie) or informal (tu, tú, du), got "
        f"{show(written)}: {hint}",
    )


def read_bed(r: Reader, f: Fields) -> Bed | None:
    if "bed" not in f:
        return None
    raw = f.values["bed"]
    b = (
        _sub(r, f, "bed", BED_KEYS, "bed: {sound: rain, level: -18}")
        if isinstance(raw, YMap)
        else Fields("bed", YMap({"sound": raw}, key_lines={"sound": f.at("bed").line}), f.at("bed"))
    )
    if "sound" not in b:
        raise RoutineError("'bed' needs a sound, e.g. bed: {sound: rain, level: -18}", f.at("bed"))
    sound = r.sound(b, "sound", BUILTIN_BEDS, what="bed")
    lo, hi = BED_LEVEL_RANGE_DB
    level = r.number(
        b,
        "level",
        lo,
        hi,
        Bed.level_db,
        f"the bed's level is dB under the voice, from {lo:g} to {hi:g} (e.g. level: -18)",
    )
    return Bed(sound, level, f.at("bed"))


def read_clinic(r: Reader, f: Fields) -> Clinic | None:
    """A `clinic:` block, in a routine or a program file."""
    if "clinic" not in f:
        return None
    c = _sub(r, f, "clinic", CLINIC_KEYS, "clinic: {name: Sam's Physio, contact: 555 0100}")
    if "name" not in c:
        raise RoutineError("'clinic' needs a name, e.g. clinic: {name: Sam's Physio}", c.where)
    return Clinic(
        r.text(c, "name", translate=False),
        r.optional_text(c, "contact", translate=False),
        read_image(r, c, "logo") if "logo" in c else None,
    )


def read_image(r: Reader, f: Fields, key: str) -> Path:
    name = r.text(f, key, template=False)
    path = r.local_file(f, key, key)
    if path.suffix.lower() not in _IMAGE_SUFFIXES:
        raise RoutineError(f"the {key} {name} must be a .png or .jpg image", f.at(key))
    if not path.is_file() or path.stat().st_size > MAX_IMAGE_BYTES:
        raise RoutineError(
            f"the {key} {name} is not an image file of at most 5 MB next to the routine ({path})",
            f.at(key),
        )
    return path


def read_notes(r: Reader, f: Fields) -> tuple[str, ...]:
    raw = f.values.get("notes", [])
    items = raw if isinstance(raw, list) else [raw]
    return tuple(r.text_of(item, f.at("notes"), "notes") for item in items)
