#!/usr/bin/env python3
"""Benchmark the studio's latencies on a 20-minute routine, the studio a real server process
(`audioguide studio --no-open`) spoken to over HTTP on 127.0.0.1 as its page speaks to it, on a
warm speech cache:

  edit to plan     an edit (a hold made longer) posted, until its checked plan is back
  chapter audio    then the third chapter asked for, until its first 0.1 s of audio is back
  plan (CLI)       `audioguide plan` of the same file, warm: what the studio saves a user
  build (CLI)      `audioguide build` of it, warm: what hearing a chapter used to take

Interleaved in --rounds rounds; medians with the lowest and highest. The bars: edit to plan
under 0.1 s, chapter audio under 1 s. Usage:

    .venv/bin/python scripts/bench_studio.py [--minutes 20] [--voice system] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent / "audioguide"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import make_routine, spread, table  # noqa: E402

FIRST_AUDIO_BYTES = 44 + 2 * 4410
"""The WAV header and 0.1 s of mono 16-bit audio."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--voice", default="system")
    parser.add_argument("--rounds", type=int, default=5)
    run(parser.parse_args())


class Page:
    """What the studio's page sends: the token as a header, JSON in and out."""

    def __init__(self, url: str) -> None:
        self.origin, _, self.token = url.partition("/?token=")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.origin + path,
            json.dumps(body).encode(),
            {"X-Studio-Token": self.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.load(response)

    def first_audio(self, path: str) -> bytes:
        request = urllib.request.Request(self.origin + path, headers={"X-Studio-Token": self.token})
        with urllib.request.urlopen(request, timeout=600) as response:
            data = b""
            while len(data) < FIRST_AUDIO_BYTES:
                chunk = response.read1(FIRST_AUDIO_BYTES)
                if not chunk:
                    break
                data += chunk
            return data


def run(args: argparse.Namespace) -> None:
    """The rounds and their table: what `scripts/bench.py studio` prints too."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        routine = tmp / "bench.yaml"
        text = make_routine(args.minutes)
        routine.write_text(text, encoding="utf-8")
        env = {**os.environ, "AUDIOGUIDE_CACHE_DIR": str(tmp / "cache")}
        command = [str(BIN), "studio", routine.name, "--voice", args.voice, "--no-open"]
        server = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            page = Page(server.stdout.readline().split(" at ", 1)[1].split()[0])
            rows = _rounds(page, tmp, env, text, args)
        finally:
            server.terminate()
            server.wait()
            if server.stdout is not None:
                server.stdout.close()
    print(
        f"Studio: {args.minutes:g}-minute routine, voice {args.voice}, warm cache, "
        f"{args.rounds} rounds: median (lowest-highest)"
    )
    table(["", "seconds", "bar"], rows)


def _rounds(
    page: Page, tmp: Path, env: dict[str, str], text: str, args: argparse.Namespace
) -> list[list[str]]:
    def check(edited: str) -> dict[str, Any]:
        body = {"file": "bench.yaml", "text": edited, "settings": {}}
        for _ in range(6000):  # the first edit speaks the routine (cold): wait for it
            checked: dict[str, Any] = page.post("/api/check", body)
            assert not checked["problems"], checked["problems"]
            if not checked["estimated"]:
                return checked
            time.sleep(0.1)
        raise RuntimeError("the studio never finished speaking")

    def cli(*words: str) -> float:
        start = time.perf_counter()
        subprocess.run(
            [str(BIN), *words, "bench.yaml", "--voice", args.voice],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start

    warm = check(text)
    start, _ = warm["plan"]["chapter_samples"][2]
    page.first_audio(f"/play/{warm['id']}.wav?from={start}")  # levels every clip once
    cli("build")
    runs: dict[str, list[float]] = {k: [] for k in ("plan", "audio", "cli", "build")}
    for r in range(args.rounds):
        edited = text.replace("hold: {duration: 8s", f"hold: {{duration: {9 + r}s", 1)
        t0 = time.perf_counter()
        checked = check(edited)
        runs["plan"].append(time.perf_counter() - t0)
        start, _ = checked["plan"]["chapter_samples"][2]
        t0 = time.perf_counter()
        first = page.first_audio(f"/play/{checked['id']}.wav?from={start}")
        runs["audio"].append(time.perf_counter() - t0)
        assert len(first) >= FIRST_AUDIO_BYTES
        runs["cli"].append(cli("plan"))
        runs["build"].append(cli("build"))
    return [
        ["edit to plan (studio)", spread(runs["plan"]), "< 0.10"],
        ["chapter 3 first audio (studio)", spread(runs["audio"]), "< 1.00"],
        ["plan (CLI, warm)", spread(runs["cli"]), ""],
        ["build (CLI, warm)", spread(runs["build"]), ""],
    ]


if __name__ == "__main__":
    main()
