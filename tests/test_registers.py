"""Registers through the CLI: a routine or a program says `register: formal` or `informal`, and
every phrase the tool speaks (switch sides, halfway, rest, done, the breath cues) and every label
it writes follows: vous or tu, usted or tú, Sie or du. Without one, a language's own default."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Final

import pytest
import yaml
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.publish import outputs
from audioguide.strings import LANGUAGES, REGISTERS, Plural, Register, table

ROUTINE: Final = """\
title: Registers
language: {code}
{register}steps:
  - exercise: Stretch
    sides: [right, left]
    sets: 2
    rest: 10s
    rep: [{{hold: {{duration: 10, halfway: true}}}}]
  - breathe: {{pattern: box, cycles: 1}}
  - interval: {{work: 10s, rest: 10s, rounds: 2}}
"""

SPOKEN: Final[dict[str, dict[Register, list[str]]]] = {
    "fr": {
        "formal": [
            "Changez de côté.",
            "Vous êtes à la moitié.",
            "Reposez-vous.",
            "C'est terminé. Vous avez bien travaillé.",
            "Inspirez.",
            "Préparez-vous. D'abord : Intervalles.",
        ],
        "informal": [
            "Change de côté.",
            "Tu es à la moitié.",
            "Repose-toi.",
            "C'est terminé. Tu as bien travaillé.",
            "Inspire.",
            "Prépare-toi. D'abord : Intervalles.",
        ],
    },
    "es": {
        "formal": [
            "Cambie de lado.",
            "Va por la mitad.",
            "Descanse.",
            "Y terminamos. Lo ha hecho muy bien.",
            "Inhale.",
            "Prepárese. Primero: Intervalos.",
        ],
        "informal": [
            "Cambia de lado.",
            "Vas por la mitad.",
            "Descansa.",
            "Y terminamos. Lo has hecho muy bien.",
            "Inhala.",
            "Prepárate. Primero: Intervalos.",
        ],
    },
    "de": {
        "formal": [
            "Wechseln Sie die Seite.",
            "Sie haben die Hälfte geschafft.",
            "Ruhen Sie sich aus.",
            "Und fertig. Das haben Sie gut gemacht.",
            "Atmen Sie ein.",
            "Machen Sie sich bereit. Zuerst: Intervalle.",
        ],
        "informal": [
            "Wechsle die Seite.",
            "Du hast die Hälfte geschafft.",
            "Ruh dich aus.",
            "Und fertig. Das hast du gut gemacht.",
            "Atme ein.",
            "Mach dich bereit. Zuerst: Intervalle.",
        ],
    },
}
"""What each register says for switch sides, halfway, rest, done, breathe in and get ready."""
DEFAULTS: Final[dict[str, Register]] = {
    "en": "formal",
    "fr": "formal",
    "es": "informal",
    "de": "formal",
}
"""Each language's own register, as docs/routines.md gives it."""
ADDRESS: Final = {
    "formal": {
        "fr": r"\b([Vv]ous|[Vv]os|[Vv]otre)\b",
        "es": r"\b[Uu]sted\b",
        "de": r"\b(Sie|Ihr\w*)\b",
    },
    "informal": {
        "fr": r"\b([Tt]u|[Tt]oi|[Tt]es|[Tt]on|[Tt]a)\b",
        "es": r"\b([Tt]ú|ti|[Tt]us?)\b",
        "de": r"\b([Dd]u|[Dd]ein\w*|[Dd]ich|[Dd]ir)\b",
    },
}
"""Words that show a register in a text."""
REGISTERED = sorted(SPOKEN)


def _write(folder: Path, code: str, register: str | None, name: str = "routine.yaml") -> Path:
    path = folder / name
    line = f"register: {register}\n" if register else ""
    path.write_text(ROUTINE.format(code=code, register=line), encoding="utf-8")
    return path


def _spoken(runner: CliRunner, routine: Path, *args: str) -> list[str]:
    result = runner.invoke(cli, ["plan", str(routine), "--voice", "fake", "--json", *args])
    assert result.exit_code == 0, result.output
    return [c["text"] for c in json.loads(result.stdout)["cues"] if c.get("text")]


def _other(register: Register) -> Register:
    return "informal" if register == "formal" else "formal"


# --- the tables ---------------------------------------------------------------------------------


def test_each_table_says_its_default_register_and_lists_only_what_differs() -> None:
    for code in LANGUAGES:
        assert table(code).register == table(code).default_register == DEFAULTS[code], code
        raw = yaml.safe_load(
            (Path(__file__).parent.parent / "src/audioguide/languages" / f"{code}.yaml").read_text(
                encoding="utf-8"
            )
        )
        assert raw["register"] == DEFAULTS[code] and set(raw["registers"]) == set(REGISTERS)
        for register, own in raw["registers"].items():
            for section in ("speech", "labels", "subscribe"):
                # A register's phrases are the ones that differ: never also among the shared ones.
                assert not set(own.get(section, {})) & set(raw[section]), (code, register, section)
    assert table("en", "formal").speech == table("en", "informal").speech


@pytest.mark.parametrize("code", REGISTERED)
def test_the_two_registers_differ_in_every_phrase_that_addresses_the_listener(code: str) -> None:
    formal, informal = table(code, "formal"), table(code, "informal")
    for key in ("switch", "halfway", "rest", "done", "inhale", "exhale", "ready"):
        assert formal.speech[key] != informal.speech[key], (code, key)
    for key in ("intro", "private", "other_step_1", "qr_heading"):
        assert formal.subscribe[key] != informal.subscribe[key], (code, key)
    assert formal.labels["subscribe_heading"] != informal.labels["subscribe_heading"], code
    for register in REGISTERS:
        t = table(code, register)
        labels = [
            form
            for v in t.labels.values()
            for form in ((v.one, v.other) if isinstance(v, Plural) else (v,))
        ]
        texts = [*t.speech.values(), *t.subscribe.values(), *labels]
        # Every text the tool speaks or writes, in one register: no word of the other.
        wrong = ADDRESS[_other(register)][code]
        assert [x for x in texts if re.search(wrong, x)] == [], (code, register)
    # The football and road words for "halfway" are gone.
    assert "Halbzeit" not in repr(table("de").labels) + repr(table("de").speech)
    assert "mi-chemin" not in repr(table("fr").labels) + repr(table("fr").speech)


# --- a routine chooses ---------------------------------------------------------------------------


@pytest.mark.parametrize("register", REGISTERS)
@pytest.mark.parametrize("code", REGISTERED)
def test_a_routines_register_is_spoken_throughout(
    runner: CliRunner, tmp_path: Path, code: str, register: Register
) -> None:
    spoken = _spoken(runner, _write(tmp_path, code, register))
    for phrase in SPOKEN[code][register]:
        assert phrase in spoken, (code, register, phrase)
    others = set(SPOKEN[code][_other(register)])
    assert not others & set(spoken), (code, register)


@pytest.mark.parametrize("code", LANGUAGES)
def test_without_a_register_a_language_speaks_its_own(
    runner: CliRunner, tmp_path: Path, code: str
) -> None:
    spoken = _spoken(runner, _write(tmp_path, code, None))
    assert table(code).speech["switch"] in spoken and table(code).speech["halfway"] in spoken
    if code in SPOKEN:
        assert set(SPOKEN[code][DEFAULTS[code]]) <= set(spoken)


def test_the_register_follows_the_routine_into_its_translations(
    runner: CliRunner, tmp_path: Path
) -> None:
    routine = _write(tmp_path, "en", "informal")
    (tmp_path / "routine.fr.yaml").write_text(
        "lines: {Registers: Registres, Stretch: Étirement}\n", encoding="utf-8"
    )
    (tmp_path / "routine.de.yaml").write_text(
        "lines: {Registers: Register, Stretch: Dehnung}\n", encoding="utf-8"
    )
    assert "Change de côté." in _spoken(runner, routine, "--language", "fr")
    assert "Wechsle die Seite." in _spoken(runner, routine, "--language", "de")
    assert "Switch sides." in _spoken(runner, routine)
    # A translation written in the other register says so, and the tool's words follow it.
    with (tmp_path / "routine.de.yaml").open("a", encoding="utf-8") as sidecar:
        sidecar.write("register: formal\n")
    assert "Wechseln Sie die Seite." in _spoken(runner, routine, "--language", "de")


def test_a_var_may_choose_the_register(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "routine.yaml"
    text = ROUTINE.format(code="de", register='vars: {address: formal}\nregister: "{address}"\n')
    path.write_text(text, encoding="utf-8")
    assert "Wechseln Sie die Seite." in _spoken(runner, path)
    assert "Wechsle die Seite." in _spoken(runner, path, "--var", "address=informal")


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("informel", "did you mean 'informal'?"),
        ("vous", "did you mean 'formal'?"),
        ("du", "did you mean 'informal'?"),
        ("casual", "registers: formal, informal"),
    ],
)
def test_an_unknown_register_is_one_error_line_with_its_place(
    runner: CliRunner, tmp_path: Path, written: str, hint: str
) -> None:
    routine = _write(tmp_path, "fr", written)
    for command in ("plan", "check"):
        result = runner.invoke(cli, [command, str(routine), "--voice", "fake"])
        assert result.exit_code == 1
        assert result.output == (
            f"Error: {routine}:3: 'register' is formal (vous, usted, Sie) or informal (tu, tú, "
            f'du), got "{written}": {hint}\n'
        )


# --- the page and the handout --------------------------------------------------------------------


@pytest.fixture
def _no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chromium's PDF is the handout's HTML printed: the HTML is what these tests read.
    chosen = tuple(o for o in outputs.COMMAND_OUTPUTS["share"] if o is not outputs.Output.PDF)
    monkeypatch.setitem(outputs.COMMAND_OUTPUTS, "share", chosen)


def _share(runner: CliRunner, routine: Path) -> tuple[str, str]:
    folder = routine.parent / "out"
    args = ["share", str(routine), "--voice", "fake", "-o", str(folder), "--client", "Ana"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    page, handout = (
        (folder / n).read_text(encoding="utf-8") for n in ("index.html", "handout.html")
    )
    return unescape(page), unescape(handout)


@pytest.mark.usefixtures("_no_pdf")
@pytest.mark.parametrize(
    ("code", "register"), [("fr", "informal"), ("es", "formal"), ("de", "informal")]
)
def test_the_page_and_handout_follow_the_register(
    runner: CliRunner, tmp_path: Path, code: str, register: Register
) -> None:
    page, handout = _share(runner, _write(tmp_path, code, register))
    for phrase in SPOKEN[code][register][:4]:
        assert phrase in page, (code, phrase)
    for phrase in SPOKEN[code][_other(register)][:4]:
        assert phrase not in page + handout, (code, phrase)
    if code == "es":
        # The interval's time to get ready, as the handout writes it.
        assert "10\u00a0s para prepararse" in handout and "prepararte" not in handout


# --- a program chooses for its sessions ----------------------------------------------------------

PROGRAM: Final = """\
title: Yoga
routine: routine.yaml
start: 2026-12-07
{register}sessions:
  - title: Semaine 1
language: fr
"""


def _program(runner: CliRunner, folder: Path, register: str | None) -> tuple[int, str]:
    line = f"register: {register}\n" if register else ""
    (folder / "program.yaml").write_text(PROGRAM.format(register=line), encoding="utf-8")
    (folder / "clients.csv").write_text("name\nAna\n", encoding="utf-8")
    args = ["program", str(folder / "program.yaml"), "--clients", str(folder / "clients.csv")]
    site = ["-o", str(folder / "site"), "--base-url", "https://clinic.example/p"]
    site += ["--today", "2026-12-07"]  # a preview of the day session 1 comes out
    result = runner.invoke(cli, [*args, *site, "--voice", "fake", "--workers", "1"])
    return result.exit_code, result.output


@pytest.mark.usefixtures("_no_pdf")
def test_a_programs_register_is_over_its_routines(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = tuple(o for o in outputs.COMMAND_OUTPUTS["program"] if o is not outputs.Output.PDF)
    monkeypatch.setitem(outputs.COMMAND_OUTPUTS, "program", chosen)
    _write(tmp_path, "fr", "formal")
    code, output = _program(runner, tmp_path, "informal")
    assert code == 0, output
    (page,) = (tmp_path / "site.preview").glob("*/01/index.html")
    text = unescape(page.read_text(encoding="utf-8"))
    assert "Change de côté." in text and "Tu es à la moitié." in text
    assert "Changez de côté." not in text
    code, output = _program(runner, tmp_path, "tu")
    assert code == 1
    assert output == (
        f"Error: {tmp_path / 'program.yaml'}:4: 'register' is formal (vous, usted, Sie) or "
        "informal (tu, tú, du), got \"tu\": did you mean 'informal'?\n"
    )
