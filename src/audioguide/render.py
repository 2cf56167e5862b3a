"""Render stage: a Timeline becomes samples, mixed in numpy and normalised for loudness.

Clips are added into one preallocated float32 buffer by slice, so the cost is linear in the
number of cues and memory is the output itself (overlaying onto a growing pydub segment copies
the whole track per cue: measured 23 s for 200 cues on 20 minutes, against 0.13 s here).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from .audio import SAMPLE_RATE, Samples, to_samples
from .sounds import breath_sound, sound_samples
from .timeline import CueKind, Progress, Timeline
from .voices import Voice

TARGET_LUFS: Final = -16.0
"""Integrated loudness of the finished track: Apple Podcasts' spoken-word target."""
TRUE_PEAK_DBTP: Final = -1.0
PEAK_MARGIN_DB: Final = 0.5
"""Headroom kept below the true-peak ceiling for what MP3 encoding adds to inter-sample peaks."""
_BLOCK: Final = to_samples(10.0)


def render(
    timeline: Timeline,
    voice: Voice,
    *,
    target_lufs: float = TARGET_LUFS,
    progress: Progress | None = None,
) -> Samples:
    out = np.zeros(timeline.total_samples, dtype=np.float32)
    for i, cue in enumerate(timeline.cues, start=1):
        if cue.kind is CueKind.SPEECH:
            assert cue.text is not None
            clip = voice.synthesize(cue.text)
        elif cue.kind is CueKind.SOUND:
            assert cue.sound is not None
            clip = sound_samples(cue.sound)
        elif cue.kind is CueKind.BREATH:
            assert cue.phase is not None
            clip = breath_sound(cue.phase, cue.n_samples)
        else:
            clip = None
        if clip is not None:
            # The plan is the contract: a clip never spills past the length it was given.
            n = min(len(clip), cue.n_samples, len(out) - cue.start_sample)
            out[cue.start_sample : cue.start_sample + n] += clip[:n]
        if progress:
            progress(i, len(timeline.cues))
    return normalize(out, target_lufs)


def normalize(samples: Samples, target_lufs: float = TARGET_LUFS) -> Samples:
    """Scale to the target integrated loudness (ITU-R BS.1770 via pyloudnorm), never letting the
    true peak pass the ceiling; in place."""
    loudness = integrated_loudness(samples)
    if not np.isfinite(loudness):
        return samples  # silence, or shorter than one 400 ms gating block
    gain_db = target_lufs - loudness
    peak_db = true_peak_db(samples) + gain_db
    ceiling = TRUE_PEAK_DBTP - PEAK_MARGIN_DB
    if peak_db > ceiling:
        gain_db -= peak_db - ceiling
    samples *= np.float32(10 ** (gain_db / 20))
    return samples


def integrated_loudness(samples: Samples) -> float:
    import pyloudnorm

    meter = pyloudnorm.Meter(SAMPLE_RATE)
    if len(samples) < to_samples(meter.block_size):
        return float("-inf")
    return float(meter.integrated_loudness(samples))


def true_peak_db(samples: Samples) -> float:
    """Peak of the 4x oversampled signal (BS.1770 annex 2), in blocks to bound memory."""
    from scipy.signal import resample_poly

    pad = 64
    peak = 0.0
    for start in range(0, len(samples), _BLOCK):
        block = samples[max(0, start - pad) : start + _BLOCK + pad]
        if np.any(block):
            peak = max(peak, float(np.max(np.abs(resample_poly(block, 4, 1)))))
    return 20 * float(np.log10(peak)) if peak > 0 else float("-inf")
