"""A client's program reaches that client and no one else, whatever happens to the roster: each
keeps their private address for life (by id, or by name when the names tell them apart), the
site's state is kept beside it (never served), a damaged state is an error, one run at a time
writes a site, and a corrected session reaches the subscribed app."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioguide.cli import cli
from audioguide.clients.state import CLIENTS, state_dir
from audioguide.files import lock
from audioguide.model import Pronunciation
from audioguide.voices.cache import CachedVoice
from audioguide.voices.fake import FakeVoice
from audioguide.voices.lexicon import Lexicon
from audiotools import decode_mp3
from batchtools import KNEE, without_pdf
from podcast_client import GPO, GPO_MISSING, run_gpo, serve, subscribe_and_download

PROGRAM = """\
title: Knee
routine: knee.yaml
start: 2026-12-07
sessions:
  - vars: {hold: 2s}
  - vars: {hold: 3s}
"""


@pytest.fixture(autouse=True)
def _no_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    without_pdf(monkeypatch)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "knee.yaml").write_text(KNEE, encoding="utf-8")
    (tmp_path / "program.yaml").write_text(PROGRAM, encoding="utf-8")
    return tmp_path


def program(runner: CliRunner, folder: Path, clients: str, base: str) -> tuple[int, str]:
    (folder / "clients.csv").write_text(clients, encoding="utf-8")
    args = [
        *("program", str(folder / "program.yaml"), "--clients", str(folder / "clients.csv")),
        *("-o", str(folder / "site"), "--base-url", base, "--today", "2026-12-20"),
        *("--voice", "fake", "--workers", "1"),
    ]
    result = runner.invoke(cli, args)
    return result.exit_code, result.output


def pages(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (.+?)  +\d+ sessions?  (\S+)$", output, flags=re.M))


def albums(files: tuple[Path, ...]) -> set[str]:
    return {str(ID3(f)["TALB"]) for f in files}


def test_the_sites_state_lives_beside_it_and_a_damaged_one_is_an_error(
    runner: CliRunner, files: Path
) -> None:
    code, output = program(runner, files, "name\nAnn Li\n", "https://clinic.example/p")
    assert code == 0, output
    site = files / "site"
    assert not list((files / "site.preview").rglob(".audioguide*")), "no state is served"
    state = state_dir(site) / CLIENTS
    token = json.loads(state.read_text())["clients"][0]["token"]
    assert pages(output)["Ann Li"].endswith(f"/{token}/")

    state.write_text(state.read_text()[:40], encoding="utf-8")  # cut short, as a full disk does
    before = sorted(p.name for p in (files / "site.preview").iterdir())
    code, output = program(runner, files, "name\nAnn Li\n", "https://clinic.example/p")

    assert code == 1
    assert output.startswith(f"Error: {state} is damaged (")
    assert output.rstrip().endswith(
        "restore it from a backup of "
        f"{state_dir(site)}; without it every client would get a new private address"
    )
    assert sorted(p.name for p in (files / "site.preview").iterdir()) == before


def test_two_clients_no_one_can_tell_apart_need_ids(runner: CliRunner, files: Path) -> None:
    clients = files / "clients.csv"
    code, output = program(runner, files, "name\nSam Taylor\nsam  taylor\n", "https://c.example")
    assert code == 1
    assert output == (
        f"Error: {clients}:3: \"sam taylor\" is also the name on {clients}:2: add an 'id' "
        "column (the clinic's own number for each client) so the two are never mixed up\n"
    )
    assert not (files / "site").exists()
    code, output = program(runner, files, "id,name\n7,Sam\n7,Ann\n", "https://c.example")
    assert code == 1 and f'{clients}:3: id "7" is {clients}:2\'s too' in output


def test_a_second_run_at_once_says_so_and_writes_nothing(runner: CliRunner, files: Path) -> None:
    site = files / "site"
    with lock(state_dir(site), "lock"):
        code, output = program(runner, files, "name\nAnn Li\n", "https://clinic.example/p")
    assert code == 1
    assert output == (
        f"Error: another audioguide run is writing {state_dir(site)} right now; wait for it "
        "to finish, then run this again\n"
    )
    assert not site.exists()


@pytest.mark.integration
def test_each_subscribed_client_keeps_their_own_sessions_whatever_the_roster_does(
    runner: CliRunner, files: Path
) -> None:
    """Zoë Martin and Zoe Martin are two people; two Sam Taylors are told apart by their ids.
    Their rows are reordered, one is removed: every subscribed app downloads its client's
    sessions and only theirs."""
    if GPO is None:
        pytest.skip(GPO_MISSING)
    site = files / "site.preview"
    site.mkdir()
    roster = "id,name\n,Zoë Martin\n,Zoe Martin\n101,Sam Taylor\n102,Sam Taylor\n"
    with serve(site) as base:
        code, output = program(runner, files, roster, base)
        assert code == 0, output
        first = pages(output)
        samples = re.findall(r"^  Sam Taylor +\d sessions?  (\S+)$", output, flags=re.M)
        assert len(set(first.values()) | set(samples)) == 4
        zoe = subscribe_and_download(first["Zoe Martin"] + "feed.xml", files / "zoe")
        sam = subscribe_and_download(samples[1] + "feed.xml", files / "sam102")
        assert albums(zoe.files) == {"For Zoe Martin"}

        # Zoë leaves; the Sams are listed the other way round (an export sorted by start date).
        code, output = program(
            runner, files, "id,name\n102,Sam Taylor\n101,Sam Taylor\n,Zoe Martin\n", base
        )
        assert code == 0, output
        assert "Zoë Martin: no longer on the list" in output
        assert pages(output)["Zoe Martin"] == first["Zoe Martin"]
        again = re.findall(r"^  Sam Taylor +\d sessions?  (\S+)$", output, flags=re.M)
        assert again == [samples[1], samples[0]]

        run_gpo(["update"], files / "zoe")
        run_gpo(["download"], files / "zoe")
        assert not run_gpo(["episodes", first["Zoë Martin"] + "feed.xml"], files / "zoe").count(
            "Knee"
        ), "Zoë's old feed is not Zoe's"
    zoe_files = sorted((files / "zoe" / "downloads").rglob("*.mp3"))
    assert albums(tuple(zoe_files)) == {"For Zoe Martin"}
    assert len(sam.files) == 2


@pytest.mark.integration
def test_a_corrected_session_reaches_the_subscribed_app(runner: CliRunner, files: Path) -> None:
    if GPO is None:
        pytest.skip(GPO_MISSING)
    site = files / "site.preview"
    site.mkdir()
    with serve(site) as base:
        code, output = program(runner, files, "name\nAnn Li\n", base)
        assert code == 0, output
        page = pages(output)["Ann Li"]
        before = subscribe_and_download(page + "feed.xml", files / "ann")
        assert len(before.files) == 2
        # A safety correction: session 1's hold was too long.
        (files / "program.yaml").write_text(PROGRAM.replace("{hold: 2s}", "{hold: 1s}"))
        code, output = program(runner, files, "name\nAnn Li\n", base)
        assert code == 0 and "1 built, 1 up to date" in output, output

        run_gpo(["update", page + "feed.xml"], files / "ann")
        listed = run_gpo(["episodes", "--guid", page + "feed.xml"], files / "ann")
        run_gpo(["download", page + "feed.xml"], files / "ann")

    (corrected,) = (site / page.removeprefix(base + "/") / "01").glob("*.mp3")
    got = [
        p
        for p in (files / "ann" / "downloads").rglob("*.mp3")
        if p.read_bytes() == corrected.read_bytes()
    ]
    assert got, listed
    plan_1s = len(decode_mp3(corrected))
    assert plan_1s < len(decode_mp3(before.files[0])) or plan_1s < len(decode_mp3(before.files[1]))


@pytest.mark.parametrize(
    ("base", "says"),
    [
        ("https://clinic.example/p q", "holds a space, a quote or a character"),
        ('https://c.example/"><script>', "holds a space, a quote or a character"),
        ("https://clinic.example/p#frag", "has a query or a fragment"),
        ("https://clinic.example:99999/p", "is not an address (Port out of range"),
        ("http://[::1", "is not an address ("),
        ("https://sam:secret@clinic.example/p", "holds a user name or password"),
        ("ftp://clinic.example/p", "is not an absolute http(s) address"),
    ],
)
def test_a_base_url_that_cannot_serve_is_refused_before_anything_is_built(
    runner: CliRunner, files: Path, base: str, says: str
) -> None:
    code, output = program(runner, files, "name\nAnn Li\n", base)
    assert code == 1
    assert output.startswith(f"Error: --base-url {base!r} {says}"), output
    assert output.count("\n") == 1 and not (files / "site").exists()


def test_dates_past_the_calendar_and_routines_outside_the_folder_are_refused(
    runner: CliRunner, files: Path
) -> None:
    clients = files / "clients.csv"
    code, output = program(runner, files, "name,start\nAnn Li,9999-12-25\n", "https://c.example")
    assert (code, output) == (
        1,
        f"Error: {clients}:2: column 'start': its last session would come out after the year "
        "9999: start earlier\n",
    )
    path = files / "program.yaml"
    path.write_text(PROGRAM.replace("start: 2026-12-07", "start: 9999-12-30"))
    code, output = program(runner, files, "name\nAnn Li\n", "https://c.example")
    assert (
        output == f"Error: {path}:3: session 2 would come out after the year 9999: start earlier\n"
    )
    path.write_text(PROGRAM.replace("routine: knee.yaml", "routine: /etc/hostname"))
    code, output = program(runner, files, "name\nAnn Li\n", "https://c.example")
    assert code == 1
    assert output == (
        f'Error: {path}:2: routine "/etc/hostname" is outside the program\'s folder ({files}): '
        "put the routine beside the program (or in a folder inside it), or name a bundled "
        "routine\n"
    )
    assert not (files / "site").exists()


@pytest.mark.integration
def test_the_paper_path_leads_to_a_page_that_plays_the_sessions(
    runner: CliRunner, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client with no podcast app scans the handout's QR code, lands on their page (at phone
    width), opens a released session and plays it, seeking a chapter."""
    from audioguide.publish import outputs
    from chromium import decode_qr, pdf_to_png, wait_for_audio, wait_for_seek
    from chromium import page as browser

    if outputs.find_chromium() is None:
        pytest.skip("Chromium is not installed")
    monkeypatch.setitem(
        outputs.COMMAND_OUTPUTS,
        "program",
        (*outputs.COMMAND_OUTPUTS["program"], outputs.Output.PDF),
    )
    site = files / "site.preview"
    site.mkdir()
    with serve(site) as base:
        code, output = program(runner, files, "name\nAnn Li\n", base)
        assert code == 0, output
        page = pages(output)["Ann Li"]
        folder = site / page.removeprefix(base + "/")
        assert decode_qr(pdf_to_png(folder / "01" / "handout.pdf", 1)) == [page]

        with browser(phone=True) as tab:
            tab.goto(page)
            assert tab.evaluate("innerWidth") == 390
            links = tab.locator(".sessions a")
            assert links.all_inner_texts() == ["Session 1: Knee", "Session 2: Knee"]
            links.nth(1).click()
            assert wait_for_audio(tab) > 5
            button = tab.locator(".chapters button").last
            start = float(button.get_attribute("data-start") or "nan")
            button.click()
            wait_for_seek(tab, start)
            assert tab.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_session_var_the_routine_does_not_have_is_a_dose_error(
    runner: CliRunner, files: Path
) -> None:
    path = files / "program.yaml"
    path.write_text(PROGRAM.replace("{hold: 3s}", "{hodl: 3s}"))
    code, output = program(runner, files, "name\nAnn Li\n", "https://c.example")
    assert (code, output) == (
        1,
        f"Error: {path}:6: vars: knee.yaml has no var 'hodl'; did you mean 'hold'?\n",
    )


@pytest.mark.integration
def test_a_routine_that_calls_its_client_name_greets_them_by_it(
    runner: CliRunner, files: Path
) -> None:
    (files / "knee.yaml").write_text(
        KNEE.replace("vars: {client: friend", "vars: {name: friend").replace("{client}", "{name}")
    )
    code, output = program(runner, files, "name\nAnn Li\n", "https://c.example")
    assert code == 0, output
    (vtt,) = (files / "site.audioguide" / "build").glob("*/01/*.vtt")
    assert "Hello Ann Li." in vtt.read_text() and "friend" not in vtt.read_text()


def test_a_personal_var_is_set_per_client_and_the_dry_run_shows_every_dose(
    runner: CliRunner, files: Path
) -> None:
    path = files / "program.yaml"
    (files / "clients.csv").write_text("name,hold\nAnn Li,\nSam Taylor,1s\n")
    args = ["program", str(path), "--clients", str(files / "clients.csv"), "--base-url"]
    args += ["https://c.example", "-o", str(files / "site"), "--voice", "fake", "--dry-run"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1 and "list it under the program's 'personal:'" in refused.output

    path.write_text(PROGRAM.replace("sessions:", "personal: [hold]\nsessions:"))
    result = runner.invoke(cli, args)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Ann Li  session 1  2026-12-07  client=Ann Li, hold=2s",
        "Ann Li  session 2  2026-12-14  client=Ann Li, hold=3s",
        "Sam Taylor  session 1  2026-12-07  client=Sam Taylor, hold=1s",
        "Sam Taylor  session 2  2026-12-14  client=Sam Taylor, hold=1s",
    ]
    assert not (files / "site").exists() and not (files / "site.audioguide").exists()


def test_a_batch_never_overwrites_a_folder_it_did_not_write(runner: CliRunner, files: Path) -> None:
    victim = files / "victim"
    (victim / "www").mkdir(parents=True)
    (victim / "www" / "index.html").write_text("the clinic's own home page")
    (files / "clients.csv").write_text("name\nWWW\n")
    args = ["batch", str(files / "knee.yaml"), "--clients", str(files / "clients.csv")]
    result = runner.invoke(cli, [*args, "-o", str(victim), "--voice", "fake", "--workers", "1"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {victim / 'www'} already holds files audioguide did not write (for 'WWW'); "
        "choose a new or empty output folder\n"
    )
    assert (victim / "www" / "index.html").read_text() == "the clinic's own home page"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_session_that_cannot_be_built_for_one_client_stops_the_run_before_any_is_built(
    runner: CliRunner, files: Path, workers: str
) -> None:
    """Week 2's countdown does not fit one client's shorter hold: found before week 1 is
    built for anyone, with the client's row and the routine's line."""
    (files / "knee.yaml").write_text(
        KNEE.replace('- hold: "{hold}"', '- hold: {duration: "{hold}", countdown: 3}')
    )
    (files / "program.yaml").write_text(
        PROGRAM.replace("{hold: 2s}", "{hold: 4s}")
        .replace("sessions:", "personal: [hold]\nsessions:")
        .replace("{hold: 3s}", "{hold: 5s}")
    )
    (files / "clients.csv").write_text("name,hold\nAnn Li,\nBo Chen,2s\n")
    args = ["program", str(files / "program.yaml"), "--clients", str(files / "clients.csv")]
    args += ["-o", str(files / "site"), "--base-url", "https://c.example", "--voice", "fake"]
    result = runner.invoke(cli, [*args, "--workers", workers])
    assert result.exit_code == 1
    clients = files / "clients.csv"
    assert result.output.splitlines() == [
        f"Error: {clients}:3 (Bo Chen, session {n}): {files / 'knee.yaml'}:9: step 2.1: the "
        "countdown does not fit in the 2 s hold: it needs 1.00 s more; make the hold longer or "
        "drop the countdown"
        for n in (1, 2)
    ]
    assert not list((files / "site.audioguide" / "build").rglob("*.mp3"))
    assert not (files / "site").exists()


def test_each_client_gets_the_program_in_their_language(runner: CliRunner, files: Path) -> None:
    path = files / "program.yaml"
    path.write_text(
        PROGRAM.replace("- vars: {hold: 3s}", "- vars: {hold: 3s}\n    title: Week 2, longer holds")
    )
    (files / "clients.csv").write_text("name,language\nAnn Li,\nAna Ruiz,es\n")
    args = ["program", str(path), "--clients", str(files / "clients.csv"), "--voice", "fake"]
    args += ["--base-url", "https://c.example", "-o", str(files / "site"), "--today", "2027-01-01"]
    (files / "knee.es.yaml").write_text(
        'lines: {"Hello {client}.": "Hola {client}.", "Knee": "Rodilla", "Knee bend": '
        '"Flexión de rodilla", "Bend the knee.": "Dobla la rodilla.", "Release.": "Suelta.", '
        '"Goodbye.": "Adiós."}\n'
    )

    missing = runner.invoke(cli, args)
    assert missing.exit_code == 1
    assert "has no Spanish translation for a client who reads es" in missing.output

    started = runner.invoke(cli, ["translate", str(path), "--language", "es"])
    assert started.exit_code == 0, started.output
    sidecar = files / "program.es.yaml"
    assert "Week 2, longer holds" in sidecar.read_text()
    unfinished = runner.invoke(cli, args)
    assert unfinished.exit_code == 1 and "not translated into Spanish yet" in unfinished.output

    sidecar.write_text('lines: {"Knee": "Rodilla", "Week 2, longer holds": "Semana 2"}\n')
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    site = files / "site.preview"
    feeds = {p.parent.name: p.read_text() for p in site.glob("*/feed.xml")}
    spanish = next(f for f in feeds.values() if "Ana Ruiz" in f)
    english = next(f for f in feeds.values() if "Ann Li" in f)
    assert "<title>Rodilla: Ana Ruiz</title>" in spanish and "Semana 2" in spanish
    assert "2 sesiones de " in spanish and ", una a la semana." in spanish
    assert "Week" not in spanish and "sessions from" not in spanish
    assert "<title>Knee: Ann Li</title>" in english and "2 sessions from " in english


def test_a_name_the_voice_cannot_say_is_flagged_and_a_spoken_form_is_said(
    runner: CliRunner, files: Path
) -> None:
    from audioguide.voices.clips import sayable

    assert sayable("Hallo Lena Müller 🌻.") == "Hallo Lena Müller ."
    clients = files / "clients.csv"
    # Fatima Zahra, in Arabic letters.
    fatima = "\u0641\u0627\u0637\u0645\u0629 \u0627\u0644\u0632\u0647\u0631\u0627\u0621"
    clients.write_text(f"name,spoken\n{fatima},\nLena Müller 🌻,\nJürgen Groß,\n")
    args = ["batch", str(files / "knee.yaml"), "--clients", str(clients), "-o", str(files / "out")]
    result = runner.invoke(cli, [*args, "--voice", "fake", "--workers", "1"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning")]
    assert warnings == [
        f"Warning: {clients}:2: the name '{fatima}' holds letters of another script, which "
        "the English voice cannot say (it would spell it out, or leave it out): add a 'spoken' "
        "column with how to say it",
        f"Warning: {clients}:3: the name 'Lena Müller 🌻' holds emoji or symbols, which the "
        "English voice cannot say (it would spell it out, or leave it out): add a 'spoken' "
        "column with how to say it",
    ]
    clients.write_text(f"name,spoken\n{fatima},Fatima Zahra\n")
    args[-1] = str(files / "again")
    result = runner.invoke(cli, [*args, "--voice", "fake", "--workers", "1"])
    assert result.exit_code == 0 and "Warning" not in result.stderr, result.output
    # The name is written as it is (the captions too), and said as the column says.
    (vtt,) = (files / "again").glob("*/*.vtt")
    assert f"Hello {fatima}." in vtt.read_text() and "Zahra" not in vtt.read_text()
    line = f"Hello {fatima}."
    said = CachedVoice(FakeVoice(), Path(os.environ["AUDIOGUIDE_CACHE_DIR"])).pronouncing(
        Lexicon((Pronunciation(fatima, say="Fatima Zahra"),))
    )
    assert said.said(line) == "Hello fatima zahra."
    assert (said.hits, said.misses) == (0, 0) and np.array_equal(
        said.synthesize(line), FakeVoice().synthesize("Hello fatima zahra.")
    )
    assert said.hits == 1, "the batch spoke the name as said"
    (page,) = (files / "again").glob("*/index.html")
    assert fatima in page.read_text()
