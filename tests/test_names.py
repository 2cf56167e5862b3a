"""Names and notes as clinics write them, through every surface: hostile names (markup, a script
comment, right-to-left, emoji) and notes through `batch` and `program`; control characters
refused at the clients file with their line; spreadsheets as Excel saves them; slugs in ASCII."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import podcastparser
import pytest
import yaml
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioguide.cli import cli
from audioguide.clients.roster import RosterError, read_roster
from audioguide.errors import RoutineError
from audioguide.paths import distinct_slugs, slug
from audioguide.publish.companions import vtt_text
from audioguide.publish.feed import description_html
from audioguide.publish.html import script_json
from audioguide.publish.tags import id3_language
from batchtools import KNEE, without_pdf
from chromium import needs_chromium, wait_for_audio, wait_for_seek, watch
from chromium import page as browser

SCRIPT_COMMENT = "Ann <!--<script> Li"
MARKUP = "</script><img src=x onerror=alert(1)>"
ARABIC = "فاطمة الزهراء"
NAMES = (SCRIPT_COMMENT, MARKUP, ARABIC, "Jürgen Groß", "Lena Müller 🌻")
CLIENTS = (
    "name,hold,language\n"
    f'"{SCRIPT_COMMENT}",2s,\n"{MARKUP}",2s,\n{ARABIC},2s,fr\nJürgen Groß,2s,de\n'
    "Lena Müller 🌻,2s,de\n"
)
NOTES = "<img src=x onerror=alert(1)> Stop if it hurts < 3/10 & rest. <iframe src=//x></iframe>"
PROGRAM = f"""\
title: Knee <!--<script> program
routine: knee.yaml
start: 2026-12-07
every: 1 week
clinic: {{name: "Lee's <b>Physio</b>", contact: 555 0100}}
sessions:
  - notes: "{NOTES}"
"""
TRANSLATIONS = {
    "fr": (
        "Genou",
        "Bonjour {client}.",
        "Flexion du genou",
        "Pliez le genou.",
        "Relâchez.",
        "Au revoir.",
    ),
    "de": (
        "Knie",
        "Hallo {client}.",
        "Kniebeuge",
        "Beugen Sie das Knie.",
        "Lösen.",
        "Auf Wiedersehen.",
    ),
}
ENGLISH = ("Knee", "Hello {client}.", "Knee bend", "Bend the knee.", "Release.", "Goodbye.")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What the terminal must never receive (tab and newline print as themselves)."""


@pytest.fixture(autouse=True)
def _no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    without_pdf(monkeypatch)


def run(runner: CliRunner, *args: object) -> tuple[int, str]:
    result = runner.invoke(cli, [*map(str, args), "--voice", "fake", "--workers", "1"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def routine(folder: Path) -> Path:
    """knee.yaml with its French and German lines beside it."""
    for language, lines in TRANSLATIONS.items():
        pairs = "".join(f'  "{en}": "{xx}"\n' for en, xx in zip(ENGLISH, lines, strict=True))
        (folder / f"knee.{language}.yaml").write_text(f"lines:\n{pairs}", encoding="utf-8")
    path = folder / "knee.yaml"
    path.write_text(KNEE, encoding="utf-8")
    return path


def roster(tmp_path: Path, text: str | bytes, name: str = "clients.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


# -- The clients file --------------------------------------------------------------------------


def test_excels_european_csv_is_read(tmp_path: Path) -> None:
    # Excel in Germany or France: "CSV" is separated by semicolons, with a BOM and CRLF.
    data = '\ufeffname;hold;rate\r\nJürgen Groß;2,5s;130\r\n"Li; Ann";3s;\r\n'.encode()
    rows = read_roster(roster(tmp_path, data)).rows
    assert [(r.name, dict(r.cells), r.where.line) for r in rows] == [
        ("Jürgen Groß", {"hold": "2,5s", "rate": "130"}, 2),
        ("Li; Ann", {"hold": "3s"}, 3),
    ]
    tabbed = read_roster(roster(tmp_path, "name\thold\nAnn Li\t3s\n", "tabs.csv")).rows
    assert [(r.name, dict(r.cells)) for r in tabbed] == [("Ann Li", {"hold": "3s"})]
    # Excel's own hint line, and blank lines before the header: the lines still count.
    said = read_roster(roster(tmp_path, "sep=;\r\n\r\nname;hold\r\nAnn;3s\r\n", "sep.csv"))
    assert [(r.name, dict(r.cells), r.where.line) for r in said.rows] == [
        ("Ann", {"hold": "3s"}, 4)
    ]


def test_a_header_without_name_names_its_separator(tmp_path: Path) -> None:
    path = roster(tmp_path, "nom;tenue\r\nAnn;3s\r\n")
    with pytest.raises(RosterError) as e:
        read_roster(path)
    assert str(e.value) == (
        f"{path}:1: the header has no 'name' column (its columns, separated by semicolons: nom, "
        "tenue); the first line names the columns, e.g. name;hold (commas, semicolons or tabs "
        "between them)"
    )


def test_excels_windows_1252_and_utf16_are_named_with_the_fix(tmp_path: Path) -> None:
    path = roster(tmp_path, "name,hold\nAnn,3s\nJürgen Groß,2s\n".encode("cp1252"))
    with pytest.raises(RoutineError) as e:
        read_roster(path)
    assert str(e.value) == (
        f"{path}:3: not UTF-8 text; save the file as UTF-8 (it looks like Windows-1252, where "
        "the byte 0xFC here is 'ü'): in Excel choose Save As, \"CSV UTF-8 (Comma delimited)\""
    )
    path = roster(tmp_path, "name\tHold\nAnn\t3s\n".encode("utf-16"))
    with pytest.raises(RoutineError, match=r"not UTF-8 text; .*\(it is UTF-16, as Excel saves"):
        read_roster(path)


@pytest.mark.parametrize(
    ("cell", "named"),
    [
        ("Ann\x1b]0;owned\x07", "U+001B ESC"),
        ("Ann\x00Li", "U+0000 NUL"),
        ("Ann\x07", "U+0007 BEL (a beep)"),
        ("Ann\x7f", "U+007F DEL"),
        ("Ann\x85Li", "U+0085 NEXT LINE (NEL)"),
        ("Ann\u2028Li", "U+2028 LINE SEPARATOR"),
        ("Ann\u2029Li", "U+2029 PARAGRAPH SEPARATOR"),
        ("Ann\x0bLi", "U+000B VERTICAL TAB"),
        ("Ann\x0cLi", "U+000C FORM FEED"),
        ("Ann\u202eiL", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("Ann\x9bLi", "U+009B CONTROL"),
    ],
)
def test_control_and_separator_characters_are_refused_on_their_line(
    tmp_path: Path, cell: str, named: str
) -> None:
    # One client each: a separator never splits a row in two.
    path = roster(tmp_path, f'name,hold\nBo,3s\n"{cell}",2s\nCy,{cell}\n')
    problems = [str(p) for p in read_roster(path).problems]
    assert problems == [
        f"{path}:3: column 'name': holds {named}, a control or separator character no name may "
        "hold: retype it (such characters come with text pasted from other programs)",
        f"{path}:4: column 'hold': holds {named}, a control or separator character no cell may "
        "hold: retype it (such characters come with text pasted from other programs)",
    ]


def test_a_name_has_a_length_limit_and_is_refused_at_once(tmp_path: Path) -> None:
    path = roster(tmp_path, "name,hold\n" + "x" * 120_000 + ",3s\n")
    started = time.perf_counter()
    problems = [str(p) for p in read_roster(path).problems]
    assert time.perf_counter() - started < 1.0
    assert problems == [
        f"{path}:2: column 'name': 120,000 characters, over the 100 a name may have: shorten it"
    ]


def test_csv_errors_name_the_line_to_fix(tmp_path: Path) -> None:
    path = roster(tmp_path, 'name,hold\nAnn,3s\n\nBo,"3s\nCy,2s\n')
    with pytest.raises(RosterError) as e:
        read_roster(path)
    assert str(e.value) == f"{path}:4: this row opens a quote that is never closed: close it"
    path = roster(tmp_path, 'name,hold\nAnn,3s\n"Bo"x,3s\nCy,2s\n')
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}:3: not a CSV file the way"):
        read_roster(path)
    path = roster(tmp_path, 'name,hold\n"Ann\nLi",3s\nBo,3s,x\n')
    assert [str(p) for p in read_roster(path).problems] == [
        f"{path}:4: this row has 3 cells for 2 columns: put a cell that holds a comma in quotes, "
        'e.g. "Li, Ann"'
    ]


def test_yaml_cells_are_read_as_written(tmp_path: Path) -> None:
    path = roster(
        tmp_path,
        "- {name: NO, hold: 0012}\n- name: 0012\n  hold: 1e3\n  rate: ~\n- {name: true}\n",
        "clients.yaml",
    )
    rows = read_roster(path).rows
    assert [(r.name, dict(r.cells)) for r in rows] == [
        ("NO", {"hold": "0012"}),
        ("0012", {"hold": "1e3"}),
        ("true", {}),
    ]


# -- Slugs --------------------------------------------------------------------------------------


def test_slugs_transliterate_every_script() -> None:
    assert slug("Jürgen Groß") == "jurgen-gross"
    assert slug("Zoë O'Brien") == "zoe-obrien"
    assert slug(ARABIC) == "ftmh-lzhr"
    assert slug("Дмитрий") == "dmitriy"
    assert slug("Ελένη") == "eleni"
    assert slug("李小龙") == "li-xiao-long"
    assert slug("Lena Müller 🌻") == "lena-muller"
    assert slug("🌻") == "sunflower"
    assert slug("../<script>") == "script"
    assert distinct_slugs([ARABIC, ARABIC, "فاطمة"]) == ["ftmh-lzhr", "ftmh-lzhr-2", "ftmh"]


# -- One escaping rule a surface -----------------------------------------------------------------


def test_each_surfaces_rule() -> None:
    data = {"t": f"{SCRIPT_COMMENT} {MARKUP} a & b \u2028"}
    assert "<" not in script_json(data) and ">" not in script_json(data)
    assert "Ann \\u003c!--\\u003cscript\\u003e Li" in script_json(data)
    assert vtt_text("a --> b <c> & d\n\ne") == "a --&gt; b &lt;c&gt; &amp; d e"
    assert [id3_language(x) for x in ("en", "es", "de", "fr", "fr-CA", "xx")] == [
        "eng",
        "spa",
        "deu",
        "fra",
        "fra",
        "und",
    ]
    assert description_html("a <b>\nc & d") == "<p>a &#60;b&#62;<br>c &#38; d</p>"


# -- Through the commands ---------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path, runner: CliRunner) -> tuple[Path, str]:
    routine(tmp_path)
    clients = roster(tmp_path, CLIENTS)
    code, output = run(
        runner, "batch", tmp_path / "knee.yaml", "--clients", clients, "-o", tmp_path / "out"
    )
    assert code == 0, output
    return tmp_path / "out", output


def test_hostile_names_through_batch_leave_every_file_valid(built: tuple[Path, str]) -> None:
    out, output = built
    assert not CONTROL.search(output)
    folders = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert folders == sorted(
        [
            "ann-script-li",
            "script-img-src-x-onerror-alert-1",
            "ftmh-lzhr",
            "jurgen-gross",
            "lena-muller",
        ]
    )
    for name, folder in zip(NAMES, distinct_slugs(NAMES), strict=True):
        track = out / folder / f"knee-{folder}.mp3"
        tags = ID3(track)
        assert tags["TALB"].text == [
            f"{'Pour' if name == ARABIC else 'Für' if 'ü' in name else 'For'} {name}"
        ]
        (comment,) = tags.getall("COMM")
        assert comment.lang == {ARABIC: "fra", "Jürgen Groß": "deu", "Lena Müller 🌻": "deu"}.get(
            name, "eng"
        )
        vtt = track.with_suffix(".vtt").read_text(encoding="utf-8")
        _valid_vtt(vtt)
        assert vtt_text(name) in vtt
        lrc = track.with_suffix(".lrc").read_text(encoding="utf-8").splitlines()
        assert all(re.match(r"\[(ti|ar|length|\d\d:\d\d\.\d\d)[:\]]", line) for line in lrc)
        page = (out / folder / "index.html").read_text(encoding="utf-8")
        data = page.split('id="data">')[1].split("</script>")[0]
        assert "<" not in data and f"Hello {name}" not in page
        assert "<bdi>" in page
    arabic = (out / "ftmh-lzhr" / "index.html").read_text(encoding="utf-8")
    assert f"<bdi>{ARABIC}</bdi> &middot; " in arabic


def _valid_vtt(text: str) -> None:
    """WebVTT as browsers read it: the header, then blocks of id, timing, and one text line."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    for block in blocks[1:]:
        number, timing, cue = block.split("\n")
        assert number.isdigit()
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", timing)
        assert "-->" not in cue and "<" not in cue and not CONTROL.search(cue)


def test_control_characters_in_names_never_reach_the_terminal(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    clients = roster(tmp_path, 'name\nAnn\x1b]0;owned\x07\nBo\x00\nCy\x7f\n"Di\u2028Li"\n')
    code, output = run(
        runner, "batch", tmp_path / "knee.yaml", "--clients", clients, "-o", tmp_path / "out"
    )
    assert code == 1
    assert not CONTROL.search(output)
    assert [line.split(": column")[0] for line in output.splitlines()] == [
        f"Error: {clients}:{n}" for n in (2, 3, 4, 5)
    ]
    assert not (tmp_path / "out").exists()


@pytest.fixture
def site(tmp_path: Path, runner: CliRunner) -> tuple[Path, str]:
    routine(tmp_path)
    (tmp_path / "program.yaml").write_text(PROGRAM, encoding="utf-8")
    for language in ("fr", "de"):
        # The program's texts for the French and German clients: as hostile as the English.
        texts = {"Knee <!--<script> program": "Knee <!--<script> program", NOTES: NOTES}
        sidecar = yaml.safe_dump({"lines": texts}, allow_unicode=True)
        (tmp_path / f"program.{language}.yaml").write_text(sidecar, encoding="utf-8")
    clients = roster(tmp_path, CLIENTS)
    code, output = run(
        runner,
        "program",
        tmp_path / "program.yaml",
        "--clients",
        clients,
        "-o",
        tmp_path / "site",
        "--base-url",
        "https://clinic.example/p",
        "--today",
        "2026-12-07",
    )
    assert code == 0, output
    return tmp_path / "site.preview", output


def test_notes_and_names_through_program_reach_podcast_apps_as_written(
    site: tuple[Path, str],
) -> None:
    folder, output = site
    assert not CONTROL.search(output)
    feeds = sorted(folder.glob("*/feed.xml"))
    assert len(feeds) == len(NAMES)
    titles = set()
    for xml in feeds:
        parsed: dict[str, Any] = podcastparser.parse(
            "https://clinic.example/p/x/feed.xml", io.BytesIO(xml.read_bytes())
        )
        titles.add(parsed["title"])
        (episode,) = parsed["episodes"]
        chapters = next(xml.parent.glob("01/*.chapters.txt")).read_text(encoding="utf-8")
        assert episode["description"] == f"{NOTES}\n\n{chapters.strip()}"
        assert "<img" not in xml.read_text(encoding="utf-8")
    assert titles == {f"Knee <!--<script> program: {name}" for name in NAMES}
    subscribe = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*/index.html"))
    assert f"<h1><bdi>Knee &lt;!--&lt;script&gt; program: {ARABIC}</bdi></h1>" in subscribe


# -- In a browser ---------------------------------------------------------------------------------


@pytest.mark.integration
@needs_chromium
def test_the_page_script_runs_and_chapters_seek_whatever_the_name(
    built: tuple[Path, str], site: tuple[Path, str]
) -> None:
    out, _ = built
    pages = [
        out / "ann-script-li" / "index.html",
        out / "script-img-src-x-onerror-alert-1" / "index.html",
    ]
    pages += sorted(site[0].glob("*/01/index.html"))
    with browser("--autoplay-policy=no-user-gesture-required") as tab:
        seen = watch(tab)
        for page in pages:
            tab.goto(page.as_uri())
            wait_for_audio(tab)
            # The script ran: its data parsed, and a click on the second chapter seeks to it.
            chapters = tab.evaluate(
                "JSON.parse(document.getElementById('data').textContent).chapters"
            )
            assert len(chapters) == 2, page
            tab.locator(".chapters button").nth(1).click()
            wait_for_seek(tab, chapters[1]["start"])
            assert tab.evaluate("document.querySelectorAll('img[onerror], iframe').length") == 0
            assert not seen.errors, (page, seen.errors)
        # A right-to-left name keeps the date after it: "Pour فاطمة الزهراء · 6 décembre".
        tab.goto((out / "ftmh-lzhr" / "index.html").as_uri())
        name_right, digit_left = tab.evaluate(_NAME_THEN_DATE)
        assert digit_left > name_right


_NAME_THEN_DATE = """() => {
const line = document.querySelector("p.for"), name = line.querySelector("bdi");
const date = line.lastChild, at = date.textContent.search(/[0-9]/), digit = document.createRange();
digit.setStart(date, at); digit.setEnd(date, at + 1);
return [name.getBoundingClientRect().right, digit.getBoundingClientRect().left];
}"""
"""Where the name ends and the date's first digit starts, across the page (left to right)."""


# -- A rest that never comes ----------------------------------------------------------------------


def test_a_rest_with_one_set_is_a_warning_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "squat.yaml"
    path.write_text(
        "title: Squats\nsteps:\n  - exercise: Squat\n    reps: 3\n    rest: 10s\n"
        "    rep: [{hold: 2s}]\n  - exercise: Lunge\n    sets: 2\n    rest: 10s\n    hold: 2s\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["check", str(path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        f"Warning: {path}:5: step 1: 'rest' is the rest between sets, and this exercise has one "
        "set, so it is never taken: add 'sets: 2' or more, or a 'pause:' inside 'rep'"
    ]


def test_share_refuses_a_client_name_with_a_control_character(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        cli, ["share", str(routine(tmp_path)), "--client", "Ann\x1b]0;owned\x07", "--voice", "fake"]
    )
    assert result.exit_code == 2
    assert not CONTROL.search(result.output)
    assert "--client: holds U+001B ESC, a control or separator character" in result.output


def test_a_var_with_a_control_character_is_refused_and_plan_prints_none(
    runner: CliRunner, tmp_path: Path
) -> None:
    knee = str(routine(tmp_path))
    result = runner.invoke(cli, ["plan", knee, "--var", "client=Ann\x1b]0;owned\x07"])
    assert result.exit_code == 2
    assert "'client': holds U+001B ESC, a control or separator character no var" in result.output
    assert not CONTROL.search(result.output)
    # A routine's own text can hold one (YAML's "\e"): plan prints it escaped.
    escaped = tmp_path / "escaped.yaml"
    escaped.write_text('title: "T\\e]0;x\\a"\nsteps:\n  - say: "Hi \\e[31m"\n', encoding="utf-8")
    result = runner.invoke(cli, ["plan", str(escaped), "--voice", "fake"])
    assert result.exit_code == 0, result.output
    assert not CONTROL.search(result.output)
    assert result.output.startswith("T\\x1b]0;x\\x07\n")


def test_id3_values_stay_one_value_each(tmp_path: Path) -> None:
    from audioguide.publish.tags import Tags, write_tags

    part = tmp_path / "t.mp3"
    part.write_bytes(b"")
    tags = Tags(
        title="Knee\x00bend", album="For Ann\x00Li", comment="Ann\x00\r\nLi\x1b", language="es"
    )
    write_tags(part, tags, [], "audioguide", part)
    id3 = ID3(part)
    assert id3["TIT2"].text == ["Knee bend"]
    assert id3["TALB"].text == ["For Ann Li"]
    (comment,) = id3.getall("COMM")
    assert (comment.lang, comment.text) == ("spa", ["Ann\nLi"])


def test_batch_builds_from_excels_european_csv(runner: CliRunner, tmp_path: Path) -> None:
    clients = roster(tmp_path, '\ufeffname;hold\r\nJürgen Groß;2s\r\n"Li; Ann";3s\r\n'.encode())
    code, output = run(
        runner, "batch", routine(tmp_path), "--clients", clients, "-o", tmp_path / "out"
    )
    assert code == 0, output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["jurgen-gross", "li-ann"]
