"""A mixed roster as a physio has one: six clients, four languages, names in two scripts, an
emoji and an apostrophe, one program. Every surface a client sees is in their language, and
`check` names the rows whose names the voice cannot say before anything is built."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import podcastparser
import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioguide.cli import cli
from audioguide.publish.cover import cover_png
from batchtools import KNEE, without_pdf

ARABIC = "فاطمة الزهراء"
EMOJI = "Lena Müller 🌻"
ROSTER = (
    "name,language\n"
    f"{ARABIC},fr\n"
    f"{EMOJI},de\n"
    "Jürgen Groß,de\n"
    "Siobhán O'Brien,en\n"
    "José Núñez,es\n"
    "Hélène Dubois,fr\n"
)
LANGUAGE = {
    ARABIC: "fr",
    EMOJI: "de",
    "Jürgen Groß": "de",
    "Siobhán O'Brien": "en",
    "José Núñez": "es",
    "Hélène Dubois": "fr",
}
PROGRAM = """\
title: Knee program
description: Gentle knee work at home, a little more each week.
routine: knee.yaml
start: 2026-12-07
every: 1 week
clinic: {name: Riverside Physio, contact: 555 0100}
sessions:
  - title: Week 1, gentle start
    vars: {hold: 2s}
    notes: Stop if it hurts.
  - title: Week 2, longer holds
    vars: {hold: 3s}
    notes: Breathe out as you bend.
"""
ENGLISH = (
    "Knee program",
    "Gentle knee work at home, a little more each week.",
    "Week 1, gentle start",
    "Week 2, longer holds",
    "Stop if it hurts.",
    "Breathe out as you bend.",
)
"""The program's own texts, as its author wrote them."""
PROGRAM_TEXTS = {
    "es": (
        "Programa de rodilla",
        "Trabajo suave de rodilla en casa, un poco más cada semana.",
        "Semana 1, comienzo suave",
        "Semana 2, esperas más largas",
        "Para si te duele.",
        "Suelta el aire al doblar.",
    ),
    "de": (
        "Knieprogramm",
        "Sanfte Knieübungen zu Hause, jede Woche ein wenig mehr.",
        "Woche 1, sanfter Beginn",
        "Woche 2, längeres Halten",
        "Hören Sie auf, wenn es schmerzt.",
        "Atmen Sie beim Beugen aus.",
    ),
    "fr": (
        "Programme genou",
        "Un travail doux du genou à la maison, un peu plus chaque semaine.",
        "Semaine 1, début en douceur",
        "Semaine 2, maintiens plus longs",
        "Arrêtez si cela fait mal.",
        "Expirez en pliant.",
    ),
}
ROUTINE_LINES = ("Knee", "Hello {client}.", "Knee bend", "Bend the knee.", "Release.", "Goodbye.")
ROUTINE_TEXTS = {
    "es": ("Rodilla", "Hola {client}.", "Flexión", "Dobla la rodilla.", "Suelta.", "Adiós."),
    "de": ("Knie", "Hallo {client}.", "Kniebeuge", "Beugen Sie das Knie.", "Lösen.", "Tschüss."),
    "fr": ("Genou", "Bonjour {client}.", "Flexion", "Pliez le genou.", "Relâchez.", "Au revoir."),
}
TOOL_ENGLISH = ("Chapters", "December", "Subscribe", "Copy", "Play", "Transcript")
"""What the tool itself writes in English, which no other language's surface may hold."""


@pytest.fixture(autouse=True)
def _no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    without_pdf(monkeypatch)


def _sidecar(path: Path, english: tuple[str, ...], translated: tuple[str, ...]) -> None:
    pairs = "".join(f'  "{e}": "{t}"\n' for e, t in zip(english, translated, strict=True))
    path.write_text(f"lines:\n{pairs}", encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The program built once for the six, on a day both sessions are out."""
    folder = tmp_path_factory.mktemp("four")
    (folder / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (folder / "program.yaml").write_text(PROGRAM, encoding="utf-8")
    (folder / "clients.csv").write_text(ROSTER, encoding="utf-8")
    for language in PROGRAM_TEXTS:
        _sidecar(folder / f"knee.{language}.yaml", ROUTINE_LINES, ROUTINE_TEXTS[language])
        _sidecar(folder / f"program.{language}.yaml", ENGLISH, PROGRAM_TEXTS[language])
    with pytest.MonkeyPatch.context() as patch:
        without_pdf(patch)
        result = CliRunner().invoke(
            cli,
            [
                "program",
                str(folder / "program.yaml"),
                "--clients",
                str(folder / "clients.csv"),
                "-o",
                str(folder / "site"),
                "--base-url",
                "https://clinic.example/p",
                "--today",
                "2026-12-20",
                "--voice",
                "fake",
                "--workers",
                "1",
            ],
        )
    assert result.exit_code == 0, result.output
    return folder, folder / "site.preview", result.stderr


def _client_folders(site: Path) -> dict[str, Path]:
    """Each client's folder in the site, by the name their feed carries."""
    folders = {}
    for feed in site.glob("*/feed.xml"):
        parsed = podcastparser.parse(str(feed), feed.open("rb"))
        name = next(n for n in LANGUAGE if n in parsed["title"])
        folders[name] = feed.parent
    assert sorted(folders) == sorted(LANGUAGE)
    return folders


def _surfaces(folder: Path) -> dict[str, str]:
    """Every text surface of a client's folder, as the reader gets it (markup entities decoded),
    and the tags of their tracks."""
    texts = {
        str(p.relative_to(folder)): _visible(p.read_text(encoding="utf-8"))
        if p.suffix == ".html"
        else html.unescape(p.read_text(encoding="utf-8"))
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".xml", ".html", ".vtt", ".lrc", ".txt", ".json")
    }
    for mp3 in sorted(folder.rglob("*.mp3")):
        tags = ID3(mp3)
        frames = [str(f) for key in ("TIT2", "TALB", "TPE1") for f in tags.getall(key)]
        frames += [c.text[0] for c in tags.getall("COMM")]
        frames += [t for chap in tags.getall("CHAP") for f in chap.sub_frames.values() for t in f]
        texts[str(mp3.relative_to(folder))] = "\n".join(frames)
    return texts


class _Visible(HTMLParser):
    """A page's words as a reader meets them: its text, its title and the labels of its controls,
    not its script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")
        shown = ("alt", "title", "aria-label", "placeholder", "content", "data-copied")
        self.words += [v for k, v in attrs if v and (k in shown or k.startswith("data-f"))]

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.words.append(data)


def _visible(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "\n".join(parser.words)


def _has(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text) is not None


@pytest.mark.parametrize("name", sorted(LANGUAGE))
def test_every_surface_speaks_the_clients_language(site: tuple[Path, Path, str], name: str) -> None:
    _, served, _ = site
    folder = _client_folders(served)[name]
    language = LANGUAGE[name]
    surfaces = _surfaces(folder)
    assert {"feed.xml", "index.html"} <= set(surfaces)
    assert len([s for s in surfaces if s.endswith(".mp3")]) == 2
    everything = "\n".join(surfaces.values())
    expected = ENGLISH if language == "en" else PROGRAM_TEXTS[language]
    for text in expected:
        assert text in everything, (name, text)
    if language == "en":  # what the other languages must not hold is there to be found
        for english in TOOL_ENGLISH:
            assert _has(everything, english), english
    else:
        for where, text in surfaces.items():
            for english in (*ENGLISH, *TOOL_ENGLISH):
                assert not _has(text, english), (name, where, english)
    # The tags: titles in the client's language, the comment marked with it.
    codes = {"en": "eng", "es": "spa", "de": "deu", "fr": "fra"}
    for mp3 in folder.rglob("*.mp3"):
        assert {c.lang for c in ID3(mp3).getall("COMM")} == {codes[language]}
    # The feed's cover: the program's title in the client's language, the name as written.
    title = expected[0]
    cover = (folder / "cover.png").read_bytes()
    assert cover == cover_png(f"{title}", f"{name} · Riverside Physio")
    assert name in (folder / "feed.xml").read_text(encoding="utf-8")


def test_the_feed_reads_as_written_in_a_podcast_app(site: tuple[Path, Path, str]) -> None:
    _, served, _ = site
    folder = _client_folders(served)["José Núñez"]
    feed = podcastparser.parse(str(folder / "feed.xml"), (folder / "feed.xml").open("rb"))
    assert feed["title"] == "Programa de rodilla: José Núñez"
    episodes = sorted(feed["episodes"], key=lambda e: e["published"])
    assert [e["title"] for e in episodes] == [
        "Semana 1, comienzo suave",
        "Semana 2, esperas más largas",
    ]
    notes = [e["description"].split("\n\n")[0] for e in episodes]  # then the chapter list
    assert notes == ["Para si te duele.", "Suelta el aire al doblar."]
    assert "00:00:02 Flexión" in episodes[0]["description"]


def test_the_build_and_check_name_the_two_names_the_voice_cannot_say(
    site: tuple[Path, Path, str],
) -> None:
    folder, _, built_warnings = site
    clients = folder / "clients.csv"
    expected = [
        f"Warning: {clients}:2: the name '{ARABIC}' holds letters of another script, which the "
        "French voice cannot say (it would spell it out, or leave it out): add a 'spoken' column "
        "with how to say it",
        f"Warning: {clients}:3: the name '{EMOJI}' holds emoji or symbols, which the German "
        "voice cannot say (it would spell it out, or leave it out): add a 'spoken' column with "
        "how to say it",
    ]
    assert [w for w in built_warnings.splitlines() if w.startswith("Warning")] == expected
    for target in ("program.yaml", "knee.yaml"):
        result = CliRunner().invoke(
            cli, ["check", str(folder / target), "--clients", str(clients), "--voice", "fake"]
        )
        assert result.exit_code == 0, result.output
        assert [w for w in result.stderr.splitlines() if w.startswith("Warning")] == expected
        assert result.stdout == f"{folder / target}: OK for 6 clients in {clients}\n"
    # A spoken form for each silences both.
    spoken = ROSTER.replace("name,language", "name,language,spoken")
    spoken = re.sub(r"(?m)^(.+,\w\w)$", r"\1,", spoken)
    spoken = spoken.replace(f"{ARABIC},fr,", f"{ARABIC},fr,Fatima Zahra")
    spoken = spoken.replace(f"{EMOJI},de,", f"{EMOJI},de,Lena Müller")
    fixed = folder / "spoken.csv"
    fixed.write_text(spoken, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["check", str(folder / "program.yaml"), "--clients", str(fixed), "--voice", "fake"]
    )
    assert result.exit_code == 0 and "Warning" not in result.stderr, result.output
