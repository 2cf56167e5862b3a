"""The printed handout's machinery: QR codes that scan, and Chromium printing that never leaves a
half-written file or a running browser behind.

The fast tests stand a script in for Chromium (one that speaks its DevTools pipe); the integration
ones use the real browser, poppler and zbar (see tests/chromium.py for what to install).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from PIL import Image, ImageDraw

from audioguide.errors import ExportError
from audioguide.publish.pdf import (
    BASE_FLAGS,
    close_browser,
    find_chromium,
    html_to_pdf,
    html_to_png,
)
from audioguide.publish.qr import MIN_MODULE_MM, QUIET_ZONE_MODULES, SYMBOL_MM, qr_svg
from chromium import (
    decode_qr,
    needs_chromium,
    needs_poppler,
    needs_zbar,
    pdf_page_size_mm,
    pdf_pages,
    pdf_text,
    pdf_to_png,
    svg_to_png,
)

SVG_NS: Final = "{http://www.w3.org/2000/svg}"
LONG_URL: Final = "https://audioguide.example.org/s/3f9a0c2b7d5e4a18b6c1d0e9f8a7b6c5/listen"
A4_MM: Final = (210.0, 297.0)
PRINT_DPI: Final = 150
BAND_RGB: Final = (29, 107, 90)


def _random_url() -> str:
    # The shape of a real share link: an unguessable token in the path.
    return f"https://audioguide.example.org/s/{secrets.token_urlsafe(32)}/listen?v=2"


def _geometry(svg: str) -> tuple[int, float, list[tuple[int, int, int]]]:
    """(modules across, quiet zone included; printed mm per module; the dark runs (x, y, w))."""
    root = ET.fromstring(svg)
    side = int(root.attrib["viewBox"].split()[2])
    width = root.attrib["width"]
    assert width == root.attrib["height"] and width.endswith("mm")
    path = root.find(f"{SVG_NS}path")
    assert path is not None
    runs = [
        (int(x), int(y), int(w))
        for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path.attrib["d"])
    ]
    return side, float(width.removesuffix("mm")) / side, runs


# qr_svg


def test_qr_svg_is_well_formed_and_named_for_screen_readers() -> None:
    label = 'Sesión de "Ana" <3 & más\nhoy'
    svg = qr_svg(LONG_URL, label=label)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.attrib["role"] == "img"
    spoken = 'Sesión de "Ana" <3 & más hoy'  # a control character is no part of a name
    assert root.attrib["aria-label"] == spoken
    assert root.findtext(f"{SVG_NS}title") == spoken
    assert "&lt;3 &amp; más" in svg and "&quot;Ana&quot;" in svg
    assert "<3" not in svg and "\n" not in svg


def test_qr_svg_is_deterministic() -> None:
    assert qr_svg(LONG_URL, label="Open") == qr_svg(LONG_URL, label="Open")
    assert qr_svg(LONG_URL, label="Open") != qr_svg(LONG_URL + "x", label="Open")


@pytest.mark.parametrize("data", ["https://example.org/s/abc", LONG_URL])
def test_qr_svg_prints_at_3_cm_and_keeps_its_quiet_zone(data: str) -> None:
    svg = qr_svg(data, label="Open")
    side, module_mm, runs = _geometry(svg)
    assert module_mm * (side - 2 * QUIET_ZONE_MODULES) == pytest.approx(SYMBOL_MM, abs=0.05)
    assert min(x for x, _, _ in runs) == QUIET_ZONE_MODULES
    assert min(y for _, y, _ in runs) == QUIET_ZONE_MODULES
    assert max(x + w for x, _, w in runs) == side - QUIET_ZONE_MODULES
    assert max(y + 1 for _, y, _ in runs) == side - QUIET_ZONE_MODULES
    # The quiet zone is painted, so a tinted background cannot take it away.
    rect = ET.fromstring(svg).find(f"{SVG_NS}rect")
    assert rect is not None
    assert (rect.attrib["width"], rect.attrib["height"], rect.attrib["fill"]) == (
        str(side),
        str(side),
        "#fff",
    )


def test_qr_svg_grows_rather_than_print_modules_too_small() -> None:
    _, module_mm, _ = _geometry(qr_svg("https://example.org/" + "x" * 600, label="Open"))
    assert module_mm == pytest.approx(MIN_MODULE_MM, abs=0.001)


@pytest.mark.parametrize(("data", "label"), [("", "Open"), (LONG_URL, ""), (LONG_URL, " \n ")])
def test_qr_svg_needs_data_and_a_label(data: str, label: str) -> None:
    with pytest.raises(ValueError, match="needs"):
        qr_svg(data, label=label)


# Chromium stood in for by a script


def _fake_chromium(folder: Path, body: str, name: str = "chromium") -> Path:
    """An executable `name` in `folder` running `body` (sh), with $out set to the file Chromium
    was asked to write; `folder` is put first on PATH by the caller."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        # Its own PATH for sleep and dirname: the test's PATH holds nothing but the fakes.
        "PATH=/usr/bin:/bin\n"
        f'printf "%s\\n" "$@" > "{folder}/args"\n'
        'for a in "$@"; do case "$a" in\n'
        '  --print-to-pdf=*) out="${a#--print-to-pdf=}";;\n'
        '  --screenshot=*) out="${a#--screenshot=}";;\n'
        "esac; done\n" + body + "\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that alone is PATH, with no browser in it yet."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


@pytest.fixture
def page(tmp_path: Path) -> Path:
    html = tmp_path / "out" / "handout.html"
    html.parent.mkdir()
    html.write_text("<!doctype html><p>hola</p>", encoding="utf-8")
    return html


def _left(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _running(pid: int) -> bool:
    """Whether `pid` is alive and not a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_find_chromium_takes_the_first_of_its_names(fake_bin: Path) -> None:
    assert find_chromium() is None
    _fake_chromium(fake_bin, "", name="google-chrome-stable")
    chrome = _fake_chromium(fake_bin, "", name="google-chrome")
    assert find_chromium() == str(chrome)
    browser = _fake_chromium(fake_bin, "", name="chromium-browser")
    assert find_chromium() == str(browser)


def test_no_chromium_says_how_to_install_it_and_writes_nothing(fake_bin: Path, page: Path) -> None:
    with pytest.raises(ExportError, match=r"install it: sudo apt-get install chromium$"):
        html_to_pdf(page, page.with_suffix(".pdf"))
    with pytest.raises(ExportError, match=r"sudo apt-get install chromium"):
        html_to_png(str(page), page.with_suffix(".png"), width=390, height=844)
    assert _left(page.parent) == {"handout.html"}


def test_a_missing_page_is_not_printed(fake_bin: Path, tmp_path: Path) -> None:
    # Chromium itself would print its error page and exit 0.
    _fake_chromium(fake_bin, "exit 99")
    with pytest.raises(ExportError, match="no such file"):
        html_to_pdf(tmp_path / "nothere.html", tmp_path / "x.pdf")
    assert not (fake_bin / "args").exists()


FAKE_CDP: Final = """#!{python}
import base64, json, os, sys
open({args!r}, "w").write("\\n".join(sys.argv[1:]) + "\\n")
if {behaviour!r} == "exit":
    sys.stderr.write("[1:2:ERROR:dbus/bus.cc:405] Failed to connect to the bus\\n")
    sys.stderr.write("[1:2:ERROR:headless.cc:266] Cannot start: No space left on device\\n")
    sys.exit(3)
buffer = b""
while chunk := os.read(3, 65536):
    buffer += chunk
    while b"\\0" in buffer:
        raw, _, buffer = buffer.partition(b"\\0")
        message = json.loads(raw)
        method, replies = message["method"], []
        reply = {{"id": message["id"], "result": {{}}}}
        if method == "Target.createTarget":
            reply["result"] = {{"targetId": "T1"}}
        elif method == "Target.attachToTarget":
            reply["result"] = {{"sessionId": "S1"}}
        elif method == "Page.navigate":
            replies.append({{"method": "Page.loadEventFired", "sessionId": "S1", "params": {{}}}})
        elif method == "Page.printToPDF" and {behaviour!r} == "error":
            reply = {{"id": message["id"], "error": {{"message": "Printing failed"}}}}
        elif method == "Page.printToPDF":
            reply["result"] = {{"data": base64.b64encode({payload!r}).decode()}}
        for out in (reply, *replies):
            os.write(4, json.dumps(out).encode() + b"\\0")
"""
"""A browser that speaks just enough of the DevTools protocol, over the same pipe."""
A4_PDF: Final = b"%PDF-1.4 /MediaBox [0 0 594.96 841.92] fake"


def _fake_cdp(folder: Path, behaviour: str = "print", payload: bytes = A4_PDF) -> Path:
    folder.mkdir(exist_ok=True)
    script = folder / "chromium"
    script.write_text(
        FAKE_CDP.format(
            python=sys.executable, args=str(folder / "args"), behaviour=behaviour, payload=payload
        ),
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def _no_browser_left() -> Iterator[None]:
    # Each test starts its own printing browser, and leaves none running for the next.
    close_browser()
    yield
    close_browser()


def test_chromium_runs_headless_offline_with_a_throwaway_profile(
    fake_bin: Path, page: Path
) -> None:
    _fake_cdp(fake_bin)
    target = page.with_suffix(".pdf")
    html_to_pdf(page, target)
    html_to_pdf(page, target)  # the same browser prints again
    assert target.read_bytes() == A4_PDF
    args = (fake_bin / "args").read_text(encoding="utf-8").splitlines()
    assert set(BASE_FLAGS) <= set(args)
    assert "--remote-debugging-pipe" in args
    profile = Path(next(a for a in args if a.startswith("--user-data-dir=")).split("=", 1)[1])
    assert profile.parent.exists()  # kept for the next print...
    close_browser()
    assert not profile.parent.exists()  # ...and gone with the browser
    assert _left(page.parent) == {"handout.html", "handout.pdf"}


@pytest.mark.parametrize(
    ("behaviour", "payload", "message"),
    [
        (
            "exit",
            A4_PDF,
            r"could not print .*it stopped \(exit code 3: Cannot start: No space left on "
            r"device\); check",
        ),
        ("error", A4_PDF, r"\(Page.printToPDF: Printing failed\); check"),
        ("print", b"<html>", r"made something that is not a PDF"),
        (
            "print",
            b"%PDF-1.4 /MediaBox [0 0 612 792]",
            r"on 612 x 792 pt paper, not A4: give the page the CSS rule @page \{size: A4\}",
        ),
    ],
    ids=["browser-quits", "print-fails", "not-a-pdf", "letter-paper"],
)
def test_a_failed_print_leaves_the_old_pdf_untouched(
    fake_bin: Path, page: Path, behaviour: str, payload: bytes, message: str
) -> None:
    _fake_cdp(fake_bin, behaviour, payload)
    target = page.with_suffix(".pdf")
    target.write_bytes(b"%PDF the handout printed last week")
    with pytest.raises(ExportError, match=message) as caught:
        html_to_pdf(page, target)
    assert "\n" not in str(caught.value)
    assert target.read_bytes() == b"%PDF the handout printed last week"
    assert _left(page.parent) == {"handout.html", "handout.pdf"}


HANG: Final = (
    'sleep 300 & echo $! > "$(dirname "$0")/pids"; echo $$ >> "$(dirname "$0")/pids"; wait'
)
"""A browser that never finishes, with a helper process of its own, both recorded in `pids`."""


BUSY_S: Final = 120.0
"""Long enough for anything a test waits on here to happen on a machine whose cores are all busy:
these tests are about what is killed and left, not about how fast."""


def _pids(fake_bin: Path) -> list[int]:
    deadline = time.monotonic() + BUSY_S
    while time.monotonic() < deadline:
        with_both = (fake_bin / "pids").read_text().split() if (fake_bin / "pids").exists() else []
        if len(with_both) == 2:
            return [int(p) for p in with_both]
        time.sleep(0.05)
    raise AssertionError("the fake browser never started")


def test_a_timeout_kills_the_browser_and_everything_it_started(fake_bin: Path, page: Path) -> None:
    _fake_chromium(fake_bin, HANG)
    started = time.monotonic()
    with pytest.raises(ExportError, match=r"took more than 2 s to print .* and was stopped"):
        html_to_pdf(page, page.with_suffix(".pdf"), timeout_s=2)
    assert time.monotonic() - started < BUSY_S  # not the 300 s the browser would sleep
    assert not any(_running(pid) for pid in _pids(fake_bin))
    assert _left(page.parent) == {"handout.html"}


def test_ctrl_c_kills_the_browser_and_leaves_nothing(fake_bin: Path, page: Path) -> None:
    _fake_chromium(fake_bin, HANG)
    target = page.with_suffix(".pdf")
    target.write_bytes(b"%PDF old")
    pids: list[int] = []

    def press_ctrl_c() -> None:
        pids.extend(_pids(fake_bin))  # only once the browser is up and waited for
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        # Ctrl-C, not the timeout, must stop it however slowly a busy machine starts the browser.
        html_to_pdf(page, target, timeout_s=4 * BUSY_S)
    assert len(pids) == 2
    assert not any(_running(pid) for pid in pids)
    assert target.read_bytes() == b"%PDF old"
    assert _left(page.parent) == {"handout.html", "handout.pdf"}


# The real browser

HANDOUT: Final = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>Respiración diaria</title>
<style>
@page {{ size: A4; margin: 15mm }}
body {{ font-family: sans-serif; margin: 0 }}
header {{ background: rgb{band}; color: #fff; padding: 4mm 6mm }}
table {{ border-collapse: collapse; margin: 6mm 0 }}
td, th {{ border: 0.3mm solid #444; padding: 2mm 4mm; text-align: left }}
</style></head>
<body>
<header><h1>Respiración diaria</h1></header>
<p>Größe der Übung: klein. À faire chaque matin, près de la fenêtre : élève, ça, œuvre.</p>
<table>
<tr><th>Ejercicio</th><th>Dosis</th></tr>
<tr><td>Rodillas al pecho</td><td>3 &times; 30 s</td></tr>
<tr><td>Schulterkreisen</td><td>10 Wiederholungen</td></tr>
</table>
<p>Escanea el código para escuchar la sesión:</p>
{qr}
</body></html>
"""
HANDOUT_PHRASES: Final = (
    "Respiración diaria",
    "Größe der Übung: klein.",
    "À faire chaque matin, près de la fenêtre : élève, ça, œuvre.",
    "Ejercicio",
    "Rodillas al pecho",
    "3 \u00d7 30 s",
    "Schulterkreisen",
    "10 Wiederholungen",
    "Escanea el código para escuchar la sesión:",
)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    "data", ["https://example.org/s/abc", LONG_URL, "random"], ids=["short", "long", "random"]
)
@needs_zbar
@pytest.mark.integration
@needs_chromium
def test_qr_svg_decodes_back_to_its_data(tmp_path: Path, data: str) -> None:
    data = _random_url() if data == "random" else data
    png = svg_to_png(qr_svg(data, label="Open"), tmp_path / "qr.png")
    assert decode_qr(png) == [data], data


@needs_zbar
@pytest.mark.integration
@needs_chromium
def test_qr_svg_survives_a_fold_across_it(tmp_path: Path) -> None:
    # A strip four modules high wiped out across the middle, as a fold or a stain does: level M
    # loses this URL to it (measured), Q keeps it.
    svg = qr_svg(LONG_URL, label="Open")
    side, _, _ = _geometry(svg)
    px, margin = 490, 40
    png = svg_to_png(svg, tmp_path / "qr.png", px=px, margin=margin)
    module = px / side
    with Image.open(png) as image:
        folded = image.convert("RGB")
    top = margin + module * (side / 2 - 2)
    ImageDraw.Draw(folded).rectangle((0, top, folded.width, top + 4 * module), fill="white")
    folded.save(tmp_path / "folded.png")
    assert decode_qr(tmp_path / "folded.png") == [LONG_URL]


@needs_zbar
@needs_poppler
@pytest.mark.integration
@needs_chromium
def test_handout_prints_to_one_a4_page_whose_qr_scans(tmp_path: Path) -> None:
    folder = tmp_path / "Sesión de Ana"  # as a practitioner names folders: a file URL escapes it
    folder.mkdir()
    html = folder / "handout.html"
    qr = qr_svg(LONG_URL, label="Abrir la sesión")
    html.write_text(HANDOUT.format(band=BAND_RGB, qr=qr), encoding="utf-8")
    target = folder / "handout.pdf"
    html_to_pdf(html, target)

    assert target.read_bytes().startswith(b"%PDF")
    assert _left(folder) == {"handout.html", "handout.pdf"}
    assert pdf_pages(target) == 1
    assert pdf_page_size_mm(target) == pytest.approx(A4_MM, abs=1)
    text = _words(pdf_text(target))
    for phrase in HANDOUT_PHRASES:
        assert phrase in text
    png = pdf_to_png(target, 1, dpi=PRINT_DPI)
    assert decode_qr(png) == [LONG_URL]
    # Backgrounds are printed: the header band keeps its colour.
    with Image.open(png) as image:
        band: Any = image.convert("RGB").getpixel((image.width // 2, round(18 / 25.4 * PRINT_DPI)))
    assert all(abs(c - b) <= 8 for c, b in zip(band, BAND_RGB, strict=True)), band


@needs_poppler
@pytest.mark.integration
@needs_chromium
def test_qr_prints_at_3_cm(tmp_path: Path) -> None:
    html = tmp_path / "qr.html"
    html.write_text(
        "<!doctype html><style>@page{size:A4;margin:20mm}</style>" + qr_svg(LONG_URL, label="Open"),
        encoding="utf-8",
    )
    html_to_pdf(html, tmp_path / "qr.pdf")
    dpi = 300
    with Image.open(pdf_to_png(tmp_path / "qr.pdf", 1, dpi=dpi)) as image:
        box = image.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None
    width_mm, height_mm = ((box[2] - box[0]) * 25.4 / dpi, (box[3] - box[1]) * 25.4 / dpi)
    assert (width_mm, height_mm) == pytest.approx((SYMBOL_MM, SYMBOL_MM), abs=0.5)


@pytest.mark.integration
@needs_chromium
def test_a_page_not_set_for_a4_is_refused_and_the_old_pdf_kept(tmp_path: Path) -> None:
    # Chromium's own default is US Letter; the page has to ask for A4.
    html = tmp_path / "letter.html"
    html.write_text("<!doctype html><p>hello</p>", encoding="utf-8")
    target = tmp_path / "letter.pdf"
    target.write_bytes(b"%PDF old")
    with pytest.raises(ExportError, match=r"612 x 792 pt paper, not A4"):
        html_to_pdf(html, target)
    assert target.read_bytes() == b"%PDF old"
    assert _left(tmp_path) == {"letter.html", "letter.pdf"}


class _Recorded(subprocess.Popen[bytes]):
    started: list[_Recorded] = []  # noqa: RUF012 (one list for the test that patches it in)

    def __init__(self, command: list[str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.command = command
        _Recorded.started.append(self)


def _processes_naming(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.integration
@needs_chromium
def test_a_page_that_never_loads_times_out_and_the_browser_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = tmp_path / "hang.html"
    html.write_text("<!doctype html><script>for (;;) {}</script>", encoding="utf-8")
    _Recorded.started = []
    monkeypatch.setattr(subprocess, "Popen", _Recorded)
    started = time.monotonic()
    with pytest.raises(ExportError, match=r"took more than 3 s .* and was stopped"):
        html_to_pdf(html, tmp_path / "hang.pdf", timeout_s=3)
    assert time.monotonic() - started < 3 + BUSY_S  # stopped, not left to loop for ever
    [browser] = _Recorded.started
    assert browser.returncode is not None
    profile = next(a for a in browser.command if a.startswith("--user-data-dir="))
    assert _processes_naming(profile) == []
    assert not Path(profile.split("=", 1)[1]).parent.exists()
    assert _left(tmp_path) == {"hang.html"}


@pytest.mark.integration
@needs_chromium
def test_a_page_that_cannot_load_gives_the_browsers_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:
        # Bound but not listening, and held while the browser tries: the connection is refused,
        # and no other process on a busy machine can take the port in between.
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ExportError, match=r"wrote no file \(Page load failed: .*REFUSED\)"):
            html_to_png(f"http://127.0.0.1:{port}/", tmp_path / "x.png", width=390, height=844)
    assert _left(tmp_path) == set()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)], ids=["phone", "desktop"])
@pytest.mark.integration
@needs_chromium
def test_html_to_png_is_exactly_the_window_size(tmp_path: Path, width: int, height: int) -> None:
    html = tmp_path / "page.html"
    html.write_text(
        "<!doctype html><meta charset='utf-8'><h1>Respiración</h1>" + "<p>línea</p>" * 200,
        encoding="utf-8",
    )
    # A path for the phone, a URL for the desktop: both forms are accepted.
    source = str(html) if width < height else html.resolve().as_uri()
    png = tmp_path / f"{width}x{height}.png"
    html_to_png(source, png, width=width, height=height)
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (width, height)
    assert _left(tmp_path) == {"page.html", png.name}
