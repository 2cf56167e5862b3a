"""Looking at output in tests: PDF text, pages and pixels (poppler), QR codes (zbar), pages
in headless Chromium (Playwright for Python, driving Debian's Chromium: no browser download).

Each tool is looked up once; a test that needs one skips, naming the package to install, when it
is absent (scripts/test.sh and CI install them all).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from audioguide.publish.pdf import find_chromium, html_to_png

CHROMIUM: Final = find_chromium()
PDFTOTEXT: Final = shutil.which("pdftotext")
PDFINFO: Final = shutil.which("pdfinfo")
PDFTOPPM: Final = shutil.which("pdftoppm")
ZBARIMG: Final = shutil.which("zbarimg")
ZBAR_NOTHING_FOUND: Final = 4
"""zbarimg's exit status when the image was read but held no code."""

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: sudo apt-get install chromium"
)
needs_poppler = pytest.mark.skipif(
    None in (PDFTOTEXT, PDFINFO, PDFTOPPM),
    reason="poppler's pdftotext/pdfinfo/pdftoppm are not installed: "
    "sudo apt-get install poppler-utils",
)
needs_zbar = pytest.mark.skipif(
    ZBARIMG is None, reason="zbarimg is not installed: sudo apt-get install zbar-tools"
)


def _run(*args: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def pdf_text(pdf: Path) -> str:
    """The PDF's text in reading order, as pdftotext extracts it (UTF-8)."""
    return _run(PDFTOTEXT or "pdftotext", "-enc", "UTF-8", pdf, "-")


def pdf_pages(pdf: Path) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", _run(PDFINFO or "pdfinfo", pdf), re.MULTILINE)
    assert match, f"pdfinfo found no page count in {pdf}"
    return int(match.group(1))


def pdf_page_size_mm(pdf: Path, page: int = 1) -> tuple[float, float]:
    """Width and height of one page in millimetres."""
    info = _run(PDFINFO or "pdfinfo", "-f", str(page), "-l", str(page), pdf)
    match = re.search(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.MULTILINE)
    assert match, f"pdfinfo found no size for page {page} of {pdf}"
    return (float(match.group(1)) * 25.4 / 72, float(match.group(2)) * 25.4 / 72)


def pdf_to_png(pdf: Path, page: int, *, dpi: int = 150) -> Path:
    """One page rendered by pdftoppm at `dpi`, as a PNG beside the PDF."""
    stem = pdf.with_name(f"{pdf.stem}-page{page}-{dpi}dpi")
    pages = ("-f", str(page), "-l", str(page))
    _run(PDFTOPPM or "pdftoppm", "-r", str(dpi), *pages, "-png", "-singlefile", pdf, stem)
    return stem.with_suffix(".png")


def decode_qr(png: Path) -> list[str]:
    """The data of every QR code zbarimg finds in the image, one string each; [] for none."""
    # QR only: text and rules on a page can pass for a 1D barcode.
    result = subprocess.run(
        [ZBARIMG or "zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode == ZBAR_NOTHING_FOUND:
        return []
    assert result.returncode == 0, f"zbarimg failed on {png}: {result.stderr.strip()}"
    return result.stdout.splitlines()


def svg_to_png(svg: str, png: Path, *, px: int = 400, margin: int = 40) -> Path:
    """Render an inline SVG at `px` CSS pixels square on a white page, through Chromium."""
    html = png.with_suffix(".html")
    html.write_text(
        "<!doctype html><meta charset='utf-8'><style>"
        f"html,body{{margin:0;background:#fff}}svg{{display:block;margin:{margin}px;"
        f"width:{px}px;height:{px}px}}</style>{svg}",
        encoding="utf-8",
    )
    side = px + 2 * margin
    html_to_png(str(html), png, width=side, height=side)
    return png


PHONE: Final = {"width": 390, "height": 844}
WAIT_S: Final = 180
"""A phone's viewport in CSS pixels (an iPhone 12-14's)."""


@contextmanager
def page(*flags: str, phone: bool = False) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium (no browser download), quiet and offline.

    `phone` gives a 390x844 viewport at a device scale of 3, with touch. The browser closes when
    the block ends, whatever happens in it.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                *flags,
            ],
        )
        try:
            device = {"viewport": PHONE, "device_scale_factor": 3, "has_touch": True}
            context = browser.new_context(**(device if phone else {}))
            # A wait is for a state, not a speed: Playwright's 30 s default could fail a test on
            # a machine busy enough, so a wait gives up only after what no load explains.
            context.set_default_timeout(WAIT_S * 1000)
            yield context.new_page()
        finally:
            browser.close()


@dataclass(frozen=True)
class Seen:
    """What a page did while a test looked: every URL it requested, every error it logged."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(page: Any) -> Seen:
    """Record from now on the page's requests and its errors (console errors, failed loads and
    uncaught exceptions: what a person would see in the console in red)."""
    seen = Seen()
    page.on("request", lambda request: seen.urls.append(request.url))
    page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    return seen


def wait_for_audio(page: Any, selector: str = "audio") -> float:
    """The duration of the page's audio once its metadata has loaded."""
    audio = f"document.querySelector({selector!r})"
    page.wait_for_function(f"{audio} && {audio}.duration > 0")
    return float(page.evaluate(f"{audio}.duration"))


def wait_for_seek(page: Any, start_s: float, selector: str = "audio") -> float:
    """The audio's position once a seek has taken it to `start_s` (within a frame, or just past
    it if it plays on): waiting for the state, not sleeping, so load does not decide."""
    at = f"document.querySelector({selector!r}).currentTime"
    page.wait_for_function(f"{at} >= {start_s - 0.05} && {at} <= {start_s + 0.6}")
    return float(page.evaluate(at))
