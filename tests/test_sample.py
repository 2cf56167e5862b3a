"""`audioguide voices --sample VOICE`: a voice heard before it is chosen, in its language."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audioguide.audio import SAMPLE_RATE, Samples
from audioguide.cli import cli
from audioguide.strings import LANGUAGES, table
from audioguide.voices.fake import FakeVoice
from audioguide.voices.sample import voice_sample


def read_wav(path: Path) -> Samples:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32767


def test_every_language_has_a_sample_in_its_own_words() -> None:
    samples = {code: table(code).sample for code in LANGUAGES}
    assert all(len(text.split()) >= 10 for text in samples.values()), samples
    assert len(set(samples.values())) == len(LANGUAGES)


def test_a_sample_is_written_as_the_voice_says_it(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "fake.wav"
    result = runner.invoke(cli, ["voices", "--sample", "fake", "--lang", "es", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = table("es").sample
    expected = FakeVoice().synthesize(text)
    assert result.output == (
        f"Wrote {out} (fake in Spanish, {len(expected) / SAMPLE_RATE:.1f} s): {text}\n"
    )
    assert np.max(np.abs(read_wav(out) - expected)) < 1 / 32767 + 1e-6
    assert voice_sample("fake").text == table("en").sample  # a voice of any language: English


def test_without_a_player_the_sample_is_written_here(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-players"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["voices", "--sample", "fake"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Wrote sample-fake.wav (fake in English, ")
    assert len(read_wav(tmp_path / "sample-fake.wav")) > SAMPLE_RATE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.wav"], "Error: -o writes a sample: give the voice with --sample VOICE"),
        (["--sample", "fake", "-o", "x.mp3"], "the sample is a WAV file, name it .wav"),
        (["--sample", "fake", "--lang", "tlh"], "'tlh': use one of en, es, de, fr"),
        (["--sample", "robot"], "Error: Unknown voice engine 'robot': use one of system"),
    ],
)
def test_bad_sample_requests_say_what_to_do(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["voices", *args])
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert not list(tmp_path.iterdir()), "nothing written"


@pytest.mark.integration
def test_a_system_voice_speaks_its_own_language(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "es.wav"
    result = runner.invoke(cli, ["voices", "--sample", "system:es", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(system:es in Spanish, " in result.output and table("es").sample in result.output
    assert len(read_wav(out)) / SAMPLE_RATE > 3
    result = runner.invoke(cli, ["voices", "--sample", "system:es", "--lang", "de"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: The voice system:es does not speak German (de): pick one from `audioguide "
        "voices --lang de`\n"
    )


@pytest.mark.natural
@pytest.mark.integration
def test_the_female_voice_has_a_sample(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "female.wav"
    result = runner.invoke(cli, ["voices", "--sample", "female", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out} (natural:heart in English, ")
    said = voice_sample("female")
    assert said.spec == "natural:heart" and said.language == "en"
    assert np.max(np.abs(read_wav(out) - said.samples)) < 1 / 32767 + 1e-6
