"""A voice heard before it is chosen: its sample sentence, in its language (the strings tables'
`sample:`), spoken through the speech cache; `audioguide voices --sample` and the studio's voice
picker both use it.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ..audio import SAMPLE_RATE, Samples
from ..errors import VoiceError
from ..strings import LANGUAGES, base_language, table
from .choose import open_voice, speaks, voice_for, voice_languages


@dataclass(frozen=True)
class Sample:
    spec: str
    """The voice that spoke it, as --voice takes it (`female` resolved to `natural:heart`)."""
    language: str
    text: str
    samples: Samples

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def voice_sample(
    spec: str | None,
    language: str | None = None,
    *,
    rate: int | None = None,
    cache_dir: Path | None = None,
) -> Sample:
    """The voice `spec` (anything --voice takes; None for the default) saying its sample in
    `language`, else in the language it speaks (English for a voice of any language)."""
    chosen = voice_for(language or "en", spec)
    voice = open_voice(chosen, rate=rate, cache_dir=cache_dir)
    try:
        if language is None:
            own = [base_language(c) for c in voice_languages(voice)]
            language = next((c for c in own if c in LANGUAGES), "en")
        elif not speaks(voice, language):
            raise VoiceError(
                f"The voice {chosen} does not speak {table(language).english} ({language}): "
                f"pick one from `audioguide voices --lang {base_language(language)}`"
            )
        text = table(language).sample
        return Sample(chosen, language, text, voice.synthesize(text))
    finally:
        voice.close()


def wav_bytes(samples: Samples) -> bytes:
    """Mono 16-bit PCM WAV at the pipeline's rate: what any player plays."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    data = io.BytesIO()
    with wave.open(data, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return data.getvalue()


PLAYERS: Final = (("pw-play",), ("paplay",), ("aplay", "-q"), ("afplay",))
"""Players tried in turn (PipeWire's, PulseAudio's, ALSA's, macOS's), each of which fails where it
has no sound device; where none plays, the caller writes the sample instead. Not ffplay: with no
device, SDL plays into its dummy driver and ffplay exits 0, having played nothing."""
PLAY_TIMEOUT_S: Final = 60.0


def play(sample: Sample) -> bool:
    """Whether a player here played the sample to the end."""
    for command in PLAYERS:
        if shutil.which(command[0]) is None:
            continue
        with tempfile.TemporaryDirectory(prefix="audioguide-") as folder:
            path = Path(folder) / "sample.wav"
            path.write_bytes(wav_bytes(sample.samples))
            try:
                done = subprocess.run(
                    [*command, str(path)], capture_output=True, timeout=PLAY_TIMEOUT_S
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return True
    return False


def sample_path(sample: Sample) -> Path:
    """Where a sample is written when it cannot be played: `sample-natural-heart.wav` here."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", sample.spec.rpartition("/")[2]).strip("-") or "voice"
    return Path(f"sample-{name}.wav")
