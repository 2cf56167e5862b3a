"""How fast and how intelligible each English voice is, as docs/voices.md reports it.

For each voice: the time to load it and speak its first line, then the time to speak the distinct
lines of psoas-release (x real time: seconds of speech per second of wall time), and the word error
rate of the offline recogniser pocketsphinx (its bundled US English model) on the issue's test
sentence and on the first 25 distinct cues of psoas-release without digits, as audioguide renders
them at rate 150 (resampled to the recogniser's 16 kHz).

    .venv/bin/python scripts/measure_voices.py                # natural, natural:heart, system
    .venv/bin/python scripts/measure_voices.py natural:heart  # one voice

Nothing is cached: every line is spoken afresh.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from audioguide.audio import SAMPLE_RATE  # noqa: E402
from audioguide.voices.choose import open_voice  # noqa: E402
from recogniser import cue_texts, plain_cues, word_error, words  # noqa: E402

TEST_SENTENCE = "Lie on your back and bend your knees. Inhale slowly. Hold for five seconds."


def measure(spec: str, distinct: list[str]) -> None:
    start = time.perf_counter()
    open_voice(spec, cache=False).synthesize("Warm up.")
    load_s = time.perf_counter() - start
    voice = open_voice(spec, cache=False)
    start = time.perf_counter()
    speech_s = sum(len(voice.synthesize(t)) for t in distinct) / SAMPLE_RATE
    wall_s = time.perf_counter() - start
    plain = plain_cues()
    print(
        f"{spec}: load and first line {load_s:.2f} s; {len(distinct)} lines, {speech_s:.1f} s of "
        f"speech in {wall_s:.2f} s, {speech_s / wall_s:.0f}x real time; word error "
        f"{word_error(voice, [TEST_SENTENCE]):.2f} (test sentence), "
        f"{word_error(voice, plain):.2f} ({len(plain)} cues, {sum(len(words(t)) for t in plain)} "
        "words)",
        flush=True,
    )


def main() -> None:
    distinct = cue_texts()
    for spec in sys.argv[1:] or ["natural", "natural:heart", "system:en-us"]:
        measure(spec, distinct)


if __name__ == "__main__":
    main()
