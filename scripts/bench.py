#!/usr/bin/env python3
"""Benchmark `audioguide build` on a generated ~20-minute routine, against the bare encoder.

Shared machines are noisy, so every figure is measured in the same run, interleaved round by
round, and reported as a ratio to the floor: the time ffmpeg alone takes to encode the same
length of audio with the same settings. The last row lays a background bed (`--bed rain`) under
the same build, which costs a second loudness pass. Usage:

    .venv/bin/python scripts/bench.py [--minutes 20] [--rounds 2] [--voice system]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "audioguide"


def make_routine(minutes: float) -> str:
    """Exercises with unique spoken lines, counted reps, holds with countdowns, breathing."""
    lines = [
        "title: Benchmark session",
        "author: bench",
        "steps:",
        "  - say: Welcome to the benchmark session. Stop if anything hurts.",
    ]
    per_exercise_s = 65.0
    for i in range(1, max(1, round(minutes * 60 / per_exercise_s)) + 1):
        lines += [
            f"  - exercise: Exercise number {i}",
            f"    say: This is exercise {i}. Move slowly and breathe.",
            "    reps: 3",
            "    rep:",
            f"      - say: Lift and hold, part {i}.",
            "      - hold: {duration: 8s, countdown: 3}",
            "      - say: Lower slowly.",
            "      - pause: 4",
            "  - breathe: {pattern: 4-0-6-0, cycles: 1, guide: 1}",
        ]
    lines.append("  - sound: bell")
    return "\n".join(lines) + "\n"


def run(cmd: list[str], **env: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command, measured on its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def encode_floor(track: Path, out: Path) -> float:
    """ffmpeg alone, encoding the very audio the build produced (decoded first, not timed)."""
    pcm = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(track),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "44100",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "s16le",
        "-ar",
        "44100",
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        str(out),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, input=pcm, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--voice", default="system")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        routine = tmp / "bench.yaml"
        routine.write_text(make_routine(args.minutes), encoding="utf-8")
        out = tmp / "bench.mp3"

        def audioguide(*command: str) -> str:
            warmup = ["--voice", args.voice, "--cache-dir", str(tmp / "warmup")]
            return subprocess.run(
                [str(BIN), *command, str(routine), *warmup],
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        plan = audioguide("check").strip()
        length_s = json.loads(audioguide("plan", "--json"))["total_s"]
        print(f"routine: {plan}")
        build = [str(BIN), "build", str(routine), "-o", str(out), "--voice", args.voice]
        builds = {"cold": [], "warm": [], "bed": ["--bed", "rain"]}
        rows: dict[str, list[float]] = {"encoder": [], **{name: [] for name in builds}}
        rss: dict[str, list[float]] = {name: [] for name in builds}
        for r in range(args.rounds):
            cache = str(tmp / f"cache{r}")
            for name, extra in builds.items():
                wall, peak = run([*build, "--cache-dir", cache, *extra])
                rows[name].append(wall)
                rss[name].append(peak)
            rows["encoder"].append(encode_floor(out, tmp / "floor.mp3"))
        floor = statistics.median(rows["encoder"])
        print(
            f"audio length {length_s / 60:.1f} min, voice {args.voice}, "
            f"median of {args.rounds} interleaved rounds"
        )
        print(f"{'':<22}{'seconds':>9}{'x encoder':>11}{'x real time':>13}{'peak RSS':>11}")
        for name, label in (
            ("encoder", "bare encoder (floor)"),
            ("cold", "build, cold cache"),
            ("warm", "build, warm cache"),
            ("bed", "warm, with a rain bed"),
        ):
            wall = statistics.median(rows[name])
            mem = f"{statistics.median(rss[name]):.0f} MiB" if name in rss else ""
            print(f"{label:<22}{wall:>9.2f}{wall / floor:>11.2f}{length_s / wall:>13.0f}{mem:>11}")


if __name__ == "__main__":
    main()
