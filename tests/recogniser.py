"""Word error rate with the offline recogniser pocketsphinx (its bundled US English model): what
tests/test_natural.py and scripts/measure_voices.py measure a voice by."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
from pocketsphinx import Decoder
from scipy.signal import resample_poly

from audioguide.audio import SAMPLE_RATE, Samples
from audioguide.cues import Speech
from audioguide.language.library import BUNDLED_DIR
from audioguide.language.load import RoutineSource
from audioguide.timing.compile import compile_timeline
from audioguide.voices.clips import Voice
from audioguide.voices.fake import FakeVoice

RECOGNISER_RATE = 16_000
CUES = 25


def words(text: str) -> list[str]:
    """Text as the recogniser writes it: lower case, no punctuation, hyphens as spaces."""
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def edits(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def pcm16(clip: Samples) -> bytes:
    """A clip at SAMPLE_RATE as the recogniser takes it: 16-bit at 16 kHz."""
    pcm = resample_poly(clip.astype(np.float64), RECOGNISER_RATE, SAMPLE_RATE)
    return (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16).tobytes()


def recognise(clip: Samples) -> list[str]:
    """What pocketsphinx hears in a clip, word by word."""
    decoder = Decoder(samprate=RECOGNISER_RATE, logfn="/dev/null")
    decoder.start_utt()
    decoder.process_raw(pcm16(clip), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return words(hyp.hypstr if hyp else "")


def word_error(voice: Voice, texts: Iterable[str]) -> float:
    """Word errors over reference words, each text spoken by `voice` and recognised alone."""
    errors = total = 0
    for text in texts:
        ref = words(text)
        errors += edits(ref, recognise(voice.synthesize(text)))
        total += len(ref)
    return errors / total


def cue_texts(name: str = "psoas-release") -> list[str]:
    """A bundled routine's distinct spoken lines, in order."""
    routine = RoutineSource.read(BUNDLED_DIR / f"{name}.yaml").routine()
    cues = compile_timeline(routine, FakeVoice()).cues
    return list(dict.fromkeys(c.text for c in cues if isinstance(c, Speech)))


def plain_cues(count: int = CUES) -> list[str]:
    """The first `count` distinct cues of psoas-release without digits (the recogniser writes
    numbers as words)."""
    return [t for t in cue_texts() if not re.search(r"\d", t)][:count]
