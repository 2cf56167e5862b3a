"""The mixer: a Timeline becomes blocks of samples, streamed, with the voice as the level every
other sound is set against (levels.py). One pass mixes, limits and hands each block on.

Levels are known before a sample is mixed, so nothing is measured on the mix. Normalising the
whole mix instead let a bed in long silences set the gain, and the limiter then held the voice
down by up to 30 dB (measured: a 5-minute sit with rain, speech crest factor 12.5 dB against 15.2
dB without the bed). The mix is made a block at a time, so memory does not grow with the session,
and a streaming limiter catches what overlapping sounds add, its gain carried across block edges
(the old per-block limiter stepped by 0.17 of full scale at one edge).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from ..audio import Samples, to_samples
from ..cues import (
    Cue,
    HoldCue,
    Progress,
    RestCue,
    SilenceCue,
    SoundCue,
    Timeline,
    pan_of,
)
from ..options import DEFAULT_BITRATE_KBPS, TARGET_LUFS
from ..voices.clips import Voice
from .ducking import BedLayer
from .levels import SPEECH_PEAK_DBTP, Clip, Clips, peak_ceiling_dbtp
from .peaks import Limiter
from .sounds import sound_samples

BLOCK_SAMPLES: Final = to_samples(1.0)
"""A second at a time: the limiter's per-call cost (0.1 ms) is then nothing, and the encoder's
pipe always has the next block ready."""


def render(
    timeline: Timeline,
    voice: Voice,
    *,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float | None = None,
    progress: Progress | None = None,
) -> Samples:
    """The whole track in one array: mono (n,), or stereo (n, 2) when any cue is panned. For
    tests and small tracks; a build streams `render_blocks` into the encoder instead."""
    blocks = list(
        render_blocks(
            timeline, voice, target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp, progress=progress
        )
    )
    channels = 2 if is_stereo(timeline) else 1
    empty = np.zeros((0, 2) if channels == 2 else 0, dtype=np.float32)
    return np.concatenate(blocks) if blocks else empty


def is_stereo(timeline: Timeline) -> bool:
    return any(pan_of(cue) != 0 for cue in timeline.cues)


def render_blocks(
    timeline: Timeline,
    voice: Voice,
    *,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float | None = None,
    progress: Progress | None = None,
    start_sample: int = 0,
) -> Iterator[Samples]:
    """The track, mixed, a block at a time, from `start_sample` (a chapter's start, to play from
    there) to its end: timeline.total_samples samples in all. Its true peak is limited to
    `ceiling_dbtp`, by default what leaves the MP3 encoder room at the default bitrate
    (sound.levels.peak_ceiling_dbtp). Started later, the limiter starts at rest: the samples
    equal the whole track's wherever it was not limiting just before (a chapter starts quiet)."""
    channels = 2 if is_stereo(timeline) else 1
    if ceiling_dbtp is None:
        ceiling_dbtp = peak_ceiling_dbtp(DEFAULT_BITRATE_KBPS, channels)
    clips = Clips(voice, target_lufs, min(SPEECH_PEAK_DBTP, ceiling_dbtp))
    mixer = _Mixer(timeline, clips, start_sample)
    limiter = Limiter(ceiling_dbtp, channels)
    delay = limiter.latency
    total = timeline.total_samples
    start = min(max(0, start_sample), total)
    for lo in range(start, total, BLOCK_SAMPLES):
        hi = min(lo + BLOCK_SAMPLES, total)
        block, bound = mixer.block(lo, hi)
        out = limiter.process(block, peak_bound=bound)
        # The limiter's output runs `delay` samples behind: its first samples are the delay.
        skip = max(0, delay - (lo - start))
        if skip < len(out):
            yield out[skip:]
        if progress:
            progress(hi - start, total - start)
    tail = limiter.flush()
    yield tail[max(0, delay - (total - start)) :]


def mix(timeline: Timeline, voice: Voice, *, target_lufs: float = TARGET_LUFS) -> Samples:
    """The levelled cues and the bed at their offsets, before the limiter."""
    mixer = _Mixer(timeline, Clips(voice, target_lufs))
    parts = [
        mixer.block(lo, min(lo + BLOCK_SAMPLES, timeline.total_samples))[0]
        for lo in range(0, timeline.total_samples, BLOCK_SAMPLES)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def pan_gains(pan: float) -> tuple[float, float]:
    """Left and right gains for a pan from -1 to 1: constant power, the centre at -3 dB in each
    channel, so any cue of a stereo track measures what it would in a mono one (BS.1770 adds the
    channels' power: the same samples in both would read 3 LU louder)."""
    if pan == 0:
        return _CENTRE, _CENTRE  # exactly: cos and sin of pi/4 differ in the last bit
    angle = (pan + 1) * math.pi / 4
    return math.cos(angle), math.sin(angle)


_CENTRE: Final = math.sqrt(0.5)


# ---------------------------------------------------------------------------- the mixer


@dataclass
class _Sounding:
    """A cue that makes sound, while the mixer is inside it."""

    cue: Cue
    end: int
    pan: float
    clip: Clip | None = None


def _end(cue: Cue, total: int) -> int:
    """Where a cue stops sounding: its end, or for a struck sound the end of its ring, which
    carries on under what follows (sounds.STEP_S), never past the track."""
    if isinstance(cue, SoundCue):
        return min(total, max(cue.end_sample, cue.start_sample + len(sound_samples(cue.sound))))
    return cue.end_sample


class _Mixer:
    """Adds the cues sounding in each block, and the bed under them."""

    def __init__(self, timeline: Timeline, clips: Clips, start_sample: int = 0) -> None:
        self.clips = clips
        self.stereo = is_stereo(timeline)
        self.pending = sorted(
            (c for c in timeline.cues if not isinstance(c, HoldCue | RestCue | SilenceCue)),
            key=lambda c: c.start_sample,
        )
        # Started later, the cues that ended before the start are never made.
        self.next = bisect.bisect_left([c.start_sample for c in self.pending], start_sample)
        self.total = timeline.total_samples
        self.active = [
            _Sounding(c, _end(c, self.total), pan_of(c))
            for c in self.pending[: self.next]
            if _end(c, self.total) > start_sample
        ]
        self.bed = BedLayer(timeline, clips, timeline.bed) if timeline.bed is not None else None

    def block(self, lo: int, hi: int) -> tuple[Samples, float]:
        """The mix over [lo, hi), and a bound on its true peak (linear)."""
        while self.next < len(self.pending) and self.pending[self.next].start_sample < hi:
            cue = self.pending[self.next]
            self.active.append(_Sounding(cue, _end(cue, self.total), pan_of(cue)))
            self.next += 1
        out = np.zeros((hi - lo, 2) if self.stereo else hi - lo, dtype=np.float32)
        bound = 0.0
        for sounding in self.active:
            if sounding.clip is None:
                sounding.clip = self.clips.of(sounding.cue)
            clip = sounding.clip
            start = sounding.cue.start_sample
            # The plan is the contract: a clip never spills past the length it was given (a
            # struck sound's ring is part of its length: see _end).
            end = min(start + len(clip.samples), sounding.end)
            a, b = max(lo, start), min(hi, end)
            if a >= b:
                continue
            part = clip.samples[a - start : b - start]
            if out.ndim == 1:
                out[a - lo : b - lo] += part
                bound += clip.peak
            else:
                gains = pan_gains(sounding.pan)
                for channel, gain in enumerate(gains):
                    out[a - lo : b - lo, channel] += part * np.float32(gain)
                bound += clip.peak * max(gains)
        self.active = [s for s in self.active if s.end > hi]
        if self.bed is not None:
            layer, bed_peak = self.bed.block(lo, hi)
            if out.ndim == 1:
                out += layer
                bound += bed_peak
            else:  # centred, as pan_gains(0) would place it
                out += layer[:, None] * np.float32(_CENTRE)
                bound += bed_peak * _CENTRE
        return out, bound
