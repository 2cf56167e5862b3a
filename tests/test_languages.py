"""Languages: the string tables, one routine built in four languages from its translations, the
checks that name every untranslated line, and the voice each language gets."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.cues import Speech
from audioguide.errors import Problems, RoutineError
from audioguide.language.load import RoutineSource, parse_routine
from audioguide.options import Options
from audioguide.publish.handout import handout_page
from audioguide.publish.page import share_page
from audioguide.publish.subscribe import SUBSCRIBE_LABELS_EN
from audioguide.session import Session
from audioguide.strings import (
    ENGLISH_WORDS,
    LANGUAGES,
    REGISTERS,
    WORD_FIELDS,
    Plural,
    Register,
    language_code,
    placeholders,
    table,
)
from audioguide.timing.compile import compile_timeline
from audioguide.timing.plan import format_plan
from audioguide.voices.choose import open_voice, speaks, voice_for
from audioguide.voices.fake import FakeVoice
from audioguide.voices.natural import NaturalVoice, bundled_natural_model, natural_problem

ROUTINE = """\
title: Knee at home
author: Sam's Physio
vars: {client: friend}
clinic: {name: Sam's Physio, contact: 555 0100}
steps:
  - say: Hello, {client}.
  - safety: Stop if anything hurts.
  - exercise: Leg raise
    say: Lie on your back.
    sides: [right, left]
    sets: 2
    rest: 10s
    reps: 2
    rep: [Lift your leg., {hold: {duration: 3, countdown: 2}}, Lower it slowly.]
  - breathe: {pattern: box, cycles: 2}
"""

TRANSLATIONS = {
    "es": """\
vars: {client: amiga}
lines:
  Knee at home: La rodilla en casa
  "Hello, {client}.": "Hola, {client}."
  Stop if anything hurts.: Para si algo te duele.
  Leg raise: Elevación de pierna
  Lie on your back.: Túmbate boca arriba.
  Lift your leg.: Levanta la pierna.
  Lower it slowly.: Bájala despacio.
""",
    "de": """\
vars: {client: Ana}
lines:
  Knee at home: Das Knie zu Hause
  "Hello, {client}.": "Hallo, {client}."
  Stop if anything hurts.: Hören Sie auf, wenn etwas wehtut.
  Leg raise: Beinheben
  Lie on your back.: Legen Sie sich auf den Rücken.
  Lift your leg.: Heben Sie das Bein.
  Lower it slowly.: Senken Sie es langsam ab.
""",
    "fr": """\
vars: {client: Ana}
lines:
  Knee at home: Le genou à la maison
  "Hello, {client}.": "Bonjour, {client}."
  Stop if anything hurts.: Arrêtez si quelque chose vous fait mal.
  Leg raise: Élévation de la jambe
  Lie on your back.: Allongez-vous sur le dos.
  Lift your leg.: Levez la jambe.
  Lower it slowly.: Redescendez-la lentement.
""",
}

# What each language says and writes on its own, as a speaker of it would.
SPOKEN = {
    "en": ["Right side.", "Switch sides.", "Set 1 of 2.", "Rest.", "Breathe in.", "Hold."],
    "es": ["Lado derecho.", "Cambia de lado.", "Serie 1 de 2.", "Descansa.", "Inhala.", "Retén."],
    "de": [
        "Rechte Seite.",
        "Wechseln Sie die Seite.",
        "Satz 1 von 2.",
        "Ruhen Sie sich aus.",
        "Atmen Sie ein.",
        "Halten Sie.",
    ],
    "fr": [
        "Côté droit.",
        "Changez de côté.",
        "Série 1 sur 2.",
        "Reposez-vous.",
        "Inspirez.",
        "Retenez.",
    ],
}
WRITTEN = {
    "en": ["Chapters", "Transcript", "Safety", "Exercise", "How much", "2 sets", "2 reps"],
    "es": ["Capítulos", "Transcripción", "Precauciones", "Ejercicio", "Cuánto", "2 series"],
    "de": ["Kapitel", "Transkript", "Sicherheitshinweise", "Übung", "Umfang", "2 Sätze"],
    "fr": ["Chapitres", "Transcription", "Précautions", "Exercice", "Dosage", "2 séries"],
}
TITLES = {
    "en": "Knee at home",
    "es": "La rodilla en casa",
    "de": "Das Knie zu Hause",
    "fr": "Le genou à la maison",
}
DAY = dt.date(2025, 3, 4)


@pytest.fixture
def knee(tmp_path: Path) -> Path:
    path = tmp_path / "knee.yaml"
    path.write_text(ROUTINE, encoding="utf-8")
    for code, text in TRANSLATIONS.items():
        (tmp_path / f"knee.{code}.yaml").write_text(text, encoding="utf-8")
    return path


# --- the string tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("code", LANGUAGES)
def test_every_table_has_every_key_with_the_same_placeholders(
    code: str, register: Register
) -> None:
    en, t = table("en"), table(code, register)
    assert set(t.speech) == set(ENGLISH_WORDS)
    assert set(t.sides) == set(en.sides) == {"left", "right"}
    assert set(t.labels) == set(en.labels)
    assert set(t.subscribe) == set(SUBSCRIBE_LABELS_EN)
    assert len(t.months) == 12 and t.decimal in (".", ",")
    for key, phrase in t.speech.items():
        assert placeholders(phrase) == placeholders(en.speech[key]), (code, key)
        assert placeholders(phrase) <= set(WORD_FIELDS.get(key, ())), (code, key)
    for key, label in t.labels.items():
        english = en.labels[key]
        assert type(label) is type(english), (code, key)
        forms = (label.one, label.other) if isinstance(label, Plural) else (label,)
        want = english.other if isinstance(english, Plural) else english
        for form in forms:
            assert form.strip(), (code, key)
            assert placeholders(form) <= placeholders(want), (code, key)
    for key, label in t.subscribe.items():
        assert placeholders(label) == placeholders(SUBSCRIBE_LABELS_EN[key]), (code, key)


def test_english_subscribe_labels_are_the_feed_pages_own() -> None:
    assert dict(table("en").subscribe) == dict(SUBSCRIBE_LABELS_EN)


def test_numbers_dates_durations_and_plurals_follow_the_language() -> None:
    es, de, fr, en = (table(c) for c in ("es", "de", "fr", "en"))
    assert (en.number(5.5), es.number(5.5), de.number(5.25), fr.number(6)) == (
        "5.5",
        "5,5",
        "5,2",
        "6",
    )
    # A number and its unit never part at a line's end.
    assert (en.duration(90), es.duration(150), de.duration(180)) == (
        "90\u00a0s",
        "2\u00a0min 30\u00a0s",
        "3\u00a0Min.",
    )
    assert en.date(DAY) == "4 March 2025"
    assert es.date(DAY) == "4 de marzo de 2025"
    assert de.date(DAY) == "4. März 2025"
    assert fr.date(dt.date(2025, 3, 1)) == "1er mars 2025"
    assert (en.count("sets", 1), en.count("sets", 0), fr.count("sets", 0)) == (
        "1 set",
        "0 sets",
        "0 série",
    )
    assert de.count("reps", 3) == "3 Wiederholungen" and es.count("times", 1) == "una vez"


def test_language_codes() -> None:
    assert [language_code(c) for c in ("es", "ES", "es_mx", "es-419", "en-gb")] == [
        "es",
        "es",
        "es-MX",
        "es-419",
        "en-GB",
    ]
    assert language_code("pt") is None and language_code("english") is None


def test_case_is_kept_as_written() -> None:
    routine = parse_routine(
        "title: T\nlanguage: es\nsteps:\n  - exercise: Puente\n    sides: [right, left]\n"
        "    rep: [Sube.]\n"
    )
    spoken = [c.text for c in compile_timeline(routine, FakeVoice()).cues]
    assert spoken[:2] == ["Puente.", "Lado derecho."]


# --- one routine, four languages -----------------------------------------------------------------


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_same_routine_in_four_languages(
    code: str, knee: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIOGUIDE_PIPER_VOICES", raising=False)
    with Session.open(knee, Options(voice="fake", language=code)) as session:
        plan = session.plan({"client": "Ana"})
    text = format_plan(plan.timeline)
    assert text.splitlines()[0] == TITLES[code]
    for phrase in SPOKEN[code]:
        assert f'"{phrase}"' in text, (code, phrase)
    assert plan.timeline.language == plan.routine.language == code
    page = share_page(plan.timeline, plan.routine, mp3_name="knee.mp3", day=DAY)
    handout = handout_page(plan.timeline, plan.routine, day=DAY)
    for html in (page, handout):
        assert f'<html lang="{code}">' in html
    for label in WRITTEN[code]:
        assert label in page + handout, (code, label)
    # The voice each language gets when none is named.
    expected = {"es": "system:es", "de": "system:de", "fr": "system:fr"}
    english = "natural" if natural_problem() is None else "system"
    assert voice_for(code, None) == expected.get(code, english)


def test_a_routine_written_in_spanish_needs_no_translation(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plan", "psoas-release", "--voice", "fake", "--language", "es"])
    assert result.exit_code == 1
    assert "the routine is written in English; to build it in Spanish, translate its lines" in (
        result.output
    )
    routine = parse_routine("title: Hola\nlanguage: es-MX\nsteps: [Hola.]\n")
    assert routine.language == "es-MX"
    assert voice_for(routine.language, "system") == "system:es-419"
    assert voice_for("es-ES", None).startswith(("system:es", "natural:"))


def test_the_cli_builds_in_the_language_asked(runner: CliRunner, knee: Path) -> None:
    result = runner.invoke(
        cli, ["plan", str(knee), "--voice", "fake", "--language", "de", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["title"] == "Das Knie zu Hause"
    assert doc["chapters"][0]["title"] == "Einführung"
    texts = [c.get("text") for c in doc["cues"]]
    assert "Hallo, Ana." in texts and "Rechte Seite." in texts


# --- what check says about a translation ---------------------------------------------------------


def test_check_names_every_untranslated_line_with_its_line(runner: CliRunner, knee: Path) -> None:
    sidecar = knee.with_name("knee.es.yaml")
    sidecar.write_text(
        'lines:\n  Knee at home: La rodilla en casa\n  "Hello, {client}.": "Hola, {client}."\n'
        "  Lie on your back.: Túmbate boca arriba.\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["check", str(knee), "--voice", "fake", "--language", "es"])
    assert result.exit_code == 1
    missing = "Error: {}: not translated into Spanish: add this line under 'lines:' in {}: {}"
    assert result.output.splitlines() == [
        missing.format(f"{knee}:7: step 2", sidecar, '"Stop if anything hurts."'),
        missing.format(f"{knee}:8: step 3", sidecar, '"Leg raise"'),
        missing.format(f"{knee}:14: step 3.1", sidecar, '"Lift your leg."'),
        missing.format(f"{knee}:14: step 3.3", sidecar, '"Lower it slowly."'),
        f"Error: {knee}:3: var 'client' is \"friend\", in English, and a translated line says "
        f"{{client}}: give its Spanish value under 'vars:' in {sidecar}, or set it with --var",
    ]


def test_translate_starts_a_sidecar_that_check_then_follows(runner: CliRunner, knee: Path) -> None:
    for sidecar in knee.parent.glob("knee.*.yaml"):
        sidecar.unlink()
    result = runner.invoke(cli, ["translate", str(knee), "--language", "fr"])
    assert result.exit_code == 0, result.output
    sidecar = knee.with_name("knee.fr.yaml")
    assert result.output == (
        f"Wrote {sidecar}: translate each line, then run: audioguide check {knee} --language fr\n"
    )
    lines = RoutineSource.read(sidecar).doc["lines"]
    assert list(lines) == [
        "Knee at home",
        "Hello, {client}.",
        "Stop if anything hurts.",
        "Leg raise",
        "Lie on your back.",
        "Lift your leg.",
        "Lower it slowly.",
    ]
    result = runner.invoke(cli, ["check", str(knee), "--voice", "fake", "--language", "fr"])
    assert result.exit_code == 1
    errors = result.output.splitlines()
    assert len(errors) == 7
    assert errors[0] == (
        f"Error: {knee}:1: not translated into French yet: write its translation at "
        f'{sidecar}:4: "Knee at home"'
    )
    again = runner.invoke(cli, ["translate", str(knee), "--language", "fr"])
    assert again.exit_code == 1 and "exists already" in again.output
    bundled = runner.invoke(cli, ["translate", "psoas-release", "--language", "fr"])
    assert bundled.exit_code == 1 and "audioguide new NAME --from psoas-release" in bundled.output


def test_a_translation_keeps_the_lines_vars(knee: Path) -> None:
    knee.with_name("knee.es.yaml").write_text(
        'lines:\n  "Hello, {client}.": "Hola, {cliente}."\n', encoding="utf-8"
    )
    with pytest.raises(RoutineError) as e:
        RoutineSource.read(knee).routine(language="es")
    assert str(e.value) == (
        f'{knee.with_name("knee.es.yaml")}:2: the translation of "Hello, {{client}}." must use '
        'the same {vars} ({client}), got "Hola, {cliente}."'
    )


def test_a_translation_may_give_its_own_words_and_voice(knee: Path) -> None:
    sidecar = knee.with_name("knee.es.yaml")
    sidecar.write_text(
        TRANSLATIONS["es"]
        + "  A line no longer there.: Ya no está.\n"
        + "words: {switch: Ahora la otra pierna., sides: {right: derecho}}\n"
        + "voice: {engine: system, name: es-419}\n",
        encoding="utf-8",
    )
    routine = RoutineSource.read(knee).routine(language="es")
    assert routine.voice.name == "es-419" and routine.voice.rate is None
    spoken = [c.text for c in compile_timeline(routine, FakeVoice()).cues if isinstance(c, Speech)]
    assert "Ahora la otra pierna." in spoken and "Cambia de lado." not in spoken
    assert routine.title == "La rodilla en casa" and routine.safety == ("Para si algo te duele.",)
    assert routine.warnings == (
        f'{sidecar}:10: "A line no longer there." is not a line of the routine any more '
        "(changed or removed?): update or remove its translation",
    )


def test_unknown_languages_and_keys_are_refused(knee: Path) -> None:
    with pytest.raises(RoutineError, match=r"^--language \"pt\": audioguide speaks and writes"):
        RoutineSource.read(knee).routine(language="pt")
    with pytest.raises(RoutineError, match="'language' is one of English \\(en\\), Spanish"):
        parse_routine("title: T\nlanguage: klingon\nsteps: [Hi.]\n")
    sidecar = knee.with_name("knee.es.yaml")
    sidecar.write_text("lines: {}\nline: {}\n", encoding="utf-8")
    with pytest.raises(RoutineError, match="unknown key 'line': did you mean 'lines'"):
        RoutineSource.read(knee).routine(language="es")
    sidecar.write_text("lines: {}\n", encoding="utf-8")
    with pytest.raises(Problems) as problems:
        RoutineSource.read(knee).routine(language="es")  # the typo fixed, nothing translated
    assert len(problems.value.errors) == 7


# --- voices --------------------------------------------------------------------------------------


def test_voices_by_language_and_gender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOGUIDE_PIPER_VOICES", raising=False)
    # Without hibari (the [natural] extra's female voice, tests/test_natural.py), as here:
    monkeypatch.setitem(sys.modules, "hibari", None)
    assert voice_for("es", "female") == "system:es+f3"
    assert voice_for("en", "female") == "system:en-us+f3"
    assert voice_for("de", "male") == "system:de"
    assert voice_for("fr", "system") == "system:fr"
    assert voice_for("es", "system:es-419") == "system:es-419"
    assert voice_for("en", "system") == "system"  # the engine's default voice, as before
    assert voice_for("es", "fake") == "fake"
    assert speaks(FakeVoice(), "de")


@pytest.mark.natural
def test_a_piper_voice_per_language_from_the_voices_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner, knee: Path
) -> None:
    joe = bundled_natural_model()
    assert joe is not None
    folder = tmp_path / "piper"
    folder.mkdir()
    # A stand-in Spanish voice: joe's network under a config that says es_ES (never loaded).
    (folder / "es_ES-test-medium.onnx").symlink_to(joe)
    config = json.loads(joe.with_name(joe.name + ".json").read_text(encoding="utf-8"))
    config["language"] = {"code": "es_ES", "family": "es"}
    (folder / "es_ES-test-medium.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("AUDIOGUIDE_PIPER_VOICES", str(folder))
    assert voice_for("es", None) == f"natural:{folder / 'es_ES-test-medium.onnx'}"
    assert voice_for("es", "natural") == voice_for("es", None)
    assert voice_for("de", None) == "system:de"
    spanish = open_voice(voice_for("es", None), cache=False)
    assert isinstance(spanish, NaturalVoice) and speaks(spanish, "es")
    assert not speaks(open_voice("natural", cache=False), "es")
    result = runner.invoke(cli, ["check", str(knee), "--voice", "natural", "--language", "de"])
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: No natural voice speaks de here: put a Piper voice for it"
    )
    result = runner.invoke(
        cli, ["check", str(knee), "--voice", f"natural:{joe}", "--language", "es"]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: The voice natural:{joe} speaks en-US, not Spanish (es): leave the voice out to "
        "have a Spanish one chosen, or pick one from `audioguide voices --lang es`\n"
    )


@pytest.mark.integration
def test_check_fails_when_the_system_voice_cannot_speak_the_language(
    runner: CliRunner, knee: Path
) -> None:
    spanish = knee.with_name("hola.yaml")
    spanish.write_text(
        "title: Hola\nlanguage: es\nvoice: {engine: system, name: en-us}\nsteps: [Hola.]\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["check", str(spanish)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {spanish}: voice: The voice system:en-us speaks en-us, not Spanish (es): leave "
        "the voice out to have a Spanish one chosen, or pick one from `audioguide voices --lang "
        "es`\n"
    )
    result = runner.invoke(cli, ["check", str(knee), "--language", "es", "--var", "client=Ana"])
    assert result.exit_code == 0, result.output
    for voice in ("female", "system:es-419+f3"):
        result = runner.invoke(cli, ["check", str(knee), "--language", "es", "--voice", voice])
        assert result.exit_code == 0, result.output


@pytest.mark.integration
def test_voices_lists_male_and_female_options_per_language(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["voices", "--lang", "es"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line.split() for line in lines[lines.index("Spanish (es):") + 1 :]]
    assert ["system:es", "male", "Spanish", "(Spain)", "(espeak-ng)", "[default]"] in rows
    assert ["system:es+f3", "female", "Spanish", "(Spain)", "(espeak-ng)"] in rows
    assert ["system:es-419+f3", "female", "Spanish", "(Latin", "America)", "(espeak-ng)"] in rows
    everything = runner.invoke(cli, ["voices"]).output
    for header in ("English (en):", "Spanish (es):", "German (de):", "French (fr):"):
        assert header in everything
    for spec in ("system:en-us+f3", "system:de+f3", "system:fr+f3"):
        assert any(line.split()[:2] == [spec, "female"] for line in everything.splitlines())


@pytest.mark.integration
def test_the_female_english_voice_speaks_higher(tmp_path: Path) -> None:
    import numpy as np

    def pitch_hz(spec: str) -> float:
        clip = open_voice(spec, cache=False).synthesize("Breathe in slowly, and hold it there.")
        # The autocorrelation peak between 70 and 400 Hz of the loudest second of speech.
        x = clip[:44100].astype(np.float64)
        ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
        lo, hi = 44100 // 400, 44100 // 70
        return 44100 / (lo + int(np.argmax(ac[lo:hi])))

    male, female = pitch_hz("system:en-us"), pitch_hz("system:en-us+f3")
    assert female > 1.4 * male, (male, female)
    if voice_for("en", "female") != "system:en-us+f3":  # hibari's heart, where installed
        assert pitch_hz(voice_for("en", "female")) > 1.4 * male


def test_docs_name_the_female_voice() -> None:
    root = Path(__file__).parent.parent
    voices_doc = (root / "docs" / "voices.md").read_text(encoding="utf-8")
    assert "system:en-us+f3" in voices_doc and "--voice female" in voices_doc
