"""The sound of a finished track, measured on the decoded MP3 as a listener gets it: loudness and
true peak to spec, a bed that ducks under the voice, a pacer you can follow, sides you can hear."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from audioguide.audio import SAMPLE_RATE, to_samples
from audioguide.cli import cli
from audioguide.sound.levels import TRUE_PEAK_DBTP
from audioguide.sound.meter import clip_loudness, integrated_loudness
from audioguide.sound.peaks import true_peak_db
from audiotools import decode_mp3, decoder_errors, joined, spans
from conftest import WriteRoutine

pytestmark = pytest.mark.integration

PROBE_HZ = 5000.0
"""The measuring bed is one pure tone: its level can be read under speech, within a band of a few
hertz where speech has next to no energy."""

ROUTINE = """
title: Sound check
pan: sides
pacer: breath
bed: {sound: BED, level: -18}
steps:
  - say: Settle in and let your breathing slow down.
  - pause: 6
  - breathe: {pattern: 4-0-6-0, cycles: 4, guide: 1}
  - pause: 4
  - exercise: Knee to chest
    sides: [left, right]
    hold: {duration: 8s, countdown: 3, say: Hold it gently.}
  - say: Well done. Rest for a moment.
  - pause: 6
"""


def build(path: Path, out: Path) -> tuple[np.ndarray, dict[str, Any]]:  # type: ignore[type-arg]
    runner = CliRunner()
    built = runner.invoke(cli, ["build", str(path), "-o", str(out)])
    assert built.exit_code == 0, built.output
    plan = runner.invoke(cli, ["plan", str(path), "--json"])
    assert plan.exit_code == 0, plan.output
    assert decoder_errors(out) == {"ffmpeg": "", "mpg123": ""}
    return decode_mp3(out, channels=2), json.loads(plan.stdout)


@pytest.fixture(scope="module")
def probe_track(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, dict[str, Any]]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("probe")
    t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE  # whole cycles: loops without a seam
    wavfile.write(
        folder / "probe.wav",
        SAMPLE_RATE,
        (0.3 * np.sin(2 * np.pi * PROBE_HZ * t)).astype(np.float32),
    )
    routine = folder / "routine.yaml"
    routine.write_text(ROUTINE.replace("BED", "probe.wav"), encoding="utf-8")
    return build(routine, folder / "probe.mp3")


@pytest.fixture(scope="module")
def rain_track(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, dict[str, Any]]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("rain")
    routine = folder / "routine.yaml"
    routine.write_text(ROUTINE.replace("BED", "rain"), encoding="utf-8")
    return build(routine, folder / "rain.mp3")


def span(cue: dict[str, Any]) -> slice:
    return slice(round(cue["start_s"] * SAMPLE_RATE), round(cue["end_s"] * SAMPLE_RATE))


def db(x: float) -> float:
    return 20 * float(np.log10(max(x, 1e-12)))


def rms(x: np.ndarray) -> float:  # type: ignore[type-arg]
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def voice_lufs(audio: np.ndarray, plan: dict[str, Any]) -> float:  # type: ignore[type-arg]
    """The loudness of the speech alone: every spoken cue's stretch of the track, joined."""
    return integrated_loudness(joined(audio, spans(plan, "speech")))


def probe_lufs(rms_level: float) -> float:
    """The loudness of the probe tone at an RMS: through the same K-weighting as the voice."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (rms_level * np.sqrt(2) * np.sin(2 * np.pi * PROBE_HZ * t)).astype(np.float32)
    return clip_loudness(np.stack([tone, tone], axis=1))


def probe_rms(x: np.ndarray) -> float:  # type: ignore[type-arg]
    """The RMS of the probe tone alone in x: a least-squares fit of a sine and a cosine at its
    frequency (a band of about 1/len(x) Hz around it)."""
    t = np.arange(len(x)) / SAMPLE_RATE
    basis = np.stack([np.sin(2 * np.pi * PROBE_HZ * t), np.cos(2 * np.pi * PROBE_HZ * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return float(np.hypot(*coef)) / np.sqrt(2)


@pytest.mark.parametrize("track", ["probe_track", "rain_track"])
def test_the_voice_sets_the_level_and_the_peaks_are_in_spec(
    track: str, request: pytest.FixtureRequest
) -> None:
    audio, plan = request.getfixturevalue(track)
    assert audio.shape[1] == 2  # pan: sides makes it stereo
    assert voice_lufs(audio, plan) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_db(audio) <= -1.0
    assert np.abs(audio).max() < 1.0  # nothing clips


def test_the_bed_stays_20_db_under_every_spoken_cue_and_rises_between(
    probe_track: tuple[np.ndarray, dict[str, Any]],  # type: ignore[type-arg]
) -> None:
    audio, plan = probe_track
    mono = audio.mean(axis=1)
    speech = [c for c in plan["cues"] if c["kind"] == "speech"]
    # In loudness, as levels are set: the probe through the K-weighting, against each cue.
    margins = [clip_loudness(audio[span(c)]) - probe_lufs(probe_rms(mono[span(c)])) for c in speech]
    assert min(margins) >= 20.0, sorted(margins)[:3]
    # In the pauses, away from the ramps, the bed comes back up to its level under the voice.
    voice = voice_lufs(audio, plan)
    pauses = [c for c in plan["cues"] if c["kind"] == "silence" and c["end_s"] - c["start_s"] >= 4]
    for pause in pauses:
        middle = mono[span(pause)][to_samples(1.5) : -to_samples(1.5)]
        level = probe_lufs(probe_rms(middle)) - voice
        assert -18 - 1.5 <= level <= -18 + 1.5, level
        assert level > -max(margins) + 10  # well above its ducked level


def test_the_pacer_swells_on_the_inhale_and_recedes_on_the_exhale(
    probe_track: tuple[np.ndarray, dict[str, Any]],  # type: ignore[type-arg]
) -> None:
    audio, plan = probe_track
    mono = audio.mean(axis=1)
    speech = [span(c) for c in plan["cues"] if c["kind"] == "speech"]
    unspoken = [
        c
        for c in plan["cues"]
        if c["kind"] == "breath"
        and not any(s.start < span(c).stop and span(c).start < s.stop for s in speech)
    ]
    assert {c["phase"] for c in unspoken} == {"inhale", "exhale"}
    for cue in unspoken:
        third = (span(cue).stop - span(cue).start) // 3
        window = mono[span(cue)]
        first, last = db(rms(window[:third])), db(rms(window[-third:]))
        if cue["phase"] == "inhale":
            assert last - first >= 3.0, (cue, first, last)
        else:
            assert first - last >= 3.0, (cue, first, last)


def test_each_side_is_heard_from_its_side(
    probe_track: tuple[np.ndarray, dict[str, Any]],  # type: ignore[type-arg]
) -> None:
    audio, plan = probe_track
    speech = [c for c in plan["cues"] if c["kind"] == "speech"]
    sided = {"left": 0, "right": 0}
    for cue in speech:
        left, right = (db(rms(audio[span(cue), ch])) for ch in (0, 1))
        pan = cue.get("pan", 0.0)
        if pan < 0:
            assert left - right >= 6.0, cue
            sided["left"] += 1
        elif pan > 0:
            assert right - left >= 6.0, cue
            sided["right"] += 1
        else:
            assert abs(left - right) < 1.0, cue
    assert sided["left"] >= 4 and sided["right"] >= 4  # side, say, and the 3-2-1 countdown


def test_a_bundled_routine_with_a_bed_is_in_spec(tmp_path: Path) -> None:
    out = tmp_path / "relax.mp3"
    result = CliRunner().invoke(cli, ["build", "psoas-relax", "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(CliRunner().invoke(cli, ["plan", "psoas-relax", "--json"]).stdout)
    audio = decode_mp3(out)
    assert voice_lufs(audio, plan) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_db(audio) <= -1.0


def test_bed_option_and_its_errors(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps: [Hello.]\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--bed", "rian"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --bed: unknown bed 'rian': did you mean 'rain'?")
    missing = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--bed", "nope.wav"])
    assert missing.exit_code == 1 and "nope.wav" in missing.output


def test_loudness_option_sets_another_target(write_routine: WriteRoutine) -> None:
    path = write_routine(ROUTINE.replace("BED", "brown"))
    out = path.with_suffix(".mp3")
    result = CliRunner().invoke(
        cli, ["build", str(path), "--voice", "fake", "--loudness", "-19", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(
        CliRunner().invoke(cli, ["plan", str(path), "--voice", "fake", "--json"]).stdout
    )
    audio = decode_mp3(out, channels=2)
    assert voice_lufs(audio, plan) == pytest.approx(-19.0, abs=0.5)
    assert true_peak_db(audio) <= -1.0


SPOKEN = """
title: Peaks
PAN
steps:
  - say: Keep this knee down, and step the other foot forward.
  - exercise: Lunge stretch
    sides: [left, right]
    hold: {duration: 6s, countdown: 3, say: Let your body shift forward.}
  - say: Slowly come back out of the stretch, and rest.
"""


@pytest.mark.parametrize("bitrate", [64, 96, 128, 192])
@pytest.mark.parametrize("pan", ["pan: sides", ""])
def test_every_bitrate_keeps_the_voice_at_the_target_and_the_peaks_in_spec(
    write_routine: WriteRoutine, bitrate: int, pan: str
) -> None:
    """MP3 encoding adds to a synthetic voice's peaks, more at low bitrates and for a voice
    panned to one side: the mix leaves room for it, and levelling makes up what that costs."""
    path = write_routine(SPOKEN.replace("PAN", pan))
    out = path.with_suffix(".mp3")
    options = ["--voice", "system"]
    result = CliRunner().invoke(
        cli, ["build", str(path), "-o", str(out), "--bitrate", str(bitrate), *options]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(CliRunner().invoke(cli, ["plan", str(path), "--json", *options]).stdout)
    audio = decode_mp3(out, channels=2)
    assert voice_lufs(audio, plan) == pytest.approx(-16.0, abs=0.5)
    cues = [clip_loudness(audio[a:b]) for a, b in spans(plan, "speech") if b - a >= 4410]
    assert max(cues) - min(cues) <= 2.0
    assert true_peak_db(audio) <= TRUE_PEAK_DBTP
