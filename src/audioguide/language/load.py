"""Load stage: a routine file (YAML) becomes a validated, frozen `Routine`; raw YAML never leaves
the loader. A `RoutineSource` is read once and validated again for each set of variables.

Every message names its file and line: `morning.yaml:12: step 3: 'pause' needs a duration like
5s, ...`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problems, RoutineError, Where
from ..files import write_atomic
from ..model import (
    SIDES,
    Routine,
    VoiceSettings,
    parse_duration,
    preset_name,
)
from ..strings import Register, base_language, language_code, table
from .grammar import read_steps
from .keys import ROUTINE_KEYS, TRANSLATION_KEYS
from .pronounce import read_pronounce
from .reader import Fields, Reader
from .settings import (
    PAN_HINT,
    check_keys,
    language_list,
    read_bed,
    read_clinic,
    read_image,
    read_language,
    read_notes,
    read_register,
    read_vars,
    read_voice,
    read_words,
)
from .translation import (
    Translation,
    Translator,
    needs_translation,
    read_translation,
    sidecar_paths,
    sidecar_text,
)
from .yamlfile import YMap, parse_yaml, read_text, show


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
    check_keys(f, ROUTINE_KEYS, "routine keys")
    r = Reader(source.name, source.base_dir, sound_dirs=sound_dirs)
    own = read_language(r, f)
    code = language or own
    sidecar = _sidecar(source, r, own, code, translation)
    r.variables = read_vars(f, overrides, overrides_from, sidecar)
    words, side_names = read_words(r, f)
    voice = read_voice(r, f)
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
        register=_register(r, f, sidecar),
        words=words,
        side_names=side_names,
        path=source.path,
        notes=read_notes(r, f),
        cover=read_image(r, f, "cover") if "cover" in f else None,
        bed=read_bed(r, f),
        pacer=r.pacer,
        pan_sides=r.choice(f, "pan", ("sides", "none"), "none", PAN_HINT) == "sides",
        clinic=read_clinic(r, f),
        pronounce=read_pronounce(f),
        warnings=tuple(r.warnings + (r.translator.stale() if r.translator else [])),
    )
    if r.translator is None:
        return _Read(routine)
    problems = [*r.translator.problems(), *_untranslated_vars(r, r.translator, own, overrides_from)]
    return _Read(routine, r.translator, tuple(problems))


def _sidecar(
    source: RoutineSource, r: Reader, own: str, code: str, translation: Translation | None
) -> Fields | None:
    """The translation's keys, when the routine is read in another language than its own; its
    lines then come through the reader's translator."""
    if base_language(code) == base_language(own):
        return None
    translation = translation or source.translation(code)
    r.translator = Translator(translation)
    sidecar = Fields("the translation", translation.doc, Where(translation.file, 1))
    check_keys(sidecar, TRANSLATION_KEYS, "translation keys")
    return sidecar


def _register(r: Reader, f: Fields, sidecar: Fields | None) -> Register | None:
    """The translation's register, else the routine's: a translator writes the lines in one,
    and the tool's own words follow it."""
    if sidecar is not None and "register" in sidecar:
        return read_register(r, sidecar)
    return read_register(r, f)


def _requested(language: str, language_from: str) -> str:
    code = language_code(language)
    if code is None:
        raise RoutineError(
            f"{language_from} {show(language)}: audioguide speaks and writes "
            f"{language_list()}; use one of those codes, optionally with a region (es-MX)",
        )
    return code


def _own_language(source: RoutineSource) -> str:
    doc = source.doc
    if not isinstance(doc, YMap):
        return "en"
    return read_language(
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
    own_words, own_sides = read_words(plain, sidecar)
    translated_voice = read_voice(plain, sidecar) if "voice" in sidecar else VoiceSettings()
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
