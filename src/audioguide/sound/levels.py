"""Levels: every sound of a track set against the voice. Each spoken clip is levelled on its own
to the target loudness and its peaks limited; bells, tones, the pacer and the bed sit at fixed
offsets under it; the mix's ceiling leaves the MP3 encoder the room it needs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, assert_never

import numpy as np

from ..audio import Samples, fade_out, to_samples
from ..cues import BreathCue, Cue, HoldCue, RestCue, SilenceCue, SoundCue, Speech, WorkCue
from ..files import keep
from ..model import BuiltinSound, PacerStyle, Phase, SoundFile, SoundRef
from ..options import TARGET_LUFS
from ..voices.cache import CachedVoice
from ..voices.clips import Voice
from .meter import clip_loudness
from .peaks import limit, true_peak_db
from .sounds import breath_sound, sound_samples, sound_stamp, sound_step

TRUE_PEAK_DBTP: Final = -1.0
"""The decoded track's true peak at most: Apple Podcasts' spec for what listeners receive."""


def peak_ceiling_dbtp(bitrate_kbps: int, channels: int) -> float:
    """The true peak to limit the mix to, so that the decoded MP3 stays under TRUE_PEAK_DBTP.

    LAME's quantisation noise adds to the peaks of a synthetic voice's spiky glottal pulses: more
    at low bitrates, and in stereo, where a panned voice shares the bits with the other channel.
    The headrooms hold the decoded peak of every bundled routine's lines at -1.6 dBTP or under
    in `scripts/bench.py peaks`; encoding added at most 0.4 dB to a line at 128 kbps mono, and
    2.3 dB to a voice panned to one side."""
    mono, stereo = next(h for kbps, *h in _HEADROOM_DB if bitrate_kbps >= kbps)
    return TRUE_PEAK_DBTP - (mono if channels == 1 else stereo)


_HEADROOM_DB: Final = ((192, 0.5, 1.0), (128, 1.0, 2.5), (96, 2.5, 4.5), (0, 4.5, 5.0))
"""(lowest bitrate, mono dB, stereo dB), highest bitrates first; docs/sound.md has the figures."""
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
LEVEL_FIRST_SLOPE: Final = 0.4
"""What a dB more gain adds to a limited line's loudness, to take the first step with: measured
0.32-0.5 (median 0.4) on espeak-ng's lines, and close on Piper's. Starting from 1 took three
limiter runs a line where this takes two, in a cold build's costliest step (64 new lines of
espeak-ng: 200 runs against 140)."""
SPEECH_EDGE_FADE_S: Final = 0.015
"""A spoken clip fades out over this, so a word cut off at the clip's end does not click."""
SPEECH_ONSET_DB: Final = -40.0
"""Where a spoken clip starts: its first sample this far under the clip's peak. What comes before
is the engine's lead-in (espeak-ng leaves 10 ms of digital zero, Piper 10-15 ms of near silence),
which put every count 10-17 ms after its mark; it is trimmed when the clip is levelled."""
SPEECH_PREROLL_S: Final = 0.002
"""Kept before the onset, so a soft consonant's first breath is not cut."""
SPEECH_ONSET_FADE_S: Final = 0.005
"""The trimmed clip fades in over this: a word that starts at 0.05 of full scale does not click,
and the word is under way within 5 ms of its mark."""
CUT_FADE_S: Final = 0.03
"""A clip cut short by its cue (a long start tone in a short work period) fades out over this."""
MEASURE_RECIPE: Final = "loudness-v2"
"""Names how sounds are measured, in the loudness memo's keys."""
LEVEL_RECIPE: Final = "levelled-v3"
"""Names how a spoken clip is levelled, in the disk cache's key: change it when _level_speech
changes what it makes."""
SPEECH_CACHE_BYTES: Final = 16 << 20
"""Levelled clips kept in memory (about a minute and a half of speech): a routine repeats its
counts and cues, mostly close together, and a clip dropped is read again from the disk cache."""


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
                return _pacer(phase, cue.n_samples, pacer, gain_for(loudness, level))
            case HoldCue() | RestCue() | SilenceCue():
                return _SILENT
            case _:
                assert_never(cue)

    def sound(self, ref: SoundRef, lufs: float) -> Clip:
        # Measured over its step, not its ring: what is heard as the sound, and its level.
        loudness = self.measured(sound_identity(ref), lambda: sound_samples(ref)[: sound_step(ref)])
        return _levelled(ref, sound_stamp(ref), gain_for(loudness, lufs))

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
    clip = _from_onset(raw)
    start = clip_loudness(clip)
    if not math.isfinite(start):
        return raw[:0]
    # Limiting a peaky line takes some of its loudness (espeak-ng's loudest lose 2 dB), so the
    # gain is found by the secant method on (gain, loudness after limiting): two or three passes.
    gain_db, slope = target_lufs - start, LEVEL_FIRST_SLOPE
    # A gain moves the true peak by its dB (the oversampling is linear): measured once.
    ceiling = (peak_dbtp, true_peak_db(clip))
    out, loudness = _limited(clip, gain_db, start, ceiling)
    for _ in range(LEVEL_PASSES):
        shortfall = target_lufs - loudness
        if abs(shortfall) <= LEVEL_TOLERANCE_LU:
            break
        step = shortfall / slope
        out, measured = _limited(clip, gain_db + step, start, ceiling)
        slope = min(1.0, max(0.2, (measured - loudness) / step))
        gain_db, loudness = gain_db + step, measured
    return out


def _from_onset(raw: Samples) -> Samples:
    """The clip from just before its first word, faded in there and out at its end."""
    level = np.abs(raw)
    onset = int(np.argmax(level >= float(level.max()) * 10 ** (SPEECH_ONSET_DB / 20)))
    clip = fade_out(raw[max(0, onset - to_samples(SPEECH_PREROLL_S)) :], SPEECH_EDGE_FADE_S)
    n = min(to_samples(SPEECH_ONSET_FADE_S), len(clip) // 2)
    clip[:n] *= (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(np.float32)
    return clip


def _limited(
    clip: Samples, gain_db: float, loudness: float, ceiling: tuple[float, float]
) -> tuple[Samples, float]:
    """The clip at `gain_db`, limited if that puts its true peak over the ceiling (`ceiling`:
    that and the clip's own true peak, dBTP), and its loudness (measured again only when
    limited: a gain alone adds its dB to the clip's `loudness`)."""
    peak_dbtp, clip_peak_dbtp = ceiling
    out = clip * np.float32(10 ** (gain_db / 20))
    if clip_peak_dbtp + gain_db <= peak_dbtp:
        return out, loudness + gain_db
    out = limit(out, peak_dbtp)
    return out, clip_loudness(out)


def gain_for(loudness: float, lufs: float) -> float:
    """What brings something measuring `loudness` to `lufs`; 0 for silence."""
    return 10 ** ((lufs - loudness) / 20) if math.isfinite(loudness) else 0.0


@functools.lru_cache(maxsize=16)
def _levelled(ref: SoundRef, stamp: object, gain: float) -> Clip:
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


def sound_identity(ref: SoundRef) -> str:
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
        keep(path, json.dumps(memo, indent=1).encode("utf-8"))
