#!/usr/bin/env python3
"""The bed as an engineer would ride it, measured on the mix with and without it (before the
encoder): the figures docs/sound.md quotes.

  ride    a bed file of pink noise with a 2 s burst 20 dB over its body, in a pause: its 3 s and
          400 ms windows against the asked level, the burst against the voice
  dip     ocean, rain and brown under 20 spoken lines: the bed's loudest 400 ms under each line
          against the voice, and how far it swells in the 1.3-3 s gaps between them
  pacer   the breath pacer over rain: each inhale and exhale against the bed under it; the tone
          pacer's deepest 100 ms dip against its neighbours, where the breath turns
  loops   how alike a built-in bed's loudness is with itself 3 to 60 s later (1 is a repeat)
  mono    a `pan: sides` mix summed to mono by averaging its channels: speech loudness
  onset   where each engine's spoken clips start, levelled (needs espeak-ng and Piper)

Usage: .venv/bin/python scripts/bench_bed.py [ride dip pacer loops mono onset] [--voice fake]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from audioguide.audio import SAMPLE_RATE, Samples, to_samples  # noqa: E402
from audioguide.cues import BreathCue, Cue, Speech, Timeline  # noqa: E402
from audioguide.model import Bed, BuiltinSound, PacerStyle, SoundFile  # noqa: E402
from audioguide.options import TARGET_LUFS  # noqa: E402
from audioguide.sound.beds import _pink, bed_loop, shaped_noise  # noqa: E402
from audioguide.sound.levels import _level_speech  # noqa: E402
from audioguide.sound.meter import clip_loudness  # noqa: E402
from audioguide.sound.mix import mix, render  # noqa: E402
from audioguide.voices.choose import open_voice  # noqa: E402
from audioguide.voices.clips import Voice  # noqa: E402
from test_bed_mix import GAPS_S, TEXTS  # noqa: E402
from test_beds import envelope  # noqa: E402
from test_sounds import write_wav  # noqa: E402

SECTIONS = ("ride", "dip", "pacer", "loops", "mono", "onset")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", choices=SECTIONS, default=[])
    parser.add_argument("--voice", default="fake")
    args = parser.parse_args()
    voice = open_voice(args.voice, cache=False)
    for section in args.sections or [s for s in SECTIONS if s != "onset"]:
        print(f"## {section}")
        globals()[section](voice)


def alone(timeline: Timeline, voice: Voice) -> tuple[Samples, Samples]:
    rest = mix(dataclasses.replace(timeline, bed=None), voice)
    return mix(timeline, voice) - rest, rest


def loudest(x: Samples, size_s: float = 0.4) -> float:
    size, hop = to_samples(size_s), to_samples(0.05)
    if len(x) <= size:
        return clip_loudness(x)
    return max(clip_loudness(x[i : i + size]) for i in range(0, len(x) - size + 1, hop))


def windows(x: Samples, size_s: float, hop_s: float) -> list[float]:
    size, hop = to_samples(size_s), to_samples(hop_s)
    return [clip_loudness(x[i : i + size]) for i in range(0, len(x) - size + 1, hop)]


def ride(voice: Voice) -> None:
    noise = 0.05 * shaped_noise(to_samples(60), _pink, seed=5)
    burst = slice(to_samples(29), to_samples(31))
    noise[burst] *= 10
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "street.wav", noise, SAMPLE_RATE, 2)
        n = len(voice.synthesize(TEXTS[0]))
        for level in (-18.0, -24.0):
            cues = (Speech(to_samples(5), n, TEXTS[0]), Speech(to_samples(45), n, TEXTS[0]))
            timeline = Timeline("T", "", to_samples(55), cues, (), Bed(SoundFile(wav), level))
            bed, _ = alone(timeline, voice)
            pause = bed[to_samples(8) : to_samples(44)]
            asked = TARGET_LUFS + level
            short = [w - asked for w in windows(pause, 3.0, 0.5)]
            moment = [w - asked for w in windows(pause, 0.4, 0.1)]
            print(
                f"level {level:g}: 3 s windows {min(short):+.1f} to {max(short):+.1f} LU from it, "
                f"400 ms {min(moment):+.1f} to {max(moment):+.1f}; the burst "
                f"{clip_loudness(bed[burst]) - TARGET_LUFS:.1f} LU against the voice (2 s), "
                f"{loudest(bed[burst]) - TARGET_LUFS:.1f} at its loudest 400 ms"
            )


def lines(bed: Bed, voice: Voice) -> Timeline:
    cues: list[Cue] = []
    t = to_samples(1.0)
    for i in range(20):
        text = TEXTS[i % len(TEXTS)]
        n = len(voice.synthesize(text))
        cues.append(Speech(t, n, text))
        t += n + to_samples(GAPS_S[i % len(GAPS_S)])
    return Timeline("T", "", t + to_samples(4.0), tuple(cues), (), bed)


def dip(voice: Voice) -> None:
    for name, level in itertools.product(("ocean", "rain", "brown"), (-18.0, -10.0)):
        timeline = lines(Bed(BuiltinSound(name), level), voice)
        bed, speech = alone(timeline, voice)
        cues = timeline.cues
        under = [
            clip_loudness(speech[c.start_sample : c.end_sample])
            - loudest(bed[c.start_sample : c.end_sample])
            for c in cues
        ]
        swells = [
            loudest(bed[a.end_sample : b.start_sample])
            - max(loudest(bed[c.start_sample : c.end_sample]) for c in (a, b))
            for a, b in itertools.pairwise(cues)
            if 1.3 * SAMPLE_RATE <= b.start_sample - a.end_sample <= 3.0 * SAMPLE_RATE
        ]
        print(
            f"{name} at {level:g}: loudest 400 ms under a line {min(under):.1f} LU under the "
            f"voice at least ({len(under)} lines); {len(swells)} gaps of 1.3-3 s swell by "
            f"{max(swells):+.1f} dB at most"
        )


def breaths(bed: Bed | None, pacer: PacerStyle, seconds: float = 5.0) -> Timeline:
    cues: list[Cue] = []
    t = to_samples(2.0)
    for _ in range(6):
        for phase in ("inhale", "exhale"):
            cues.append(BreathCue(t, to_samples(seconds), phase, pacer))
            t += to_samples(seconds)
    return Timeline("T", "", t + to_samples(3.0), tuple(cues), (), bed)


def pacer(voice: Voice) -> None:
    for level in (-22.0, -18.0):
        timeline = breaths(Bed(BuiltinSound("rain"), level), "breath")
        bed, paced = alone(timeline, voice)
        gaps: dict[str, list[float]] = {"inhale": [], "exhale": []}
        for c in timeline.cues:
            assert isinstance(c, BreathCue)
            span = slice(c.start_sample, c.end_sample)
            gaps[c.phase].append(clip_loudness(paced[span]) - clip_loudness(bed[span]))
        print(
            f"breath pacer over rain at {level:g}: the bed {min(gaps['inhale']):.1f} LU under "
            f"the inhale, {min(gaps['exhale']):.1f} under the exhale, at least"
        )
    for seconds in (3.0, 5.0):
        timeline = breaths(None, "tone", seconds)
        out = mix(timeline, voice).astype(np.float64)
        size, hop = to_samples(0.1), to_samples(0.01)
        span = out[timeline.cues[0].start_sample + size : timeline.cues[-1].end_sample - size]
        squares = np.concatenate([[0.0], np.cumsum(span**2)])
        starts = np.arange(0, len(span) - size + 1, hop)
        db = 10 * np.log10((squares[starts + size] - squares[starts]) / size + 1e-20)
        k = size // hop
        dips = np.maximum(db[: -2 * k], db[2 * k :]) - db[k:-k]
        print(f"tone pacer, {seconds:g} s breaths: deepest 100 ms dip {dips.max():.1f} dB")


def loops(voice: Voice) -> None:
    del voice
    for name in ("ocean", "rain", "brown", "drone"):
        loop = bed_loop(BuiltinSound(name))
        env = envelope(loop)
        env -= env.mean()
        around = np.correlate(np.tile(env, 2), env, "valid")[: len(env)] / (env @ env)
        lags = np.arange(len(around)) * 0.25
        inside = (lags >= 3) & (lags <= 60)
        at = lags[inside][around[inside].argmax()]
        print(
            f"{name}: loop {len(loop) / SAMPLE_RATE:g} s; loudness most alike {at:g} s later "
            f"(correlation {around[inside].max():.2f})"
        )


def mono(voice: Voice) -> None:
    cues = []
    t = to_samples(0.5)
    for pan in (0.0, -0.6, 0.6):
        n = len(voice.synthesize(TEXTS[0]))
        cues.append(Speech(t, n, TEXTS[0], pan))
        t += n + to_samples(1.0)
    stereo = render(Timeline("T", "", t, tuple(cues), (), None), voice)
    summed = stereo.mean(axis=1)
    for c in cues:
        span = slice(c.start_sample, c.end_sample)
        print(
            f"pan {c.pan:+g}: {clip_loudness(stereo[span]):.1f} LUFS in stereo, "
            f"{clip_loudness(summed[span]):.1f} summed to mono"
        )


def onset(voice: Voice) -> None:
    del voice
    for engine in ("system", "natural"):
        spoken = open_voice(engine, cache=False)
        for text in ("One.", "Two.", "Inhale.", "Hold it gently."):
            raw = spoken.synthesize(text)
            levelled = _level_speech(raw, TARGET_LUFS)
            before, after = _onset_ms(raw), _onset_ms(levelled)
            print(f"{engine} {text!r}: starts {before:.1f} ms in raw, {after:.1f} levelled")


def _onset_ms(x: Samples) -> float:
    level = np.abs(x)
    return float(np.argmax(level >= level.max() * 10 ** (-40 / 20))) / SAMPLE_RATE * 1000


if __name__ == "__main__":
    main()
