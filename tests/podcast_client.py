"""A real podcast client for the tests: gPodder's `gpo` subscribing over HTTP on 127.0.0.1.

`serve` shares a folder the way a static host serves a client's feed; `subscribe_and_download`
runs gpo as a listener would (subscribe, update, download every episode) in a home of its own,
so no test touches, or is changed by, a real gPodder profile. Debian's `gpodder` package
provides gpo; tests skip with GPO_MISSING when it is absent.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

GPO: Final = shutil.which("gpo")
GPO_MISSING: Final = "gpo (Debian's gpodder package) is not installed: apt-get install gpodder"

GPO_TIMEOUT_S: Final = 60.0
"""Per command; a local feed of a few short MP3s takes a second or two."""

# `gpo episodes --guid` prints "  1. <guid>  *  <title>": the number, the guid, a three-character
# state (" * " new, " ▉ " downloaded, " ░ " deleted) and the title.
_EPISODE_LINE: Final = re.compile(r"^\s*\d+\. (?P<guid>\S+) (?P<state>.{3}) (?P<title>.*)$")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # A request log on stderr would bury a failing test's own output.
        pass

    def send_head(self) -> Any:
        # A browser seeks in audio with Range requests, as every static host answers them;
        # http.server does not, so a single byte range is answered here (206).
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            return super().send_head()
        data = path.read_bytes()
        first = int(match[1])
        last = min(int(match[2] or len(data) - 1), len(data) - 1)
        if first > last:
            self.send_error(416)
            return None
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data[first : last + 1])


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 (a free port) for the block; yields the base URL,
    without a trailing slash."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="feed-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass(frozen=True)
class GpoEpisode:
    guid: str
    title: str
    downloaded: bool


@dataclass(frozen=True)
class GpoResult:
    files: tuple[Path, ...]
    """Every file gpo downloaded, sorted by name."""
    episodes: tuple[GpoEpisode, ...]
    """The episodes as `gpo episodes --guid` lists them (gPodder's order: newest first)."""
    transcript: str
    """Each command and all it printed, for assertion messages."""


class GpoError(AssertionError):
    """gpo failed, timed out or did not say it did what it was asked."""


def gpo_env(home: Path) -> dict[str, str]:
    """The environment gpo runs in: its profile (Settings.json, the Database) under
    home/gpodder and its downloads under home/downloads, never the user's ~/gPodder."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        GPODDER_HOME=str(home / "gpodder"),
        GPODDER_DOWNLOAD_DIR=str(home / "downloads"),
        HOME=str(home),
        # The feed is on 127.0.0.1: no proxy may stand between, even one the machine sets.
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        PYTHONIOENCODING="utf-8",
    )
    return env


def run_gpo(args: Sequence[str], home: Path, *, timeout_s: float = GPO_TIMEOUT_S) -> str:
    """Run one gpo command; returns what it printed (stdout then stderr). gpo exits 0 even when
    a command fails, so callers check what it says."""
    if GPO is None:
        raise GpoError(GPO_MISSING)
    try:
        done = subprocess.run(
            [GPO, *args],
            env=gpo_env(home),
            cwd=home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise GpoError(f"gpo {' '.join(args)} took more than {timeout_s:.0f} s") from e
    output = f"$ gpo {' '.join(args)}\n{done.stdout}{done.stderr}"
    if done.returncode != 0:
        raise GpoError(f"gpo exited with {done.returncode}:\n{output}")
    return output


def subscribe_and_download(
    feed_url: str, home: Path, *, timeout_s: float = GPO_TIMEOUT_S
) -> GpoResult:
    """Subscribe gpo to `feed_url`, update it and download every episode, as a listener's app
    does on the day they subscribe."""
    home.mkdir(parents=True, exist_ok=True)
    log: list[str] = []

    def gpo(*args: str) -> str:
        output = run_gpo(args, home, timeout_s=timeout_s)
        log.append(output)
        if "[FAIL]" in output:
            raise GpoError("a gpo action failed:\n" + "\n".join(log))
        return output

    subscribed = gpo("subscribe", feed_url)
    if "Successfully added" not in subscribed:
        raise GpoError("gpo did not subscribe:\n" + "\n".join(log))
    gpo("update", feed_url)
    # On the first update gPodder marks every episode new, and `download URL` fetches the new
    # ones; asking for each guid as well makes "every episode" not depend on that policy.
    listed = _episodes(gpo("episodes", "--guid", feed_url))
    gpo("download", feed_url)
    for episode in _episodes(gpo("episodes", "--guid", feed_url)):
        if not episode.downloaded:
            gpo("download", feed_url, episode.guid)
    episodes = _episodes(gpo("episodes", "--guid", feed_url))
    if len(episodes) != len(listed):
        raise GpoError("gpo's episode list changed while downloading:\n" + "\n".join(log))
    downloads = home / "downloads"
    files = tuple(
        sorted(
            (p for p in downloads.rglob("*") if p.is_file() and not p.name.endswith(".partial")),
            key=lambda p: p.name,
        )
    )
    return GpoResult(files=files, episodes=episodes, transcript="\n".join(log))


def _episodes(output: str) -> tuple[GpoEpisode, ...]:
    found = []
    for line in output.splitlines():
        match = _EPISODE_LINE.match(line)
        if match:
            found.append(
                GpoEpisode(
                    guid=match["guid"],
                    title=match["title"].strip(),
                    downloaded=match["state"].strip() == "▉",
                )
            )
    return tuple(found)
