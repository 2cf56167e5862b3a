"""The speed and memory sections of scripts/bench.py: builds against the tools themselves, in
interleaved rounds, each figure with its spread; memory of the whole process tree (the build,
ffmpeg, any voice process) as well as of its largest process.

  speed   warm builds against ffmpeg alone encoding the same PCM; cold builds against espeak-ng's
          command line speaking the same lines (one call for them all, at the same rate) plus
          that encode; `plan` of the same routine, warm
  memory  peaks of warm builds at 20, 60 and 180 minutes

Run through bench.py (`.venv/bin/python scripts/bench.py speed memory --rounds 5`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SAMPLE_S = 0.02
"""How often the process tree's memory is read (a peak shorter than this can be missed)."""
PAGE = os.sysconf("SC_PAGE_SIZE")


class Bench(Protocol):
    tmp: Path
    voice: str

    def routine(self, name: str, text: str) -> Path: ...
    def plan(self, routine: Path, cache: str = "cache") -> dict[str, Any]: ...
    def build_command(self, routine: Path, out: Path, cache: str) -> list[str]: ...
    def plan_command(self, routine: Path, cache: str) -> list[str]: ...


@dataclass(frozen=True)
class Run:
    wall_s: float
    tree_mib: float
    """The most the command and all its descendants held at once: the sum of their proportional
    set sizes (a page two processes share, ffmpeg's libraries in two encoders say, counted
    half in each; summing resident sizes counted it twice)."""
    largest_mib: float
    """The most any one of them held (resident set)."""


def tree_run(command: list[str], stdin: bytes | None = None) -> Run:
    """Run `command`, reading the resident memory of it and every descendant every SAMPLE_S."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    tree = largest = 0
    while proc.poll() is None:
        pids = _descendants(proc.pid)
        tree = max(tree, sum(_pss(pid) for pid in pids))
        largest = max(largest, max((_rss(pid) for pid in pids), default=0))
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{err}")
    return Run(wall, tree / 2**20, largest / 2**20)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _pss(pid: int) -> int:
    """A process's proportional set size: its private pages and its share of shared ones."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def encode_alone(track: Path, out: Path) -> float:
    """ffmpeg alone encoding the PCM the build encoded (s16le, as the build feeds it; decoded
    first, not timed)."""
    decode = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(track), "-f", "s16le", "-"]
    pcm = subprocess.run(decode, capture_output=True, check=True).stdout
    probe = ["ffprobe", "-v", "error", "-show_entries", "stream=channels", "-of", "csv=p=0"]
    channels = subprocess.run([*probe, str(track)], capture_output=True, text=True).stdout
    encode = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", "44100"]
    encode += ["-ac", channels.strip() or "1", "-i", "pipe:0", "-c:a", "libmp3lame"]
    return tree_run([*encode, "-b:a", "128k", str(out)], stdin=pcm).wall_s


def espeak_alone(plan: dict[str, Any], rate: int) -> float:
    """espeak-ng's command line speaking every distinct line of the plan, in one call."""
    texts = dict.fromkeys(c["text"] for c in plan["cues"] if c["kind"] == "speech")
    command = ["espeak-ng", "-b", "1", "-s", str(rate), "--stdout"]
    return tree_run(command, stdin="\n".join(texts).encode()).wall_s


def spread(values: list[float]) -> str:
    """The median, with the lowest and highest."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def speed(bench: Bench, rounds: int, minutes: tuple[float, ...] = (20, 60)) -> None:
    print("Speed: builds against the tools themselves, in interleaved rounds")
    print(f"{_machine()} at the start")
    rows = []
    for length in minutes:
        routine = bench.routine(f"speed{length:g}", make_routine(length))
        out = bench.tmp / f"speed{length:g}.mp3"
        runs: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "encode", "espeak", "plan")}
        for r in range(rounds):
            cache = f"cold{length:g}-{r}"
            runs["cold"].append(tree_run(bench.build_command(routine, out, cache)).wall_s)
            runs["warm"].append(tree_run(bench.build_command(routine, out, cache)).wall_s)
            runs["encode"].append(encode_alone(out, bench.tmp / "alone.mp3"))
            plan = bench.plan(routine, cache)
            runs["espeak"].append(espeak_alone(plan, 150))
            runs["plan"].append(tree_run(bench.plan_command(routine, cache)).wall_s)
        warm = [w / e for w, e in zip(runs["warm"], runs["encode"], strict=True)]
        cold = [
            c / (s + e)
            for c, s, e in zip(runs["cold"], runs["espeak"], runs["encode"], strict=True)
        ]
        name = f"{plan['total_s'] / 60:.0f} min"
        rows += [
            [f"{name}, ffmpeg encoding alone", spread(runs["encode"]), ""],
            [f"{name}, espeak-ng alone", spread(runs["espeak"]), ""],
            [f"{name}, warm build", spread(runs["warm"]), f"{spread(warm)}x encode"],
            [f"{name}, cold build", spread(runs["cold"]), f"{spread(cold)}x espeak-ng + encode"],
            [f"{name}, plan (warm)", spread(runs["plan"]), ""],
        ]
    print(f"voice {bench.voice}, {rounds} rounds: median (lowest-highest); ratios per round")
    table(["", "seconds", "ratio"], rows)
    print(f"{_machine()} at the end\n")


def _machine() -> str:
    """The cores a build's encoders may use, and how busy the machine is (others share it)."""
    from audioguide.publish.spans import encoders

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{encoders()} encoder(s) on {os.cpu_count()} cores, load average {load}"


def memory(bench: Bench, minutes: tuple[float, ...] = (20, 60, 180)) -> None:
    print("Memory: peaks of warm builds (the whole process tree's proportional set size, and its")
    print("largest process's resident set)")
    rows, trees = [], {}
    for length in minutes:
        routine = bench.routine(f"memory{length:g}", make_routine(length))
        out = bench.tmp / f"memory{length:g}.mp3"
        tree_run(bench.build_command(routine, out, "memory"))  # fills the cache
        run = tree_run(bench.build_command(routine, out, "memory"))
        trees[length] = run.tree_mib
        rows.append(
            [
                f"{length:g} min",
                f"{run.tree_mib:.0f} MiB",
                f"{run.tree_mib / trees[minutes[0]]:.2f}x {minutes[0]:g} min",
                f"{run.largest_mib:.0f} MiB",
                f"{run.wall_s:.1f} s",
            ]
        )
    table(["warm build", "process tree", "ratio", "largest process", "wall"], rows)
    print(f"bar: the longest within 1.3x the {minutes[0]:g}-minute tree\n")


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    print()


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
