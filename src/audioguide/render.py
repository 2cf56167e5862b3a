"""Render stage: a Timeline becomes samples, mixed in numpy and normalised for loudness.

Clips are added into one preallocated float32 buffer by slice, so the cost is linear in the
number of cues and memory is the output itself (overlaying onto a growing pydub segment copies
the whole track per cue: measured 23 s for 200 cues on 20 minutes, against 0.13 s here). The
track is mono unless a cue is panned; a background bed is tiled under it block by block, its gain
following the timeline (we know where speech is: nothing is detected from the signal).
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, assert_never

import numpy as np
import numpy.typing as npt

from .audio import SAMPLE_RATE, Samples, fade_out, mean_square, to_samples
from .beds import bed_loop
from .errors import ExportError
from .model import (
    Bed,
    BreathCue,
    Cue,
    HoldCue,
    PacerStyle,
    Phase,
    RestCue,
    SilenceCue,
    SoundCue,
    Speech,
    Timeline,
    WorkCue,
    pan_of,
)
from .sounds import breath_sound, sound_samples
from .timeline import Progress
from .tools import INSTALL_FFMPEG, ffmpeg
from .voices import Voice

TARGET_LUFS: Final = -16.0
"""Integrated loudness of the finished track: Apple Podcasts' spoken-word target."""
TRUE_PEAK_DBTP: Final = -1.0
PEAK_MARGIN_DB: Final = 0.5
"""Headroom kept below the true-peak ceiling for what MP3 encoding adds to inter-sample peaks."""
MAX_LOUDNESS_PASSES: Final = 4
LOUDNESS_TOLERANCE_LU: Final = 0.5
"""How close to the target is close enough. The spec allows 1 LU and encoding moves loudness by
under 0.1; closer than this costs a whole limiter pass (2 s per 20 minutes) that no one can hear,
and a bed laid after the first round usually leaves the track within it."""

BED_UNDER_SPEECH_DB: Final = 24.0
"""How far the bed's RMS sits under each speech clip's, over that clip: WCAG 1.4.7 asks for 20 dB;
4 more leave room for the limiter and the encoder."""
BED_UNDER_CUE_DB: Final = 10.0
"""Under a pacer, a work tone or a sound: down far enough to follow it, not so far that the bed
drops out at every breath."""
DUCK_ATTACK_S: Final = 0.3
"""The bed starts down this long before a cue, so it is fully down when the first word starts."""
DUCK_RELEASE_S: Final = 1.0
BED_FADE_IN_S: Final = 3.0
BED_FADE_OUT_S: Final = 4.0
NO_SPEECH_REFERENCE_DBFS: Final = -20.0
"""What a bed is set against in a track with no speech: the RMS of a typical voice clip."""
CUT_FADE_S: Final = 0.03
"""A clip cut short by its cue (a long start tone in a short work period) fades out over this."""

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
    """Mix the timeline's cues and bed, and normalise the loudness: mono (n,), or stereo (n, 2)
    when any cue is panned. `progress(done, total)` counts cues, then the loudness passes."""
    rounds = 1 if timeline.bed is None else 2
    total = len(timeline.cues) + rounds * MAX_LOUDNESS_PASSES

    def report(done: int, _: int = 0) -> None:
        if progress:
            progress(done, total)

    out, heard = _place_cues(timeline, voice, report)
    done = len(timeline.cues)
    if timeline.bed is not None:
        # The limiter takes speech peaks down, and the speech's level against the bed with them
        # (by 2-5 dB for a peaky voice): so the bed is set against the speech as the listener
        # will get it, normalised, and then the whole is normalised again (the bed is quiet:
        # mostly one small gain step).
        normalize(out, target_lufs, on_pass=lambda p: report(done + p))
        done += MAX_LOUDNESS_PASSES
        _lay_bed(out, timeline.bed, heard)
    normalize(out, target_lufs, on_pass=lambda p: report(done + p))
    report(total)
    return out


def mix(timeline: Timeline, voice: Voice, *, progress: Progress | None = None) -> Samples:
    """The cues placed at their offsets, panned, with the bed under them; not normalised."""
    out, heard = _place_cues(timeline, voice, progress)
    if timeline.bed is not None:
        _lay_bed(out, timeline.bed, heard)
    return out


def _place_cues(
    timeline: Timeline, voice: Voice, progress: Progress | None
) -> tuple[Samples, list[_Heard]]:
    """The cues added into a new buffer, and where each one sounds."""
    stereo = any(pan_of(cue) != 0 for cue in timeline.cues)
    n_total = timeline.total_samples
    out = np.zeros((n_total, 2) if stereo else n_total, dtype=np.float32)
    heard: list[_Heard] = []
    for i, cue in enumerate(timeline.cues, start=1):
        clip = _clip(cue, voice)
        # The plan is the contract: a clip never spills past the length it was given.
        n = 0 if clip is None else min(len(clip), cue.n_samples, n_total - cue.start_sample)
        if clip is not None and n > 0:
            part = clip if n == len(clip) else fade_out(clip[:n], CUT_FADE_S)
            _add(out, cue.start_sample, part, pan_of(cue))
            heard.extend(_heard(cue, part))
        if progress:
            progress(i, len(timeline.cues))
    return out, heard


def pan_gains(pan: float) -> tuple[float, float]:
    """Left and right gains for a pan from -1 to 1: constant power, with the centre at 1.0 in both
    channels, so a centred cue is exactly what it is in a mono track."""
    if pan == 0:
        return 1.0, 1.0  # exactly: cos and sin of pi/4 differ in the last bit
    angle = (pan + 1) * math.pi / 4
    return math.sqrt(2) * math.cos(angle), math.sqrt(2) * math.sin(angle)


def _clip(cue: Cue, voice: Voice) -> Samples | None:
    match cue:
        case Speech(text=text):
            return voice.synthesize(text)
        case SoundCue(sound=sound):
            return sound_samples(sound)
        case WorkCue(tone=tone):
            return sound_samples(tone) if tone else None
        case BreathCue(phase=phase, pacer=pacer):
            return _breath(phase, cue.n_samples, pacer)
        case HoldCue() | RestCue() | SilenceCue():
            return None
        case _:
            assert_never(cue)


@functools.lru_cache(maxsize=8)
def _breath(phase: Phase, n_samples: int, style: PacerStyle) -> Samples:
    """A breathing routine repeats the same few phases hundreds of times: synthesise each once.
    The cache is small because a phase may last minutes (10 MB a minute)."""
    clip = breath_sound(phase, n_samples, style=style)
    clip.flags.writeable = False
    return clip


def _add(out: Samples, start: int, clip: Samples, pan: float) -> None:
    end = start + len(clip)
    if out.ndim == 1:
        out[start:end] += clip
        return
    for channel, gain in enumerate(pan_gains(pan)):
        out[start:end, channel] += clip * np.float32(gain)


# ---------------------------------------------------------------------------- the bed


@dataclass(frozen=True)
class _Heard:
    """A stretch of the track where a cue sounds, so the bed must make room for it."""

    start: int
    n_samples: int
    speech: bool


@dataclass(frozen=True)
class _Duck:
    start: int
    end: int
    depth_db: float
    """How far under its level between cues the bed goes over [start, end)."""


def _heard(cue: Cue, clip: Samples) -> list[_Heard]:
    """Where the clip sounds: all of it for speech; up to its last non-zero sample for a pacer or
    a tone (a bell rings for a moment of a long window); nothing for a silent one."""
    if not clip.any():
        return []
    speech = isinstance(cue, Speech)
    n = len(clip) if speech else len(clip) - int(np.argmax(clip[::-1] != 0))
    return [_Heard(cue.start_sample, n, speech)]


def _lay_bed(out: Samples, bed: Bed, heard: list[_Heard]) -> None:
    """Tile the bed's loop under the whole track, faded in and out, at bed.level_db under the
    speech between cues and ducked under every cue that sounds; in place, block by block. Levels
    are read from `out` as it is, so the bed fits the mix it goes into."""
    loop = bed_loop(bed.sound)
    powers = [_power(out, h) for h in heard]
    level = _bed_level(loop, bed.level_db, heard, powers)
    ducks = _ducks(heard, powers, loop, level)
    attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
    reach_lo = np.array([d.start - attack for d in ducks], dtype=np.int64)
    reach_hi = np.array([d.end + release for d in ducks], dtype=np.int64)
    for lo in range(0, len(out), _BLOCK):
        hi = min(lo + _BLOCK, len(out))
        near = [ducks[i] for i in np.flatnonzero((reach_lo < hi) & (reach_hi > lo))]
        gain = level * _bed_gain(lo, hi, len(out), near)
        layer = (_tiled(loop, lo, hi - lo) * gain).astype(np.float32)
        out[lo:hi] += layer if out.ndim == 1 else layer[:, None]


def _power(out: Samples, heard: _Heard) -> float:
    """The mix's mean square over the stretch; of its mono downmix for a stereo mix, the
    strictest reading of a panned cue (a centred one reads the same either way)."""
    stretch = out[heard.start : heard.start + heard.n_samples]
    return mean_square(stretch if stretch.ndim == 1 else stretch.mean(axis=1))


def _bed_level(loop: Samples, level_db: float, heard: list[_Heard], powers: list[float]) -> float:
    """The loop's gain between cues: its RMS level_db under that of all the speech together."""
    speech = [(h.n_samples, p) for h, p in zip(heard, powers, strict=True) if h.speech]
    n_speech = sum(n for n, _ in speech)
    reference = (
        sum(n * p for n, p in speech) / n_speech
        if n_speech
        else 10 ** (NO_SPEECH_REFERENCE_DBFS / 10)
    )
    return math.sqrt(reference / mean_square(loop)) * 10 ** (level_db / 20)


def _ducks(heard: list[_Heard], powers: list[float], loop: Samples, level: float) -> list[_Duck]:
    """Where the bed goes down, and how far. A gap between two ducks shorter than a release and
    an attack is held down too (at the shallower of the two), so the bed does not bob up for a
    moment between sentences."""
    hold = to_samples(DUCK_ATTACK_S) + to_samples(DUCK_RELEASE_S)
    ducks: list[_Duck] = []
    last: _Duck | None = None
    for h, power in sorted(zip(heard, powers, strict=True), key=lambda hp: hp[0].start):
        if power == 0.0:
            continue  # clips that cancel out: nothing to make room for
        duck = _duck(h, power, loop, level)
        if last is not None and 0 < duck.start - last.end < hold:
            ducks.append(_Duck(last.end, duck.start, min(last.depth_db, duck.depth_db)))
        ducks.append(duck)
        last = duck if last is None or duck.end > last.end else last
    return [d for d in ducks if d.depth_db > 0]


def _duck(heard: _Heard, power: float, loop: Samples, level: float) -> _Duck:
    """The bed measured over the cue's own stretch (a wave's crest may fall there), brought to
    the cue's level less the margin it needs."""
    bed_power = level**2 * _tiled_power(loop, heard.start, heard.n_samples)
    under = BED_UNDER_SPEECH_DB if heard.speech else BED_UNDER_CUE_DB
    depth = 10 * math.log10(bed_power / power) + under
    return _Duck(heard.start, heard.start + heard.n_samples, depth)


def _bed_gain(lo: int, hi: int, n_total: int, ducks: list[_Duck]) -> npt.NDArray[np.float64]:
    """The bed's gain over [lo, hi), relative to its level between cues: the fades at the ends
    of the track times the deepest duck at each sample. Raised-cosine ramps everywhere, so the
    gain has no step: no click, no pumping."""
    t = np.arange(lo, hi, dtype=np.float64)
    fade_in = max(1, min(to_samples(BED_FADE_IN_S), n_total // 3))
    fade_out = max(1, min(to_samples(BED_FADE_OUT_S), n_total // 3))
    gain = _raised(np.minimum(t / fade_in, (n_total - 1 - t) / fade_out))
    attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
    depth = np.zeros(hi - lo)
    for d in ducks:
        a, b = max(lo, d.start - attack), min(hi, d.end + release)
        ramp = np.minimum(
            (t[a - lo : b - lo] - (d.start - attack)) / attack,
            (d.end + release - t[a - lo : b - lo]) / release,
        )
        np.maximum(depth[a - lo : b - lo], d.depth_db * _raised(ramp), out=depth[a - lo : b - lo])
    gain *= 10 ** (-depth / 20)
    return gain


def _raised(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Raised-cosine ramp: 0 for u <= 0, 1 for u >= 1, smooth between."""
    out: npt.NDArray[np.float64] = 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))
    return out


def _pieces(loop_len: int, start: int, n: int) -> Iterator[tuple[int, int, int]]:
    """(position in the stretch, offset in the loop, length) of each run of the loop tiled from
    track sample 0, over the stretch [start, start + n)."""
    done = 0
    while done < n:
        offset = (start + done) % loop_len
        take = min(loop_len - offset, n - done)
        yield done, offset, take
        done += take


def _tiled(loop: Samples, start: int, n: int) -> Samples:
    out = np.empty(n, dtype=np.float32)
    for at, offset, take in _pieces(len(loop), start, n):
        out[at : at + take] = loop[offset : offset + take]
    return out


def _tiled_power(loop: Samples, start: int, n: int) -> float:
    energy = sum(
        mean_square(loop[offset : offset + take]) * take
        for _, offset, take in _pieces(len(loop), start, n)
    )
    return energy / n


# ---------------------------------------------------------------------------- loudness


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
        # Turning down is exactly linear (the limiter only acts on the way up), so an overshoot
        # is corrected in one step.
        step_db = (target_lufs - loudness) / (slope if target_lufs > loudness else 1.0)
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
    any nearby peak allows: no click, and no sample left above the ceiling. Stereo gets one gain
    for both channels, from the louder, so the image does not shift."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = np.float32(10 ** (ceiling_db / 20))
    n = to_samples(attack_s)
    for start, end, lo, peaks in _true_peak_blocks(samples, margin=2 * n, floor=float(ceiling)):
        need = np.minimum(np.float32(1.0), ceiling / np.maximum(peaks, np.float32(1e-9)))
        gain = uniform_filter1d(minimum_filter1d(need, size=4 * n + 1), size=n)
        gain = gain[start - lo : end - lo]
        samples[start:end] *= gain if samples.ndim == 1 else gain[:, None]
    return samples


def integrated_loudness(samples: Samples) -> float:
    """ITU-R BS.1770 integrated loudness in LUFS (-inf for silence) of mono (n,) or stereo (n, 2)
    samples, measured by ffmpeg's ebur128 filter: a maintained meter, fed in chunks so no copy of
    the track is made (a C-ordered (n, 2) array is already interleaved)."""
    program = ffmpeg()
    command = [
        program,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-f",
        "f32le",
        "-ar",
        str(SAMPLE_RATE),
        "-ac",
        str(1 if samples.ndim == 1 else samples.shape[1]),
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
                f"cannot run {program} ({e.strerror or e}); {INSTALL_FFMPEG}"
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
    """Peak of the 4x oversampled signal (BS.1770 annex 2), in dBTP; the louder channel's."""
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
    [lo, end + margin), lo = start - margin (clipped to the track), the louder channel's at each
    sample. Blocks are read with a margin of context so the oversampling filter never sees a false
    edge."""
    from scipy.signal import resample_poly

    pad = margin + _FILTER_CONTEXT
    for start in range(0, len(samples), _BLOCK):
        end = min(start + _BLOCK, len(samples))
        lo, hi = max(0, start - pad), min(len(samples), end + pad)
        block = samples[lo:hi]
        # Inter-sample peaks rise only a few dB over the samples: quieter blocks can be skipped.
        if not block.any() or np.max(np.abs(block)) < floor * _ISP_HEADROOM:
            continue
        up = resample_poly(block, 4, 1, axis=0)
        np.abs(up, out=up)
        if up.ndim == 2:
            up = np.maximum(up[:, 0], up[:, 1])
        # Elementwise over the four phases: far faster than a max over an axis of length 4.
        peaks = np.maximum(np.maximum(up[0::4], up[1::4]), np.maximum(up[2::4], up[3::4]))
        if peaks[start - lo : end - lo].max() > floor:
            yield start, end, lo, peaks
