"""Render stage: a Timeline becomes samples, mixed in numpy and normalised for loudness.

Clips are added into one preallocated float32 buffer by slice, so the cost is linear in the
number of cues and memory is the output itself (overlaying onto a growing pydub segment copies
the whole track per cue: measured 23 s for 200 cues on 20 minutes, against 0.13 s here).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Final

import numpy as np

from .audio import SAMPLE_RATE, Samples, to_samples
from .errors import ExportError
from .export import INSTALL_FFMPEG
from .sounds import breath_sound, sound_samples
from .timeline import CueKind, Progress, Timeline
from .voices import Voice

TARGET_LUFS: Final = -16.0
"""Integrated loudness of the finished track: Apple Podcasts' spoken-word target."""
TRUE_PEAK_DBTP: Final = -1.0
PEAK_MARGIN_DB: Final = 0.5
"""Headroom kept below the true-peak ceiling for what MP3 encoding adds to inter-sample peaks."""
MAX_LOUDNESS_PASSES: Final = 4
LOUDNESS_TOLERANCE_LU: Final = 0.15
"""ffmpeg reports loudness to 0.1 LU; the spec allows 1."""
_BLOCK: Final = to_samples(2.0)
_ISP_HEADROOM: Final = 10 ** (-6 / 20)
_FILTER_CONTEXT: Final = 64


def render(
    timeline: Timeline,
    voice: Voice,
    *,
    target_lufs: float = TARGET_LUFS,
    progress: Progress | None = None,
) -> Samples:
    """Mix the timeline's cues and normalise the loudness. `progress(done, total)` counts cues,
    then the loudness passes."""
    out = np.zeros(timeline.total_samples, dtype=np.float32)
    total = len(timeline.cues) + MAX_LOUDNESS_PASSES
    for i, cue in enumerate(timeline.cues, start=1):
        if cue.kind is CueKind.SPEECH:
            assert cue.text is not None
            clip = voice.synthesize(cue.text)
        elif cue.kind is CueKind.SOUND:
            assert cue.sound is not None
            clip = sound_samples(cue.sound)
        elif cue.kind is CueKind.BREATH:
            assert cue.phase is not None
            clip = _breath(cue.phase, cue.n_samples)
        else:
            clip = None
        if clip is not None:
            # The plan is the contract: a clip never spills past the length it was given.
            n = min(len(clip), cue.n_samples, len(out) - cue.start_sample)
            out[cue.start_sample : cue.start_sample + n] += clip[:n]
        if progress:
            progress(i, total)

    def on_pass(done: int) -> None:
        if progress:
            progress(len(timeline.cues) + done, total)

    normalize(out, target_lufs, on_pass=on_pass)
    on_pass(MAX_LOUDNESS_PASSES)
    return out


@functools.lru_cache(maxsize=8)
def _breath(phase: str, n_samples: int) -> Samples:
    """A breathing routine repeats the same few phases hundreds of times: synthesise each once.
    The cache is small because a phase may last minutes (10 MB a minute)."""
    clip = breath_sound(phase, n_samples)
    clip.flags.writeable = False
    return clip


def normalize(
    samples: Samples,
    target_lufs: float = TARGET_LUFS,
    on_pass: Callable[[int], None] | None = None,
) -> Samples:
    """Bring the track to the target integrated loudness with its true peak under the ceiling;
    in place.

    Speech peaks sit far above its loudness, so gain alone would break the ceiling: a limiter
    takes the peaks down, which costs some loudness, so the gain is found by the secant method
    (loudness gained per dB of gain, learnt from the previous step): two or three passes."""
    loudness = integrated_loudness(samples)
    slope = 1.0
    for done in range(MAX_LOUDNESS_PASSES):
        if on_pass:
            on_pass(done)
        if not np.isfinite(loudness) or abs(loudness - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            break  # on target, or silence
        step_db = (target_lufs - loudness) / slope
        samples *= np.float32(10 ** (step_db / 20))
        limit(samples, TRUE_PEAK_DBTP - PEAK_MARGIN_DB)
        measured = integrated_loudness(samples)
        slope = min(1.0, max(0.25, (measured - loudness) / step_db))
        loudness = measured
    return samples


def limit(samples: Samples, ceiling_db: float, *, attack_s: float = 0.015) -> Samples:
    """A look-ahead peak limiter on the 4x oversampled signal; in place.

    The gain each sample needs is spread by a minimum filter of +-2 attacks and smoothed by a
    moving average of one attack, so the gain ramps over `attack_s` and yet is never more than
    any nearby peak allows: no click, and no sample left above the ceiling."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = np.float32(10 ** (ceiling_db / 20))
    n = to_samples(attack_s)
    for start, end, lo, peaks in _true_peak_blocks(samples, margin=2 * n, floor=float(ceiling)):
        need = np.minimum(np.float32(1.0), ceiling / np.maximum(peaks, np.float32(1e-9)))
        gain = uniform_filter1d(minimum_filter1d(need, size=4 * n + 1), size=n)
        samples[start:end] *= gain[start - lo : end - lo]
    return samples


def integrated_loudness(samples: Samples) -> float:
    """ITU-R BS.1770 integrated loudness in LUFS (-inf for silence), measured by ffmpeg's
    ebur128 filter: a maintained meter, fed in chunks so no copy of the track is made."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ExportError(INSTALL_FFMPEG)
    command = [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-f",
        "f32le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-af",
        "ebur128=framelog=verbose",
        "-f",
        "null",
        "-",
    ]
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
        except OSError as e:  # there, but not executable, or not a program for this machine
            raise ExportError(
                f"cannot run {ffmpeg} ({e.strerror or e}); {INSTALL_FFMPEG}"
            ) from None
        assert proc.stdin is not None
        try:
            data = np.ascontiguousarray(samples, dtype="<f4").data.cast("B")
            for start in range(0, len(data), _BLOCK * 4):
                proc.stdin.write(data[start : start + _BLOCK * 4])
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg failed; its log says why
        finally:
            proc.wait()
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    found = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", text)
    if proc.returncode != 0 or not found:
        raise ExportError(f"ffmpeg could not measure loudness: {text.strip()[-300:]}")
    return float(found[-1])


def true_peak_db(samples: Samples) -> float:
    """Peak of the 4x oversampled signal (BS.1770 annex 2), in dBTP."""
    peak = max(
        (
            float(peaks[start - lo : end - lo].max())
            for start, end, lo, peaks in _true_peak_blocks(samples)
        ),
        default=0.0,
    )
    return 20 * float(np.log10(peak)) if peak > 0 else float("-inf")


def _true_peak_blocks(
    samples: Samples, margin: int = 0, floor: float = 0.0
) -> Iterator[tuple[int, int, int, Samples]]:
    """For each block [start, end) whose true peak passes `floor`: the per-sample true peaks of
    [lo, end + margin), lo = start - margin (clipped to the track). Blocks are read with a margin
    of context so the oversampling filter never sees a false edge."""
    from scipy.signal import resample_poly

    pad = margin + _FILTER_CONTEXT
    for start in range(0, len(samples), _BLOCK):
        end = min(start + _BLOCK, len(samples))
        lo, hi = max(0, start - pad), min(len(samples), end + pad)
        block = samples[lo:hi]
        # Inter-sample peaks rise only a few dB over the samples: quieter blocks can be skipped.
        if not block.any() or np.max(np.abs(block)) < floor * _ISP_HEADROOM:
            continue
        up = resample_poly(block, 4, 1)
        np.abs(up, out=up)
        # Elementwise over the four phases: far faster than a max over an axis of length 4.
        peaks = np.maximum(np.maximum(up[0::4], up[1::4]), np.maximum(up[2::4], up[3::4]))
        if peaks[start - lo : end - lo].max() > floor:
            yield start, end, lo, peaks
