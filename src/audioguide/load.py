"""Load stage: a routine file (YAML) becomes a validated, frozen `Routine`; raw YAML never leaves
the loader. A `RoutineSource` is read once and validated again for each set of variables.

Every message names its file and line: `morning.yaml:12: step 3: 'pause' needs a duration like
5s, ...`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .errors import RoutineError, Where
from .grammar import BED_KEYS, CLINIC_KEYS, ROUTINE_KEYS, VOICE_KEYS, Key, read_steps
from .model import (
    BED_LEVEL_RANGE_DB,
    BUILTIN_BEDS,
    SIDES,
    Bed,
    Clinic,
    Routine,
    VoiceSettings,
)
from .reader import Fields, Reader, Var, suggest
from .strings import ENGLISH_WORDS, WORD_FIELDS
from .yamlfile import YMap, parse_yaml, read_text, show

_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
MAX_IMAGE_BYTES: Final = 5_000_000
LANGUAGES: Final = ("en",)


@dataclass(frozen=True)
class RoutineSource:
    """A routine file read and parsed once; `routine()` validates it for one set of variables
    (a batch reads the file once for all its clients)."""

    name: str
    """The file as messages name it."""
    base_dir: Path
    doc: Any
    path: Path | None = None

    @classmethod
    def read(cls, path: Path | str) -> RoutineSource:
        path = Path(path)
        return cls.parse(read_text(path), name=str(path), base_dir=path.parent, path=path)

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        name: str = "<routine>",
        base_dir: Path = Path(),
        path: Path | None = None,
    ) -> RoutineSource:
        return cls(name, base_dir, parse_yaml(text, name), path)

    @property
    def var_names(self) -> tuple[str, ...]:
        """The variables the routine declares under `vars:`."""
        raw = self.doc.get("vars") if isinstance(self.doc, YMap) else None
        return tuple(raw) if isinstance(raw, YMap) else ()

    def routine(
        self,
        variables: Mapping[str, str] | None = None,
        *,
        variables_from: str = "--var",
        sound_dirs: Sequence[Path] = (),
    ) -> Routine:
        """Validate the routine; `variables` (named `variables_from` in messages: `--var`, a
        clients file's row) override its own `vars`. Sound files are read only from the routine's
        folder and the `sound_dirs` the user names, so a shared routine cannot make the tool read
        any other file."""
        try:
            return _read_routine(self, variables or {}, variables_from, tuple(sound_dirs))
        except RecursionError:
            # MAX_NESTING stops steps well before this; other values have no depth of their own.
            raise RoutineError(
                "the routine nests too deeply; a routine needs only a few levels: flatten it",
                Where(self.name, 1),
            ) from None


def load_routine(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    *,
    sound_dirs: Sequence[Path] = (),
) -> Routine:
    """Read and validate a routine file; `variables` override the routine's own `vars`."""
    return RoutineSource.read(path).routine(variables, sound_dirs=sound_dirs)


def parse_routine(
    text: str,
    *,
    name: str = "<routine>",
    base_dir: Path = Path(),
    variables: Mapping[str, str] | None = None,
    path: Path | None = None,
    sound_dirs: Sequence[Path] = (),
) -> Routine:
    source = RoutineSource.parse(text, name=name, base_dir=base_dir, path=path)
    return source.routine(variables, sound_dirs=sound_dirs)


def _read_routine(
    source: RoutineSource,
    overrides: Mapping[str, str],
    overrides_from: str,
    sound_dirs: tuple[Path, ...],
) -> Routine:
    doc = source.doc
    top = Where(source.name, getattr(doc, "line", 1))
    if not isinstance(doc, YMap):
        raise RoutineError(
            "a routine is a mapping with 'title' and 'steps'; see docs/routines.md for an example",
            top,
        )
    f = Fields("the routine", doc, top)
    _known_keys(f, ROUTINE_KEYS, "routine keys")
    r = Reader(source.name, source.base_dir, sound_dirs=sound_dirs)
    r.variables = _vars(f, overrides, overrides_from)
    words, side_names = _words(r, f)
    r.side_names = tuple(dict.fromkeys((*SIDES, *side_names)))
    title = r.text(f, "title")
    if "steps" not in doc:
        raise RoutineError("the routine has no 'steps'; add a list of steps", top)
    r.pacer = r.pacer_style(f)
    if source.path is not None:
        r.including = (source.path.resolve(),)
    steps = read_steps(r, doc["steps"], f.at("steps"), prefix="")
    return Routine(
        title=title,
        steps=steps,
        author=r.optional_text(f, "author"),
        description=r.optional_text(f, "description"),
        voice=_voice(r, f),
        language=_language(r, f),
        words=words,
        side_names=side_names,
        path=source.path,
        notes=_notes(r, f),
        cover=_image(r, f, "cover") if "cover" in f else None,
        bed=_bed(r, f),
        pacer=r.pacer,
        pan_sides=r.choice(f, "pan", ("sides", "none"), "none", _PAN_HINT) == "sides",
        clinic=_clinic(r, f),
        warnings=tuple(r.warnings),
    )


_PAN_HINT: Final = "sides (left-side cues from the left, right from the right) or none"


def _known_keys(f: Fields, keys: tuple[Key, ...], kinds: str) -> None:
    names = [k.name for k in keys]
    for key in f.values:
        if key not in names:
            raise RoutineError(f"unknown key '{key}': {suggest(key, names, kinds)}", f.at(key))


def _sub(r: Reader, f: Fields, key: str, keys: tuple[Key, ...], example: str) -> Fields:
    raw = f.values[key]
    if not isinstance(raw, YMap):
        raise RoutineError(f"'{key}' is a mapping, e.g. {example}", f.at(key))
    sub = Fields(key, raw, f.at(key))
    _known_keys(sub, keys, f"{key} keys")
    return sub


def _vars(f: Fields, overrides: Mapping[str, str], overrides_from: str) -> dict[str, Var]:
    raw = f.values.get("vars", YMap())
    if not isinstance(raw, YMap):
        raise RoutineError("'vars' maps names to values, e.g. vars: {client: friend}", f.at("vars"))
    out: dict[str, Var] = {}
    sub = Fields("vars", raw, f.at("vars"))
    for key, value in raw.items():
        if not re.fullmatch(r"\w+", key) or isinstance(value, dict | list) or value is None:
            raise RoutineError(
                f"var '{key}' needs a plain name and a value, e.g. client: friend", sub.at(key)
            )
        out[key] = Var(str(value), f"vars: at {sub.at(key)}")
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


def _words(r: Reader, f: Fields) -> tuple[dict[str, str], dict[str, str]]:
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


def _voice(r: Reader, f: Fields) -> VoiceSettings:
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


def _language(r: Reader, f: Fields) -> str:
    if "language" not in f:
        return "en"
    code = r.text(f, "language").lower()
    if code not in LANGUAGES:
        raise r.fail(
            f, "language", f"'language' is one of {', '.join(LANGUAGES)}, got {show(code)}"
        )
    return code


def _bed(r: Reader, f: Fields) -> Bed | None:
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


def _clinic(r: Reader, f: Fields) -> Clinic | None:
    if "clinic" not in f:
        return None
    c = _sub(r, f, "clinic", CLINIC_KEYS, "clinic: {name: Sam's Physio, contact: 555 0100}")
    if "name" not in c:
        raise RoutineError("'clinic' needs a name, e.g. clinic: {name: Sam's Physio}", c.where)
    return Clinic(
        r.text(c, "name"),
        r.optional_text(c, "contact"),
        _image(r, c, "logo") if "logo" in c else None,
    )


def _image(r: Reader, f: Fields, key: str) -> Path:
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


def _notes(r: Reader, f: Fields) -> tuple[str, ...]:
    raw = f.values.get("notes", [])
    items = raw if isinstance(raw, list) else [raw]
    return tuple(r.text_of(item, f.at("notes"), "notes") for item in items)
