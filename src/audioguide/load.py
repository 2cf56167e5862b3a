"""Load stage: a routine file (YAML) becomes a validated, frozen `Routine`; raw YAML never leaves
the loader. A `RoutineSource` is read once and validated again for each set of variables.

Every message names its file and line: `morning.yaml:12: step 3: 'pause' needs a duration like
5s, ...`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .errors import Problems, RoutineError, Where
from .export import write_atomic
from .grammar import (
    BED_KEYS,
    CLINIC_KEYS,
    ROUTINE_KEYS,
    TRANSLATION_KEYS,
    VOICE_KEYS,
    Key,
    read_steps,
)
from .model import (
    BED_LEVEL_RANGE_DB,
    BUILTIN_BEDS,
    SIDES,
    Bed,
    Clinic,
    Routine,
    VoiceSettings,
    parse_duration,
    preset_name,
)
from .reader import Fields, Reader, Var, suggest
from .strings import ENGLISH_WORDS, LANGUAGES, WORD_FIELDS, base_language, language_code, table
from .translation import (
    Translation,
    Translator,
    needs_translation,
    read_translation,
    sidecar_paths,
    sidecar_text,
)
from .yamlfile import YMap, parse_yaml, read_text, show

_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
MAX_IMAGE_BYTES: Final = 5_000_000


@dataclass(frozen=True)
class RoutineSource:
    """A routine file read and parsed once; `routine()` validates it for one set of variables
    (a batch reads the file once for all its clients)."""

    name: str
    """The file as messages name it."""
    base_dir: Path
    doc: Any
    path: Path | None = None
    _translations: dict[str, Translation] = field(default_factory=dict, compare=False, repr=False)
    """Each sidecar read so far, by language: read once, like the routine."""

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
        language: str | None = None,
        language_from: str = "--language",
    ) -> Routine:
        """Validate the routine; `variables` (named `variables_from` in messages: `--var`, a
        clients file's row) override its own `vars`. Sound files are read only from the routine's
        folder and the `sound_dirs` the user names, so a shared routine cannot make the tool read
        any other file.

        `language` (named `language_from` in messages) is the language to build in, None for the
        routine's own `language:`; in another language than its own, the routine's lines come
        from its translation ROUTINE.LANG.yaml, and every line missing there is one error (all
        raised together, as Problems)."""
        code = None if language is None else _requested(language, language_from)
        read = _read(self, variables or {}, variables_from, tuple(sound_dirs), code)
        if read.problems:
            raise Problems(read.problems)
        return read.routine

    def translation(self, language: str) -> Translation:
        """The routine's translation into `language` (read once), from its sidecar file."""
        if language not in self._translations:
            found = (
                [p for p in sidecar_paths(self.path, language) if p.is_file()] if self.path else []
            )
            if not found:
                raise RoutineError(_no_translation(self, language), Where(self.name))
            self._translations[language] = read_translation(found[0], language)
        return self._translations[language]

    def lines_to_translate(self, language: str) -> list[str]:
        """Every text of the routine that its translation into `language` still lacks, in the
        order the routine writes them: all of them when it has no translation yet."""
        code = _requested(language, "--language")
        if base_language(code) == base_language(_own_language(self)):
            return []
        found = [p for p in sidecar_paths(self.path, code) if p.is_file()] if self.path else []
        name = str(sidecar_paths(self.path or Path(self.name), code)[-1])
        translation = read_translation(found[0], code) if found else Translation(code, name)
        read = _read(self, {}, "--var", (), code, translation)
        return list(read.translator.missing) if read.translator else []

    def new_translation(self, language: str) -> Path:
        """Start the routine's translation into `language`: ROUTINE.LANG.yaml beside it, every
        line to translate listed with an empty translation. Never over an existing file."""
        code = _requested(language, "--language")
        if self.path is None:
            raise RoutineError(_no_translation(self, code), Where(self.name))
        if base_language(code) == base_language(_own_language(self)):
            raise RoutineError(
                f"the routine is written in {table(code).english} already: nothing to translate",
                Where(self.name),
            )
        target = sidecar_paths(self.path, code)[0]
        if target.exists():
            raise RoutineError(
                f"{target} exists already: `audioguide check {self.path} --language {code}` "
                "lists the lines it still lacks",
            )
        text = sidecar_text(self.path.name, code, self.lines_to_translate(code))
        write_atomic(target, text.encode("utf-8"))
        return target


def load_routine(
    path: Path | str,
    variables: Mapping[str, str] | None = None,
    *,
    sound_dirs: Sequence[Path] = (),
    language: str | None = None,
) -> Routine:
    """Read and validate a routine file; `variables` override the routine's own `vars`; in
    `language` when given (see RoutineSource.routine)."""
    return RoutineSource.read(path).routine(variables, sound_dirs=sound_dirs, language=language)


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


@dataclass(frozen=True)
class _Read:
    routine: Routine
    translator: Translator | None = None
    problems: tuple[RoutineError, ...] = ()
    """Lines and vars a translation lacks, each its own error, so all are fixed in one go."""


def _read(
    source: RoutineSource,
    overrides: Mapping[str, str],
    overrides_from: str,
    sound_dirs: tuple[Path, ...],
    language: str | None,
    translation: Translation | None = None,
) -> _Read:
    try:
        return _read_routine(source, overrides, overrides_from, sound_dirs, language, translation)
    except RecursionError:
        # MAX_NESTING stops steps well before this; other values have no depth of their own.
        raise RoutineError(
            "the routine nests too deeply; a routine needs only a few levels: flatten it",
            Where(source.name, 1),
        ) from None


def _read_routine(
    source: RoutineSource,
    overrides: Mapping[str, str],
    overrides_from: str,
    sound_dirs: tuple[Path, ...],
    language: str | None,
    translation: Translation | None,
) -> _Read:
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
    own = _language(r, f)
    code = language or own
    sidecar: Fields | None = None
    if base_language(code) != base_language(own):
        translation = translation or source.translation(code)
        r.translator = Translator(translation)
        sidecar = Fields("the translation", translation.doc, Where(translation.file, 1))
        _known_keys(sidecar, TRANSLATION_KEYS, "translation keys")
    r.variables = _vars(f, overrides, overrides_from, sidecar)
    words, side_names = _words(r, f)
    voice = _voice(r, f)
    if sidecar is not None:
        # The routine's own voice speaks its own language: only its rate carries over.
        words, side_names, voice = _translated_words(r, sidecar, words, side_names, voice)
    r.side_names = tuple(dict.fromkeys((*SIDES, *side_names)))
    title = r.text(f, "title")
    if "steps" not in doc:
        raise RoutineError("the routine has no 'steps'; add a list of steps", top)
    r.pacer = r.pacer_style(f)
    if source.path is not None:
        r.including = (source.path.resolve(),)
    steps = read_steps(r, doc["steps"], f.at("steps"), prefix="")
    routine = Routine(
        title=title,
        steps=steps,
        author=r.optional_text(f, "author", translate=False),
        description=r.optional_text(f, "description"),
        voice=voice,
        language=code,
        words=words,
        side_names=side_names,
        path=source.path,
        notes=_notes(r, f),
        cover=_image(r, f, "cover") if "cover" in f else None,
        bed=_bed(r, f),
        pacer=r.pacer,
        pan_sides=r.choice(f, "pan", ("sides", "none"), "none", _PAN_HINT) == "sides",
        clinic=read_clinic(r, f),
        warnings=tuple(r.warnings + (r.translator.stale() if r.translator else [])),
    )
    if r.translator is None:
        return _Read(routine)
    problems = [*r.translator.problems(), *_untranslated_vars(r, r.translator, own, overrides_from)]
    return _Read(routine, r.translator, tuple(problems))


def _requested(language: str, language_from: str) -> str:
    code = language_code(language)
    if code is None:
        raise RoutineError(
            f"{language_from} {show(language)}: audioguide speaks and writes "
            f"{_language_list()}; use one of those codes, optionally with a region (es-MX)",
        )
    return code


def _language_list() -> str:
    return ", ".join(f"{table(code).english} ({code})" for code in LANGUAGES)


def _own_language(source: RoutineSource) -> str:
    doc = source.doc
    if not isinstance(doc, YMap):
        return "en"
    return _language(
        Reader(source.name, source.base_dir), Fields("the routine", doc, Where(source.name))
    )


def _no_translation(source: RoutineSource, language: str) -> str:
    own = table(_own_language(source)).english
    target = table(language).english
    if source.path is None:
        return (
            f"the routine is written in {own} and read from text, so no {target} translation "
            "can lie beside it: save it to a file"
        )
    sidecar = sidecar_paths(source.path, language)[-1]
    return (
        f"the routine is written in {own}; to build it in {target}, translate its lines in "
        f"{sidecar} (audioguide translate {source.path} --language {language} starts one)"
    )


def _translated_words(
    r: Reader,
    sidecar: Fields,
    words: dict[str, str],
    side_names: dict[str, str],
    voice: VoiceSettings,
) -> tuple[dict[str, str], dict[str, str], VoiceSettings]:
    """The translation's own `words:` over the routine's (translated), and its `voice:`."""
    plain = Reader(sidecar.where.file, r.base_dir, sound_dirs=r.sound_dirs)
    own_words, own_sides = _words(plain, sidecar)
    translated_voice = _voice(plain, sidecar) if "voice" in sidecar else VoiceSettings()
    return (
        {**words, **own_words},
        {**side_names, **own_sides},
        VoiceSettings(
            translated_voice.engine,
            translated_voice.name,
            translated_voice.rate or voice.rate,
        ),
    )


def _untranslated_vars(
    r: Reader, translator: Translator, own: str, overrides_from: str
) -> list[RoutineError]:
    """A var a translated line speaks whose value is still the routine's own default, in its own
    language ("friend"): one error each, at the routine's `vars:` line."""
    out = []
    target = translator.translation
    for name in sorted(translator.text_vars):
        var = r.variables.get(name)
        if var is None or var.own_at is None or not _wordy(var.value):
            continue
        out.append(
            RoutineError(
                f"var '{name}' is {show(var.value)}, in {table(own).english}, and a translated "
                f"line says {{{name}}}: give its {target.english} value under 'vars:' in "
                f"{target.file}, or set it with {overrides_from}",
                var.own_at,
            )
        )
    return out


def _wordy(value: str) -> bool:
    """Whether a var's value is words (a name, an exercise), not a duration or a preset."""
    try:
        parse_duration(value)
    except ValueError:
        return needs_translation(value) and preset_name(value) is None
    return False


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


def _vars(
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
    written = r.text(f, "language", translate=False)
    code = language_code(written)
    if code is None:
        raise r.fail(
            f,
            "language",
            f"'language' is one of {_language_list()}, optionally with a region (es-MX), got "
            f"{show(written)}",
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
