#!/usr/bin/env python3
"""Benchmarks of the sound engine against the limits its issue names, every figure measured in
the same run and reported as a ratio to what it is compared with (these machines are shared and
noisy: only ratios measured side by side mean anything).

  speed   warm builds against ffmpeg alone encoding the same PCM, cold builds against espeak-ng's
          command line speaking the same lines plus that encode, and `plan`, at 20 and 60
          minutes, each a median with its spread over --rounds interleaved rounds
  memory  the whole process tree's peak and its largest process's, warm builds at 20, 60 and
          180 minutes (both in scripts/bench_speed.py)
  peer    the pipeline people write by hand (espeak-ng clips overlaid with pydub, exported with
          pydub) against a warm build, at 60 minutes; slow: about 15 minutes
  bed     the voice's loudness and crest factor with and without a bed, the bed in the silences
  levels  spoken cues against each other, sounds, tones and the pacer against the voice
  peaks   what MP3 encoding adds to the peaks of every bundled routine's spoken lines, mono and
          panned, at 32 to 256 kbps, against the headroom the mix leaves for it; about 13 minutes
  batch   8 clients x 3 sessions: 1 and 2 local workers, and a 2-worker local Dask cluster
          (scripts/bench_batch.py, which also runs on its own)
  studio  the studio on a 20-minute routine, warm: an edit to its plan, a chapter to its first
          audio, beside `plan` and `build` of the same file (scripts/bench_studio.py)
  serve   `audioguide serve` beside nginx on the same site: range downloads and feed fetches
          at 64 and 256 connections, --serve-seconds each (scripts/bench_serve.py)

Usage: .venv/bin/python scripts/bench.py [speed memory peer bed levels peaks batch studio serve]
       [--voice system] [--rounds 5] [--peer-minutes 60] [--serve-seconds 60]
       (no section: all but peer, peaks, batch, studio and serve, the slow ones)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench_speed import make_routine, memory, speed, table  # noqa: E402

from audioguide.cues import Speech  # noqa: E402
from audioguide.language.library import bundled_routines  # noqa: E402
from audioguide.options import Options  # noqa: E402
from audioguide.publish.mp3 import export_mp3  # noqa: E402
from audioguide.publish.tags import Tags  # noqa: E402
from audioguide.session import Session  # noqa: E402
from audioguide.sound.levels import SPEECH_PEAK_DBTP, TRUE_PEAK_DBTP, Clips, peak_ceiling_dbtp  # noqa: E402
from audioguide.sound.meter import clip_loudness, integrated_loudness  # noqa: E402
from audioguide.sound.mix import pan_gains  # noqa: E402
from audioguide.sound.peaks import limit, true_peak_db  # noqa: E402
from audioguide.voices.clips import Voice  # noqa: E402
from audiotools import crest_db, decode_mp3, joined, quiet_gaps, spans  # noqa: E402

BIN = Path(sys.executable).parent / "audioguide"
SECTIONS = ("speed", "memory", "peer", "bed", "levels", "peaks", "batch", "studio", "serve")


class Bench:
    def __init__(self, tmp: Path, voice: str) -> None:
        self.tmp = tmp
        self.voice = voice

    def routine(self, name: str, text: str) -> Path:
        path = self.tmp / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def cli(self, *args: str, cache: str = "cache") -> str:
        command = [str(BIN), *args, "--voice", self.voice, "--cache-dir", str(self.tmp / cache)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def plan(self, routine: Path, cache: str = "cache") -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.cli("plan", str(routine), "--json", cache=cache))
        return doc

    def build_command(self, routine: Path, out: Path, cache: str) -> list[str]:
        command = [str(BIN), "build", str(routine), "-o", str(out), "--voice", self.voice]
        return [*command, "--cache-dir", str(self.tmp / cache)]

    def plan_command(self, routine: Path, cache: str) -> list[str]:
        command = [str(BIN), "plan", str(routine), "--voice", self.voice]
        return [*command, "--cache-dir", str(self.tmp / cache)]

    def build(
        self, routine: Path, out: Path, cache: str = "cache", *extra: str
    ) -> tuple[float, float]:
        """Wall seconds and peak RSS (MiB) of one build, measured on its own process."""
        command = [str(BIN), "build", str(routine), "-o", str(out), "--voice", self.voice]
        return run([*command, "--cache-dir", str(self.tmp / cache), *extra])


MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)
"""Runs a command from a parent of its own, so the peak RSS reported is the command's: a child
forked from this process would start with this process's memory counted as its own."""


def run(command: list[str], stdin: bytes | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], input=stdin, capture_output=True
    )
    wall = time.perf_counter() - t0
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{err}")
    return wall, int(err.strip().splitlines()[-1]) / 1024


PEER = """
import json, sys
from pydub import AudioSegment
plan = json.load(open(sys.argv[1]))
clips = json.load(open(sys.argv[2]))
track = AudioSegment.silent(duration=round(plan["total_s"] * 1000), frame_rate=44100)
for cue in plan["cues"]:
    if cue["kind"] == "speech":
        clip = AudioSegment.from_wav(clips[cue["text"]]).set_frame_rate(44100)
        track = track.overlay(clip, position=round(cue["start_s"] * 1000))
track.export(sys.argv[3], format="mp3", bitrate="128k")
"""


def peer(bench: Bench, minutes: float) -> None:
    print(f"The pipeline written by hand, at {minutes:g} minutes (espeak-ng clips, pydub)")
    routine = bench.routine("peer", make_routine(minutes))
    out = bench.tmp / "peer.mp3"
    bench.build(routine, out, "peer")
    ours, our_rss = bench.build(routine, out, "peer")
    plan = bench.plan(routine, "peer")
    clips: dict[str, str] = {}
    for i, text in enumerate(
        dict.fromkeys(c["text"] for c in plan["cues"] if c["kind"] == "speech")
    ):
        wav = bench.tmp / f"peer-{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True)
        clips[text] = str(wav)
    (bench.tmp / "peer-plan.json").write_text(json.dumps(plan), encoding="utf-8")
    (bench.tmp / "peer-clips.json").write_text(json.dumps(clips), encoding="utf-8")
    command = [sys.executable, "-c", PEER, str(bench.tmp / "peer-plan.json")]
    theirs, their_rss = run(
        [*command, str(bench.tmp / "peer-clips.json"), str(bench.tmp / "peer-out.mp3")]
    )
    table(
        ["", "seconds", "peak RSS", ""],
        [
            ["pydub overlay + export", f"{theirs:.1f}", f"{their_rss:.0f} MiB", ""],
            [
                "audioguide, warm build",
                f"{ours:.1f}",
                f"{our_rss:.0f} MiB",
                f"{theirs / ours:.0f}x faster (bar 50x)",
            ],
        ],
    )


# ---------------------------------------------------------------------------- sound


SIT = """\
title: Sit
{bed}
steps:
  - sound: bell
  - say: Find a comfortable seat, and let your eyes close.
  - say: Breathe naturally. There is nothing to do.
  - pause: {silence}
  - say: If your mind wanders, gently come back to the breath.
  - breathe: {{pattern: 4-0-6-0, cycles: 3}}
  - pause: {silence}
  - say: Slowly open your eyes. Well done.
  - sound: bell
"""
MEDITATION = """\
title: Twenty minutes
{bed}
steps:
  - sound: bell
  - say: Settle in. Let the breath be easy.
  - repeat: 4
    steps:
      - pause: 4m45s
      - sound: bell
      - say: Still here. Come back to the breath.
  - say: Slowly open your eyes.
"""


def measured(bench: Bench, routine: Path) -> dict[str, float]:
    out = routine.with_suffix(".mp3")
    bench.build(routine, out)
    plan = bench.plan(routine)
    audio = decode_mp3(out)
    speech = joined(audio, spans(plan, "speech"))
    figures = {
        "speech": integrated_loudness(speech),
        "crest": crest_db(speech),
        "track": integrated_loudness(audio),
        "peak": true_peak_db(audio),
    }
    gaps = quiet_gaps(plan, len(audio))
    if gaps:
        figures["gaps"] = integrated_loudness(joined(audio, gaps)) - figures["speech"]
    return figures


def bed(bench: Bench) -> None:
    print(
        "Bed: the voice with and without a bed (decoded MP3; levels in LUFS, LU against the voice)"
    )
    cases = [
        ("5-min sit, 90 s silences", SIT, "90s", ["", "bed: rain", "bed: ocean"]),
        ("7-min sit, 3 min silences", SIT, "3m", ["", "bed: rain", "bed: ocean"]),
        ("20-min sit, bell every 5 min", MEDITATION, "", ["", "bed: rain"]),
    ]
    rows = []
    for label, template, silence, beds in cases:
        base: dict[str, float] = {}
        for bed_line in beds:
            name = f"bed-{len(rows)}"
            f = measured(bench, bench.routine(name, template.format(bed=bed_line, silence=silence)))
            base = base or f
            rows.append(
                [
                    f"{label}, {bed_line.removeprefix('bed: ') or 'no bed'}",
                    f"{f['speech']:.2f}",
                    f"{f['crest']:.1f} ({f['crest'] - base['crest']:+.1f})",
                    f"{f['gaps']:+.1f}" if "gaps" in f and bed_line else "",
                    f"{f['peak']:.2f}",
                    f"{f['track']:.1f}",
                ]
            )
    table(
        ["", "voice", "crest dB (vs no bed)", "bed in silences", "true peak", "whole track"], rows
    )
    print("bars: voice -16 +-0.5, crest within 1 dB, bed at its level (-18) +-1.5, peak <= -1\n")


def levels(bench: Bench) -> None:
    print("Levels on the decoded MP3, against the median spoken cue (LU)")
    rows = []
    for name in ("psoas-release", "tabata", "psoas-relax", "psoas-strength"):
        out = bench.tmp / f"{name}.mp3"
        bench.cli("build", name, "-o", str(out))
        plan = json.loads(bench.cli("plan", name, "--json"))
        audio = decode_mp3(out)
        spoken = [clip_loudness(audio[a:b]) for a, b in spans(plan, "speech") if b - a > 4410]
        median = float(np.median(spoken))
        row = [name, f"{min(spoken) - median:+.1f} to {max(spoken) - median:+.1f}"]
        speech_at = spans(plan, "speech")
        for kind in ("sound", "work", "breath"):
            # Sounds heard alone: no spoken cue inside or over them; a work period's tone only
            # for as long as it sounds (the 0.25 s beep), not the silent rest of the period.
            cut = round(0.25 * 44100) if kind == "work" else None
            alone = [
                clip_loudness(audio[a : b if cut is None else a + cut]) - median
                for a, b in spans(plan, kind)
                if not any(s < b and e > a for s, e in speech_at)
            ]
            alone = [v for v in alone if np.isfinite(v)]
            row.append(f"{np.median(alone):+.1f}" if alone else "")
        rows.append(row)
    table(["", "spoken cues", "sounds (-4)", "work tones (-6)", "pacer (-12)"], rows)


PEAK_BITRATES = (32, 48, 64, 96, 128, 160, 192, 256)
PEAK_PAN = 0.6
"""How far the bundled routines pan a side's cues; the worst case measured (a hard pan leaves
the other channel silent, and its bits to the voice)."""


def peaks(bench: Bench, rounds: int) -> None:
    print("Peaks: what MP3 encoding adds to the true peak of every bundled routine's spoken lines")
    spoken: list[tuple[Voice, str]] = []
    with contextlib.ExitStack() as stack:
        for path in bundled_routines().values():
            options = Options(voice=bench.voice, cache_dir=bench.tmp / "cache")
            session = stack.enter_context(Session.open(path, options))
            plan = session.plan()
            voice = session.voice(plan.routine)
            texts = dict.fromkeys(c.text for c in plan.timeline.cues if isinstance(c, Speech))
            spoken += [(voice, t) for t in texts]
        rows = [
            peak_row(bench, spoken, bitrate, channels, rounds)
            for bitrate in PEAK_BITRATES
            for channels in (1, 2)
        ]
    header = ["", "measured", "added: median", "99.9%", "most", "headroom", "decoded peak"]
    table(header, rows)
    print(f"bar: the decoded peak <= {TRUE_PEAK_DBTP:g} dBTP; the most added under the headroom\n")


def peak_row(
    bench: Bench, spoken: list[tuple[Voice, str]], bitrate: int, channels: int, rounds: int
) -> list[str]:
    """One bitrate and layout: every line levelled as a build of it levels them and limited to
    its ceiling, then encoded and decoded, each line's true peak compared."""
    ceiling = peak_ceiling_dbtp(bitrate, channels)
    clips = {v: Clips(v, speech_peak_dbtp=min(SPEECH_PEAK_DBTP, ceiling)) for v, _ in spoken}
    lines = [x for x in (clips[v].speech(t).samples for v, t in spoken) if x.size]
    rng = np.random.default_rng(bitrate)
    added: list[float] = []
    decoded_peaks: list[float] = []
    for _ in range(rounds):
        # Every line once with a random gap after it: each round, a line meets the encoder's
        # frames at another offset, which is what moves what encoding adds to it.
        gaps = rng.integers(11025, 11025 + 1152, len(lines))
        starts = np.concatenate([[0], np.cumsum([len(x) for x in lines] + gaps)[:-1]])
        track = np.zeros(int(starts[-1] + len(lines[-1]) + gaps[-1]), np.float32)
        for x, at in zip(lines, starts, strict=True):
            track[at : at + len(x)] = x
        if channels == 2:  # every other line to the other side
            left, right = pan_gains(PEAK_PAN)
            track = np.stack([track * left, track * right], 1)
            for x, at in zip(lines[1::2], starts[1::2], strict=True):
                track[at : at + len(x)] = track[at : at + len(x), ::-1]
        track = limit(track, ceiling)
        mp3 = bench.tmp / "peaks.mp3"
        export_mp3(track, mp3, tags=Tags("peaks"), bitrate_kbps=bitrate)
        decoded = decode_mp3(mp3, channels=channels)
        for x, at in zip(lines, starts, strict=True):
            after = true_peak_db(decoded[at : at + len(x) + 2000])  # and the decoder's ringing
            added.append(after - true_peak_db(track[at : at + len(x)]))
            decoded_peaks.append(after)
    return [
        f"{bitrate} kbps {'mono' if channels == 1 else 'panned'}",
        f"{len(added)}",
        f"{np.median(added):.2f}",
        f"{np.percentile(added, 99.9):.2f}",
        f"{max(added):.2f}",
        f"{TRUE_PEAK_DBTP - ceiling:.1f}",
        f"{max(decoded_peaks):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", choices=SECTIONS, default=[])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--voice", default="system")
    parser.add_argument("--peer-minutes", type=float, default=60.0)
    parser.add_argument("--serve-seconds", type=int, default=60)
    args = parser.parse_args()
    slow = ("peer", "peaks", "batch", "studio", "serve")
    chosen = args.sections or [s for s in SECTIONS if s not in slow]
    with tempfile.TemporaryDirectory() as tmp_name:
        bench = Bench(Path(tmp_name), args.voice)
        for section in chosen:
            if section == "speed":
                speed(bench, args.rounds)
            elif section == "memory":
                memory(bench)
            elif section == "peer":
                peer(bench, args.peer_minutes)
            elif section == "bed":
                bed(bench)
            elif section == "levels":
                levels(bench)
            elif section == "peaks":
                peaks(bench, args.rounds)
            elif section == "batch":
                sys.path.insert(0, str(ROOT / "scripts"))
                import bench_batch

                print("Batch: many clients on one machine and on a cluster")
                bench_batch.run(
                    argparse.Namespace(clients=8, sessions=3, voice=args.voice, rounds=args.rounds)
                )
            elif section == "studio":
                sys.path.insert(0, str(ROOT / "scripts"))
                import bench_studio

                bench_studio.run(
                    argparse.Namespace(minutes=20.0, voice=args.voice, rounds=args.rounds)
                )
            elif section == "serve":
                sys.path.insert(0, str(ROOT / "scripts"))
                import bench_serve

                bench_serve.run(
                    argparse.Namespace(seconds=args.serve_seconds, connections=[64, 256])
                )


if __name__ == "__main__":
    main()
