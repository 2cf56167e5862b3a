"""Tracks a client can play anywhere: split files, the share page in a real browser, the handout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from audioguide.cli import cli
from audiotools import decode_mp3, decoder_errors

pytestmark = pytest.mark.integration

ROUTINE = """
title: Share test
author: Sam's Physio
notes: [Do this in the morning., Bring a mat.]
steps:
  - safety: Stop at once if anything hurts.
  - exercise: Back flattening
    say: Lie on your back.
    reps: 2
    rep: [Press down., {hold: 2}, Release slowly., {pause: 2}]
  - sound: bell
  - exercise: Leg lift
    sides: [right, left]
    rep: [Lift., {hold: {duration: 4, countdown: 2}}, Lower.]
  - section: Closing
    steps: [Well done., {pause: 3}]
"""


SPANISH = """
lines:
  Share test: Prueba de compartir
  Do this in the morning.: Hazlo por la mañana.
  Bring a mat.: Trae una esterilla.
  Stop at once if anything hurts.: Para enseguida si algo te duele.
  Back flattening: Aplanar la espalda
  Lie on your back.: Túmbate boca arriba.
  Press down.: Presiona hacia abajo.
  Release slowly.: Suelta despacio.
  Leg lift: Elevación de pierna
  Lift.: Sube.
  Lower.: Baja.
  Closing: Cierre
  Well done.: Bien hecho.
"""


def _share(tmp: Path, *extra: str, share: tuple[str, ...] = ()) -> tuple[Path, dict[str, Any]]:
    routine = tmp / "share-test.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    (tmp / "share-test.es.yaml").write_text(SPANISH, encoding="utf-8")
    runner = CliRunner()
    folder = tmp / "out"
    args = [str(routine), "--voice", "fake", *extra]
    result = runner.invoke(cli, ["share", *args, "-o", str(folder), *share])
    assert result.exit_code == 0, result.output
    plan = json.loads(runner.invoke(cli, ["plan", *args, "--json"]).stdout)
    return folder, plan


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return _share(tmp_path_factory.mktemp("share"), share=("--split",))


@pytest.fixture(scope="module")
def shared_es(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("share-es")
    return _share(folder, "--language", "es", share=("--client", "Ana"))


def test_share_folder_holds_everything(shared: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = shared
    assert sorted(p.name for p in folder.iterdir()) == [
        "cover.png",
        "handout.html",
        "handout.pdf",
        "index.html",
        "share-test-chapters",
        "share-test.chapters.json",
        "share-test.chapters.txt",
        "share-test.lrc",
        "share-test.mp3",
        "share-test.vtt",
    ]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "Stop at once if anything hurts." in page and "Bring a mat." in page
    handout = (folder / "handout.html").read_text(encoding="utf-8")
    assert "<th>Leg lift</th>" in handout
    assert "each side, in this order: right side, left side" in handout
    assert "<th>Back flattening</th>" in handout and "<li>2 reps</li>" in handout
    tempo = "Press down. &rarr; hold 2\u00a0s &rarr; Release slowly. &rarr; pause 2\u00a0s"
    assert tempo in handout
    assert "@media print" in handout and "@page { size: A4;" in handout


def test_split_files_add_up_to_the_track_exactly(shared: tuple[Path, dict[str, Any]]) -> None:
    folder, plan = shared
    parts = sorted((folder / "share-test-chapters").glob("*.mp3"))
    assert [p.name for p in parts] == [
        "01 Introduction.mp3",
        "02 Back flattening.mp3",
        "03 Leg lift.mp3",
        "04 Closing.mp3",
    ]
    lengths = [len(decode_mp3(p)) for p in parts]
    whole = len(decode_mp3(folder / "share-test.mp3"))
    assert sum(lengths) == whole
    for i, (part, chapter, n) in enumerate(zip(parts, plan["chapters"], lengths, strict=True)):
        # Cuts sit on the frame boundary at or just before each chapter start (see export_split).
        assert abs(n - round((chapter["end_s"] - chapter["start_s"]) * 44100)) < 1152
        if i < len(parts) - 1:
            assert n % 1152 == 0
        assert ID3(part)["TRCK"].text == [f"{i + 1}/4"]
    playlist = (folder / "share-test-chapters" / "share-test.m3u").read_text().splitlines()
    assert playlist[0] == "#EXTM3U" and playlist[2] == "01 Introduction.mp3"


def test_track_decodes_cleanly_and_reports_the_planned_length(
    shared: tuple[Path, dict[str, Any]],
) -> None:
    folder, plan = shared
    track = folder / "share-test.mp3"
    assert decoder_errors(track) == {"ffmpeg": "", "mpg123": ""}
    assert abs(MP3(track).info.length - plan["total_s"]) < 0.1
    assert ID3(track).getall("APIC")[0].data == (folder / "cover.png").read_bytes()


@pytest.mark.parametrize("fixture", ["shared", "shared_es"])
def test_share_page_in_chromium(request: pytest.FixtureRequest, fixture: str) -> None:
    from chromium import page, wait_for_audio, wait_for_seek, watch

    folder, plan = request.getfixturevalue(fixture)
    with page() as tab:
        tab.set_viewport_size({"width": 900, "height": 1400})
        seen = watch(tab)
        tab.goto((folder / "index.html").as_uri())
        lang = tab.evaluate("document.documentElement.lang")
        assert lang == ("es" if fixture == "shared_es" else "en")
        assert abs(wait_for_audio(tab) - plan["total_s"]) < 0.1
        target = plan["chapters"][2]
        tab.locator(".chapters button").nth(2).click()
        wait_for_seek(tab, target["start_s"])
        artifacts = Path(__file__).parent.parent / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        tab.screenshot(path=artifacts / f"share-page-{lang}.png")
    assert seen.urls and all(u.startswith(("file:", "data:")) for u in seen.urls), seen.urls


def test_a_routines_own_cover_is_embedded_and_shared(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (600, 600), (30, 90, 80)).save(tmp_path / "art.jpg")
    routine = tmp_path / "own.yaml"
    routine.write_text("title: Own\ncover: art.jpg\nsteps: [Hello.]\n", encoding="utf-8")
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(cli, ["share", str(routine), "--voice", "fake", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (apic,) = ID3(out / "own.mp3").getall("APIC")
    assert apic.mime == "image/jpeg" and apic.data == (tmp_path / "art.jpg").read_bytes()
    assert (out / "cover.jpg").read_bytes() == apic.data
    assert 'src="cover.jpg"' in (out / "index.html").read_text(encoding="utf-8")
    outside = tmp_path / "sub" / "outside.yaml"
    outside.parent.mkdir()
    outside.write_text("title: O\ncover: ../art.jpg\nsteps: [Hi.]\n", encoding="utf-8")
    result = runner.invoke(cli, ["check", str(outside), "--voice", "fake"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {outside}:2: the cover ../art.jpg is outside the routine's folder; "
        "put it next to the routine\n"
    )


def test_a_spanish_share_is_spanish_throughout(shared_es: tuple[Path, dict[str, Any]]) -> None:
    folder, plan = shared_es
    assert [c["title"] for c in plan["chapters"]] == [
        "Introducción",
        "Aplanar la espalda",
        "Elevación de pierna",
        "Cierre",
    ]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert '<html lang="es">' in page and "Para <bdi>Ana</bdi>" in page and "Capítulos" in page
    assert "Lado derecho." in page and "Cambia de lado." in page
    assert ID3(folder / "share-test.mp3")["TIT2"].text == ["Prueba de compartir"]
