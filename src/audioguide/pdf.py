"""Printing stage: a self-contained HTML file becomes an A4 PDF (or a PNG screenshot) in headless
Chromium, found on PATH and run root- and offline-safe, leaving no half-written file or browser.

Each run gets a throwaway profile and a process group of its own, killed whole on a timeout or
Ctrl-C; what it wrote goes to export.write_atomic only once it is complete and of the right kind.

Chromium's command line prints with backgrounds and, with --no-pdf-header-footer, without the
date/title/URL lines; it has no paper-size switch and defaults to US Letter, so A4 comes from the
page's own `@page { size: A4 }` and is checked on the result. It exits 0 even when the page did
not load or the file could not be written (measured: Chromium 156), so success is judged by the
output, not the exit code alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from .errors import ExportError
from .export import write_atomic

BROWSERS: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_CHROMIUM: Final = (
    "Chromium is needed to make the PDF handout and screenshots: "
    "install it: sudo apt-get install chromium"
)
BASE_FLAGS: Final = (
    "--headless",
    # The sandbox cannot start as root (CI, containers); the page printed is our own file.
    "--no-sandbox",
    "--disable-gpu",
    # Nothing may reach the network or wait for it: printing is offline and repeatable.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)
PDF_MAGIC: Final = b"%PDF"
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
A4_PT: Final = (595.28, 841.89)
PAPER_TOLERANCE_PT: Final = 2.0
"""Chromium rounds the page to whole CSS pixels: A4 comes out as 594.96 x 841.92 pt."""
REAP_S: Final = 5.0
"""How long to wait for a killed browser's helper processes to be gone before the profile they
were using is removed."""
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_LOG_PREFIX: Final = re.compile(r"^\[[^\]]*\]\s*")
_NOISE: Final = re.compile(r"dbus|unexpected operator")
"""Lines Chromium logs on every run of a machine without a session bus, and Debian's wrapper
script's complaint about /dev/shm mounted twice: never the reason a print failed."""
_MEDIA_BOX: Final = re.compile(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)")


def find_chromium() -> str | None:
    """The first of chromium, chromium-browser, google-chrome, google-chrome-stable on PATH."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


def html_to_pdf(html: Path, pdf: Path, *, timeout_s: float = 60) -> None:
    """Print the HTML file `html` to an A4 PDF at `pdf`, backgrounds included, no header/footer.

    The page must say `@page { size: A4 }`. A pre-existing `pdf` is replaced only by a complete
    PDF; on any failure, a timeout or Ctrl-C it is left as it was and the browser is killed."""
    url = _file_url(html, "print")
    with _workdir() as work:
        out = work / "out.pdf"
        _run(
            [f"--print-to-pdf={out}", "--no-pdf-header-footer", url],
            work,
            timeout_s,
            f"print {html} to PDF",
        )
        data = _read_output(out, PDF_MAGIC, work, f"print {html} to PDF")
    for width, height in _paper_sizes(data):
        if not _is_a4(width, height):
            raise ExportError(
                f"Chromium printed {html} on {width:g} x {height:g} pt paper, not A4: "
                "give the page the CSS rule @page {size: A4}"
            )
    write_atomic(pdf, data)


def html_to_png(
    html_or_url: str, png: Path, *, width: int, height: int, timeout_s: float = 60
) -> None:
    """Screenshot a page (a file path, or a URL such as http://127.0.0.1:8000/) at a viewport of
    `width` x `height` CSS pixels into `png`, written whole or not at all."""
    if width <= 0 or height <= 0:
        raise ExportError(f"a screenshot of {width} x {height} pixels is impossible: use sizes > 0")
    url = html_or_url if _URL.match(html_or_url) else _file_url(Path(html_or_url), "screenshot")
    with _workdir() as work:
        out = work / "out.png"
        _run(
            [
                f"--screenshot={out}",
                f"--window-size={width},{height}",
                # Phones overlay their scrollbars; a desktop one would cover the page's edge.
                "--hide-scrollbars",
                url,
            ],
            work,
            timeout_s,
            f"screenshot {html_or_url}",
        )
        data = _read_output(out, PNG_MAGIC, work, f"screenshot {html_or_url}")
    write_atomic(png, data)


def _file_url(html: Path, verb: str) -> str:
    # Chromium would only log "Page load failed" and exit 0 (measured).
    if not html.is_file():
        raise ExportError(f"cannot {verb} {html}: there is no such file; check the path")
    return html.resolve().as_uri()


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh folder for the browser's profile, log and output, removed afterwards."""
    with tempfile.TemporaryDirectory(
        prefix="audioguide-chromium-", ignore_cleanup_errors=True
    ) as work:
        yield Path(work)


def _run(args: Sequence[str], work: Path, timeout_s: float, what: str) -> None:
    """Run Chromium with `args` and wait; kill it (and every process it started) on a timeout,
    Ctrl-C or any other exception, and raise ExportError unless it exited 0."""
    chromium = find_chromium()
    if chromium is None:
        raise ExportError(INSTALL_CHROMIUM)
    log = work / "chromium.log"
    command = [chromium, *BASE_FLAGS, f"--user-data-dir={work / 'profile'}", *args]
    with log.open("wb") as err:
        try:
            # Its own session: Ctrl-C in the terminal reaches us, not the browser, and one
            # killpg then ends the browser and its renderer, GPU and utility processes together.
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                cwd=work,
                start_new_session=True,
            )
        except OSError as e:
            raise ExportError(
                f"cannot start {chromium} to {what}: {e.strerror}; {INSTALL_CHROMIUM}"
            ) from None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ExportError(
                f"Chromium took more than {timeout_s:g} s to {what} and was stopped: make sure "
                "the page loads nothing from the network and no script of it runs forever, "
                "then try again"
            ) from None
        except BaseException:
            _kill(proc)
            raise
        # Helpers still running after the browser quit would hold the profile open.
        _kill(proc)
    if code != 0:
        raise ExportError(
            f"Chromium could not {what} (exit code {code}: {_last_line(log)}); "
            "check that the page opens in a browser"
        )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the browser's whole process group and wait until it is gone (bounded)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + REAP_S
    while _group_running(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_running(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running: zombies do not count (killed helpers
    were orphaned, and init may take seconds to reap them: measured 2 s here)."""
    try:
        # The group id stays reserved while any member exists, so this cannot hit a stranger.
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # State, parent and group follow the command name, which is parenthesised and may hold
        # spaces or parentheses itself.
        state, _parent, group = text[text.rfind(")") + 2 :].split()[:3]
        if state != "Z" and group == str(pgid):
            return True
    return False


def _read_output(out: Path, magic: bytes, work: Path, what: str) -> bytes:
    try:
        data = out.read_bytes()
    except OSError:
        data = b""
    if not data.startswith(magic):
        problem = "wrote no file" if not data else "wrote something that is not the file asked for"
        raise ExportError(
            f"Chromium could not {what}: it {problem} ({_last_line(work / 'chromium.log')}); "
            "check that the page opens in a browser"
        )
    return data


def _last_line(log: Path) -> str:
    """The last line of Chromium's stderr that can explain a failure, without its log prefix."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no message"
    lines = [line.strip() for line in lines if line.strip()]
    telling = [line for line in lines if not _NOISE.search(line)] or lines
    return _LOG_PREFIX.sub("", telling[-1]) if telling else "no message"


def _paper_sizes(data: bytes) -> list[tuple[float, float]]:
    """Each page's size in points, as the PDF's MediaBox entries give it."""
    sizes = []
    for box in _MEDIA_BOX.finditer(data):
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        sizes.append((abs(x1 - x0), abs(y1 - y0)))
    return sizes


def _is_a4(width: float, height: float) -> bool:
    short, long = sorted((width, height))
    return (
        abs(short - A4_PT[0]) <= PAPER_TOLERANCE_PT and abs(long - A4_PT[1]) <= PAPER_TOLERANCE_PT
    )
