"""Render stage: a Timeline becomes blocks of samples, streamed, with the voice as the level every
other sound is set against. One pass mixes, limits and hands each block to the encoder.

Levels are known before a sample is mixed, so nothing is measured on the mix. Each distinct
spoken clip is levelled on its own to the target loudness (TTS lines differ by 2 LU and more from
each other) and its peaks limited; every other sound is levelled to a fixed offset from the voice.
Normalising the whole mix instead let a bed in long silences set the gain, and the limiter then
held the voice down by up to 30 dB (measured: a 5-minute sit with rain, speech crest factor 12.5
dB against 15.2 dB without the bed). The mix is made a block at a time, so memory does not grow
with the session, and a streaming limiter catches what overlapping sounds add, its gain carried
across block edges (the old per-block limiter stepped by 0.17 of full scale at one edge).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, assert_never

import numpy as np
import numpy.typing as npt

from .audio import Samples, fade_edges, fade_out, mean_square, to_samples
from .beds import bed_loop
from .export import DEFAULT_BITRATE_KBPS, peak_ceiling_dbtp
from .loudness import Limiter, clip_loudness, limit, true_peak_db
from .model import (
    Bed,
    BreathCue,
    BuiltinSound,
    Cue,
    HoldCue,
    PacerStyle,
    Phase,
    RestCue,
    SilenceCue,
    SoundCue,
    SoundFile,
    SoundRef,
    Speech,
    Timeline,
    WorkCue,
    pan_of,
)
from .sounds import breath_sound, sound_samples
from .timeline import Progress
from .voices import CachedVoice, Voice

TARGET_LUFS: Final = -16.0
"""The voice's loudness: Apple Podcasts' spoken-word target, which a listener sets the volume by."""
SPEECH_PEAK_DBTP: Final = -2.0
"""Each spoken clip's peaks are limited to this, or to the mix's ceiling when that is lower,
before mixing: the mix limiter then only catches what another sound adds on top of a word, and
what limiting takes from a line's loudness is made up when it is levelled."""
SOUND_LEVEL_LU: Final = -4.0
"""A `sound:` step (bell, chime, gong, tick, a file) against the voice: a clear marker, never
louder than the teacher (it was 4 to 7 LU over)."""
TONE_LEVEL_LU: Final = -6.0
"""An interval's work tone: heard over breathing and effort, under the voice (it was 10 LU over)."""
PACER_LEVEL_LU: Final = -12.0
"""The breathing pacer, per style (its phases keep their own balance: a hold's bell is a tap):
something to follow, well under the voice (the breath style's inhale peaked 4 LU over)."""
LEVEL_PASSES: Final = 4
LEVEL_TOLERANCE_LU: Final = 0.15
"""How close each spoken clip comes to the target: the bar is 1 LU between cues."""
SPEECH_EDGE_FADE_S: Final = 0.015
"""A spoken clip fades in and out over this: the system voice leaves 10 ms of digital zero before
a word that starts at 0.05 of full scale, a click without a fade longer than that."""

BED_UNDER_SPEECH_DB: Final = 24.0
"""How far the bed sits under each spoken clip, over that clip: WCAG 1.4.7 asks for 20 dB; 4 more
leave room for the encoder and for a wave's crest."""
BED_UNDER_CUE_DB: Final = 10.0
"""Under a pacer, a work tone or a sound: down far enough to follow it, not so far that the bed
drops out at every breath."""
DUCK_ATTACK_S: Final = 0.3
"""The bed starts down this long before a cue, so it is fully down when the first word starts."""
DUCK_RELEASE_S: Final = 1.0
BED_FADE_IN_S: Final = 3.0
BED_FADE_OUT_S: Final = 4.0
CUT_FADE_S: Final = 0.03
"""A clip cut short by its cue (a long start tone in a short work period) fades out over this."""

BLOCK_SAMPLES: Final = to_samples(1.0)
"""A second at a time: the limiter's per-call cost (0.1 ms) is then nothing, and the encoder's
pipe always has the next block ready."""
MEASURE_RECIPE: Final = "loudness-v1"
"""Names how sounds are measured, in the loudness memo's keys."""
LEVEL_RECIPE: Final = "levelled-v1"
"""Names how a spoken clip is levelled, in the disk cache's key: change it when _level_speech
changes what it makes."""
SPEECH_CACHE_BYTES: Final = 16 << 20
"""Levelled clips kept in memory (about a minute and a half of speech): a routine repeats its
counts and cues, mostly close together, and a clip dropped is read again from the disk cache."""


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
) -> Iterator[Samples]:
    """The track, mixed, a block at a time: exactly timeline.total_samples samples. Its true
    peak is limited to `ceiling_dbtp`, by default what leaves the MP3 encoder room at the default
    bitrate (export.peak_ceiling_dbtp)."""
    channels = 2 if is_stereo(timeline) else 1
    if ceiling_dbtp is None:
        ceiling_dbtp = peak_ceiling_dbtp(DEFAULT_BITRATE_KBPS, channels)
    mixer = _Mixer(timeline, Clips(voice, target_lufs, min(SPEECH_PEAK_DBTP, ceiling_dbtp)))
    limiter = Limiter(ceiling_dbtp, channels)
    delay = limiter.latency
    total = timeline.total_samples
    for lo in range(0, total, BLOCK_SAMPLES):
        hi = min(lo + BLOCK_SAMPLES, total)
        block, bound = mixer.block(lo, hi)
        out = limiter.process(block, peak_bound=bound)
        # The limiter's output runs `delay` samples behind: its first samples are the delay.
        skip = max(0, delay - lo)
        if skip < len(out):
            yield out[skip:]
        if progress:
            progress(hi, total)
    tail = limiter.flush()
    yield tail[max(0, delay - total) :]


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


# ---------------------------------------------------------------------------- levelled clips


@dataclass(frozen=True)
class Clip:
    samples: Samples
    peak: float
    """Its true peak, linear: what it can add to a block's peak."""


_SILENT: Final = Clip(np.zeros(0, np.float32), 0.0)


@dataclass
class Clips:
    """Every sound of a track at its level: speech at the target, the rest at fixed offsets."""

    voice: Voice
    target_lufs: float = TARGET_LUFS
    speech_peak_dbtp: float = SPEECH_PEAK_DBTP
    _speech: OrderedDict[str, Clip] = field(default_factory=OrderedDict)
    _speech_bytes: int = 0
    _measured: dict[str, float] | None = None

    def of(self, cue: Cue) -> Clip:
        match cue:
            case Speech(text=text):
                return self.speech(text)
            case SoundCue(sound=sound):
                return self.sound(sound, self.target_lufs + SOUND_LEVEL_LU)
            case WorkCue(tone=tone):
                if tone is None:
                    return _SILENT
                clip = self.sound(tone, self.target_lufs + TONE_LEVEL_LU)
                if len(clip.samples) <= cue.n_samples:
                    return clip
                return Clip(fade_out(clip.samples[: cue.n_samples], CUT_FADE_S), clip.peak)
            case BreathCue(phase=phase, pacer=pacer):
                inhale = functools.partial(breath_sound, "inhale", to_samples(4.0), style=pacer)
                # One gain per style, set on a 4-second inhale, so its phases keep their balance.
                loudness = self.measured(f"pacer:{pacer}", inhale)
                level = self.target_lufs + PACER_LEVEL_LU
                return _pacer(phase, cue.n_samples, pacer, _gain(loudness, level))
            case HoldCue() | RestCue() | SilenceCue():
                return _SILENT
            case _:
                assert_never(cue)

    def sound(self, ref: SoundRef, lufs: float) -> Clip:
        loudness = self.measured(_identity(ref), lambda: sound_samples(ref))
        return _levelled(ref, _gain(loudness, lufs))

    def measured(self, key: str, samples: Callable[[], Samples]) -> float:
        """The loudness of a sound that does not change (a built-in, a file as it is now, a
        pacer style, a bed), measured once and remembered beside the speech cache: a warm build
        measures nothing (and never loads the meter's filters: a second of imports)."""
        if self._measured is None:
            self._measured = _read_memo(self._memo_path())
        entry = f"{MEASURE_RECIPE}|{key}"
        if entry not in self._measured:
            self._measured[entry] = clip_loudness(samples())
            _write_memo(self._memo_path(), self._measured)
        return self._measured[entry]

    def _memo_path(self) -> Path | None:
        voice = self.voice
        return voice.cache_dir / "loudness.json" if isinstance(voice, CachedVoice) else None

    def speech(self, text: str) -> Clip:
        """The spoken clip at the target loudness, its peaks under `speech_peak_dbtp`."""
        if text in self._speech:
            self._speech.move_to_end(text)
            return self._speech[text]
        peak = self.speech_peak_dbtp
        level = functools.partial(_level_speech, target_lufs=self.target_lufs, peak_dbtp=peak)
        if isinstance(self.voice, CachedVoice):
            recipe = f"{LEVEL_RECIPE}:{self.target_lufs:g}:{peak:g}"
            samples = self.voice.derived(text, recipe, level)
        else:
            samples = level(self.voice.synthesize(text))
        clip = Clip(samples, 10 ** (peak / 20) if samples.size else 0.0)
        self._speech[text] = clip
        self._speech_bytes += clip.samples.nbytes
        while self._speech_bytes > SPEECH_CACHE_BYTES and len(self._speech) > 1:
            _, dropped = self._speech.popitem(last=False)
            self._speech_bytes -= dropped.samples.nbytes
        return clip


def _level_speech(raw: Samples, target_lufs: float, peak_dbtp: float = SPEECH_PEAK_DBTP) -> Samples:
    """The clip at the target loudness, its true peak at most `peak_dbtp`."""
    if len(raw) == 0 or not raw.any():
        return raw[:0]
    clip = fade_edges(raw, SPEECH_EDGE_FADE_S)
    start = clip_loudness(clip)
    if not math.isfinite(start):
        return raw[:0]
    # Limiting a peaky line takes some of its loudness (espeak-ng's loudest lose 2 dB), so the
    # gain is found by the secant method on (gain, loudness after limiting): two or three passes.
    gain_db, slope = target_lufs - start, 1.0
    out, loudness = _limited(clip, gain_db, start, peak_dbtp)
    for _ in range(LEVEL_PASSES):
        shortfall = target_lufs - loudness
        if abs(shortfall) <= LEVEL_TOLERANCE_LU:
            break
        step = shortfall / slope
        out, measured = _limited(clip, gain_db + step, start, peak_dbtp)
        slope = min(1.0, max(0.2, (measured - loudness) / step))
        gain_db, loudness = gain_db + step, measured
    return out


def _limited(
    clip: Samples, gain_db: float, loudness: float, peak_dbtp: float
) -> tuple[Samples, float]:
    """The clip at `gain_db`, limited if that puts its peaks over the ceiling, and its loudness
    (measured again only when limited: a gain alone adds its dB to the clip's `loudness`)."""
    out = clip * np.float32(10 ** (gain_db / 20))
    if true_peak_db(out) <= peak_dbtp:
        return out, loudness + gain_db
    out = limit(out, peak_dbtp)
    return out, clip_loudness(out)


def _gain(loudness: float, lufs: float) -> float:
    """What brings something measuring `loudness` to `lufs`; 0 for silence."""
    return 10 ** ((lufs - loudness) / 20) if math.isfinite(loudness) else 0.0


@functools.lru_cache(maxsize=16)
def _levelled(ref: SoundRef, gain: float) -> Clip:
    """A sound times `gain`, its peaks limited to the mix ceiling if that pushed them over."""
    out = sound_samples(ref) * np.float32(gain)
    if true_peak_db(out) > SPEECH_PEAK_DBTP:
        out = limit(out, SPEECH_PEAK_DBTP)
    out.flags.writeable = False
    return Clip(out, 10 ** (true_peak_db(out) / 20) if out.any() else 0.0)


@functools.lru_cache(maxsize=8)
def _pacer(phase: Phase, n_samples: int, style: PacerStyle, gain: float) -> Clip:
    """A breathing routine repeats the same few phases hundreds of times: each is made once. The
    cache is small because a phase may last minutes (10 MB a minute)."""
    raw = breath_sound(phase, n_samples, style=style)
    if not raw.any():
        return _SILENT
    out = raw * np.float32(gain)
    out.flags.writeable = False
    return Clip(out, 10 ** (true_peak_db(out) / 20))


def _identity(ref: SoundRef) -> str:
    """A sound's key in the memo: a file as it is now (edited, it is measured again)."""
    match ref:
        case BuiltinSound(name=name):
            return f"builtin:{name}"
        case SoundFile(path=path):
            try:
                stat = path.stat()
            except OSError:
                return f"file:{path}"  # sound_samples says what is wrong with it
            return f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}"
        case _:
            assert_never(ref)


def _read_memo(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(memo, dict):
        return {}
    return {k: float(v) for k, v in memo.items() if isinstance(v, int | float)}


def _write_memo(path: Path | None, memo: dict[str, float]) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):  # a memo: not remembering costs a measurement, no more
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=1), encoding="utf-8")
        os.replace(tmp, path)


# ---------------------------------------------------------------------------- the mixer


@dataclass
class _Sounding:
    """A cue that makes sound, while the mixer is inside it."""

    cue: Cue
    end: int
    pan: float
    clip: Clip | None = None


class _Mixer:
    """Adds the cues sounding in each block, and the bed under them."""

    def __init__(self, timeline: Timeline, clips: Clips) -> None:
        self.clips = clips
        self.stereo = is_stereo(timeline)
        self.pending = sorted(
            (c for c in timeline.cues if not isinstance(c, HoldCue | RestCue | SilenceCue)),
            key=lambda c: c.start_sample,
        )
        self.next = 0
        self.active: list[_Sounding] = []
        self.bed = _BedLayer(timeline, clips, timeline.bed) if timeline.bed is not None else None

    def block(self, lo: int, hi: int) -> tuple[Samples, float]:
        """The mix over [lo, hi), and a bound on its true peak (linear)."""
        while self.next < len(self.pending) and self.pending[self.next].start_sample < hi:
            cue = self.pending[self.next]
            self.active.append(_Sounding(cue, cue.end_sample, pan_of(cue)))
            self.next += 1
        out = np.zeros((hi - lo, 2) if self.stereo else hi - lo, dtype=np.float32)
        bound = 0.0
        for sounding in self.active:
            if sounding.clip is None:
                sounding.clip = self.clips.of(sounding.cue)
            clip = sounding.clip
            start = sounding.cue.start_sample
            # The plan is the contract: a clip never spills past the length it was given.
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


# ---------------------------------------------------------------------------- the bed


@dataclass(frozen=True)
class _Duck:
    start: int
    end: int
    depth_db: float
    """How far under its level between cues the bed goes over [start, end)."""


class _BedLayer:
    """The bed's loop tiled under the whole track at bed.level_db against the voice, faded in and
    out, ducked under every cue that sounds; its gain follows the timeline (we know where every
    cue is: nothing is detected in the signal), on raised-cosine ramps, so it never steps."""

    def __init__(self, timeline: Timeline, clips: Clips, bed: Bed) -> None:
        self.loop = bed_loop(bed.sound)
        self.total = timeline.total_samples
        # The loop measures BED_RMS_DBFS; its loudness sets the gain, as the voice's does.
        loudness = clips.measured(f"bed:{_identity(bed.sound)}", lambda: self.loop)
        self.level = _gain(loudness, clips.target_lufs + bed.level_db)
        self.loop_peak = 10 ** (true_peak_db(self.loop) / 20)
        self.ducks = _ducks(timeline, clips, self.loop, bed.level_db)
        attack, release = to_samples(DUCK_ATTACK_S), to_samples(DUCK_RELEASE_S)
        self.reach_lo = np.array([d.start - attack for d in self.ducks], dtype=np.int64)
        self.reach_hi = np.array([d.end + release for d in self.ducks], dtype=np.int64)

    def block(self, lo: int, hi: int) -> tuple[Samples, float]:
        near = [self.ducks[i] for i in np.flatnonzero((self.reach_lo < hi) & (self.reach_hi > lo))]
        gain = self.level * _bed_gain(lo, hi, self.total, near)
        layer = (_tiled(self.loop, lo, hi - lo) * gain).astype(np.float32)
        return layer, self.loop_peak * float(gain.max(initial=0.0))


def _ducks(timeline: Timeline, clips: Clips, loop: Samples, level_db: float) -> list[_Duck]:
    """Where the bed goes down, and how far: under each cue, to BED_UNDER_*_DB under that cue's
    level, measured over the cue's own stretch of the bed (a wave's crest may fall there). A gap
    between two ducks shorter than a release and an attack is held down too (at the shallower of
    the two), so the bed does not bob up for a moment between sentences."""
    hold = to_samples(DUCK_ATTACK_S) + to_samples(DUCK_RELEASE_S)
    loop_power = mean_square(loop)
    ducks: list[_Duck] = []
    last: _Duck | None = None
    for cue in sorted(timeline.cues, key=lambda c: c.start_sample):
        heard = _heard(cue, clips)
        if heard is None:
            continue
        n, highest_db = heard
        stretch_db = 10 * math.log10(_tiled_power(loop, cue.start_sample, n) / loop_power)
        # The bed's level over the stretch against the voice, brought down to the highest allowed.
        depth = level_db + stretch_db - highest_db
        duck = _Duck(cue.start_sample, cue.start_sample + n, depth)
        if last is not None and 0 < duck.start - last.end < hold:
            ducks.append(_Duck(last.end, duck.start, min(last.depth_db, duck.depth_db)))
        ducks.append(duck)
        last = duck if last is None or duck.end > last.end else last
    return [d for d in ducks if d.depth_db > 0]


def _heard(cue: Cue, clips: Clips) -> tuple[int, float] | None:
    """How long a cue sounds (all of a spoken clip; up to its last sound for a bell, a tone or a
    pacer phase), and the highest the bed may be there against the voice; None for silence."""
    match cue:
        case Speech():
            return (cue.n_samples, -BED_UNDER_SPEECH_DB) if cue.n_samples else None
        case SoundCue():
            level = SOUND_LEVEL_LU
        case WorkCue():
            level = TONE_LEVEL_LU
        case BreathCue():
            level = PACER_LEVEL_LU
        case HoldCue() | RestCue() | SilenceCue():
            return None
        case _:
            assert_never(cue)
    samples = clips.of(cue).samples[: cue.n_samples]
    sounding = np.flatnonzero(samples)
    if len(sounding) == 0:
        return None
    return int(sounding[-1]) + 1, level - BED_UNDER_CUE_DB


def _bed_gain(lo: int, hi: int, n_total: int, ducks: list[_Duck]) -> npt.NDArray[np.float64]:
    """The bed's gain over [lo, hi), relative to its level between cues: the fades at the ends
    of the track times the deepest duck at each sample."""
    t = np.arange(lo, hi, dtype=np.float64)
    fade_in = max(1, min(to_samples(BED_FADE_IN_S), n_total // 3))
    fade_out_n = max(1, min(to_samples(BED_FADE_OUT_S), n_total // 3))
    gain = _raised(np.minimum(t / fade_in, (n_total - 1 - t) / fade_out_n))
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
