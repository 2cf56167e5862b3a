"""Printing stage: a self-contained HTML file becomes an A4 PDF (or a PNG screenshot) in headless
Chromium, found on PATH and run root- and offline-safe, leaving no half-written file or browser.

A PDF is printed by one browser kept open for the process and driven over its DevTools pipe:
starting Chromium costs 1.5 s, a print in a running one 0.2 s (measured), and a batch prints a
handout per track. The browser has a throwaway profile and a process group of its own, killed
whole on a timeout or Ctrl-C, and it quits by itself when this process goes (its pipe closes).
A screenshot runs a browser of its own, as tests take them one at a time. What either made goes
to export.write_atomic only once it is complete and of the right kind. Chromium prints US Letter
unless the page says otherwise, so A4 comes from the page's own `@page { size: A4 }` and is
checked on the result.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from ..errors import ExportError
from ..files import write_atomic

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
    what = f"print {html} to PDF"
    with _printing:
        global _printer
        chromium = find_chromium()
        if chromium is None:
            raise ExportError(INSTALL_CHROMIUM)
        if _printer is None or not _printer.alive or _printer.chromium != chromium:
            close_browser()
            _printer = _Printer(chromium)
        try:
            data = _printer.print_pdf(url, timeout_s, what)
        except BaseException:
            # A browser that failed, hung or was interrupted mid-print is not used again.
            close_browser()
            raise
    if not data.startswith(PDF_MAGIC):
        raise ExportError(
            f"Chromium could not {what}: it made something that is not a PDF; check that the "
            "page opens in a browser"
        )
    for width, height in _paper_sizes(data):
        if not _is_a4(width, height):
            raise ExportError(
                f"Chromium printed {html} on {width:g} x {height:g} pt paper, not A4: "
                "give the page the CSS rule @page {size: A4}"
            )
    write_atomic(pdf, data)


def close_browser() -> None:
    """Stop the browser that prints PDFs, if one is running (it also stops at exit)."""
    global _printer
    if _printer is not None:
        _printer.close()
        _printer = None


class _Printer:
    """Headless Chromium over --remote-debugging-pipe: JSON messages ending in NUL, read from
    its fd 3 and written to its fd 4."""

    def __init__(self, chromium: str) -> None:
        self.chromium = chromium
        self.work = Path(tempfile.mkdtemp(prefix="audioguide-chromium-"))
        self.log = self.work / "chromium.log"
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        command = [
            sys.executable,
            "-c",
            _AT_3_AND_4,
            str(to_browser),
            str(from_browser),
            chromium,
            *BASE_FLAGS,
            f"--user-data-dir={self.work / 'profile'}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        try:
            with self.log.open("wb") as err:
                self.proc = subprocess.Popen(
                    command,
                    pass_fds=(to_browser, from_browser),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    cwd=self.work,
                    env=_browser_env(self.work),
                    start_new_session=True,
                )
        except OSError as e:
            self._close_pipes()
            raise ExportError(
                f"cannot start {chromium} to print: {e.strerror}; {INSTALL_CHROMIUM}"
            ) from None
        finally:
            os.close(to_browser)
            os.close(from_browser)
        self._buffer = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        self._session: str | None = None
        self.timeout_s = 0.0
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.work)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def print_pdf(self, url: str, timeout_s: float, what: str) -> bytes:
        self.timeout_s = timeout_s
        deadline = time.monotonic() + timeout_s
        if self._session is None:
            # One tab for every print: a new one would start a renderer process each time
            # (measured: 0.31 s a print against 0.18 s in the same tab).
            tab = self._call("Target.createTarget", {"url": "about:blank"}, None, deadline, what)
            attached = self._call(
                "Target.attachToTarget",
                {"targetId": tab["targetId"], "flatten": True},
                None,
                deadline,
                what,
            )
            self._session = str(attached["sessionId"])
            self._call("Page.enable", {}, self._session, deadline, what)
        loaded = self._call("Page.navigate", {"url": url}, self._session, deadline, what)
        if loaded.get("errorText"):
            raise ExportError(
                f"Chromium could not {what} ({loaded['errorText']}); check that the page opens "
                "in a browser"
            )
        self._wait("Page.loadEventFired", self._session, deadline, what)
        printed = self._call(
            "Page.printToPDF",
            {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False},
            self._session,
            deadline,
            what,
        )
        return base64.b64decode(printed["data"])

    def close(self) -> None:
        self._close_pipes()
        self._finalizer()

    def _call(
        self,
        method: str,
        params: dict[str, Any],
        session: str | None,
        deadline: float,
        what: str,
    ) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        try:
            while data:
                data = data[os.write(self._out, data) :]
        except OSError:
            raise self._gone(what) from None
        while True:
            reply = self._read(deadline, what)
            if reply.get("id") != self._next:
                self._events.append(reply)
                continue
            if "error" in reply:
                error = reply["error"].get("message", "no message")
                raise ExportError(
                    f"Chromium could not {what} ({method}: {error}); check that the page opens "
                    "in a browser"
                )
            result: dict[str, Any] = reply.get("result", {})
            return result

    def _wait(self, method: str, session: str, deadline: float, what: str) -> None:
        while True:
            for event in self._events:
                if event.get("method") == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return
            self._events.append(self._read(deadline, what))

    def _read(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([self._in], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                raise ExportError(
                    f"Chromium took more than {self.timeout_s:g} s to {what} and was stopped: "
                    "make sure the page loads nothing from the network and no script of it runs "
                    "forever, then try again"
                )
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise self._gone(what)
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _gone(self, what: str) -> ExportError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=REAP_S)
        code = self.proc.returncode
        return ExportError(
            f"Chromium could not {what}: it stopped (exit code {code}: {_last_line(self.log)}); "
            "check that the page opens in a browser"
        )

    def _close_pipes(self) -> None:
        for fd in (getattr(self, "_in", None), getattr(self, "_out", None)):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._in = self._out = -1


_AT_3_AND_4: Final = """
import os, sys
to_browser, from_browser = int(sys.argv[1]), int(sys.argv[2])
os.dup2(to_browser, 3)
os.dup2(from_browser, 4)
for fd in {to_browser, from_browser} - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""
"""Puts the two pipe ends where Chromium's DevTools pipe expects them, 3 and 4, then becomes
Chromium (dash, Debian's sh, cannot redirect a descriptor numbered 10 or more)."""


def _stop(proc: subprocess.Popen[bytes], work: Path) -> None:
    """Kill the printing browser's group and remove its profile: at close, or at exit."""
    _kill(proc)
    shutil.rmtree(work, ignore_errors=True)


_printer: _Printer | None = None
_printing: Final = threading.Lock()
"""One print at a time in a process (a batch writes pages on threads): one browser serves all."""


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


SINGLETON_SOCKET: Final = "/org.chromium.Chromium.XXXXXX/SingletonSocket"
SOCKET_PATH_MAX: Final = 107


def _browser_env(work: Path) -> dict[str, str]:
    """This process's environment with the browser's home and temp folder in its throwaway
    folder: whatever --user-data-dir says, Chromium keeps crash-report settings in
    ~/.config/chromium, dconf a cache in ~/.cache, and a killed browser leaves its singleton
    socket's folder in /tmp; the user's home and temp folder are no place for any of them."""
    home, temp = work / "home", work / "tmp"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    # The socket lives in TMPDIR, and a socket's path has at most 107 bytes: Chromium aborts on
    # a longer one, so a temp folder too deep for it (a long $TMPDIR) is left as it was.
    if len(os.fsencode(temp)) + len(SINGLETON_SOCKET) <= SOCKET_PATH_MAX:
        temp.mkdir(exist_ok=True)
        env["TMPDIR"] = str(temp)
    return env


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
                env=_browser_env(work),
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
