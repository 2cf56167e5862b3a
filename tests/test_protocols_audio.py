"""The timed protocols as a user builds them, with the default voice and the real encoder: the
decoded MP3 measured against the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import correlate

from audioguide.audio import SAMPLE_RATE, to_samples
from audioguide.cli import cli
from audioguide.model import BuiltinSound
from audioguide.sound.sounds import sound_samples
from audiotools import MP3_FRAME, decode_mp3
from conftest import WriteRoutine

pytestmark = pytest.mark.integration

SEARCH = to_samples(0.25)
"""How far either side of its scheduled time a tone is looked for: more than any error could be,
less than the second between a countdown's "1" and the work start."""


def build_and_plan(name: str, out: Path, *extra: str) -> tuple[np.ndarray, dict[str, Any]]:  # type: ignore[type-arg]
    runner = CliRunner()
    built = runner.invoke(cli, ["build", name, "-o", str(out), *extra])
    assert built.exit_code == 0, built.output
    plan = runner.invoke(cli, ["plan", name, "--json", *extra])
    assert plan.exit_code == 0, plan.output
    return decode_mp3(out), json.loads(plan.stdout)


def tone_offsets(audio: np.ndarray, starts: list[int], tone: np.ndarray) -> list[int]:  # type: ignore[type-arg]
    """Where each tone starts in the decoded track, relative to its scheduled sample: the lag
    of the best match of the tone's waveform in a window around it, which must be a clear one."""
    offsets = []
    for start in starts:
        window = audio[start - SEARCH : start + SEARCH + len(tone)].astype(np.float64)
        score = correlate(window, tone, mode="valid")
        lag = int(np.argmax(score))
        found = window[lag : lag + len(tone)]
        similarity = score[lag] / (np.linalg.norm(found) * np.linalg.norm(tone) + 1e-12)
        assert similarity > 0.9, f"no clear tone near sample {start} ({similarity:.2f})"
        offsets.append(lag - SEARCH)
    return offsets


@pytest.mark.parametrize(("name", "periods", "work_s"), [("tabata", 8, 20), ("circuit", 12, 30)])
def test_every_work_period_starts_with_its_tone_on_time(
    tmp_path: Path, name: str, periods: int, work_s: float
) -> None:
    audio, plan = build_and_plan(name, tmp_path / f"{name}.mp3")
    assert abs(len(audio) - plan["total_s"] * SAMPLE_RATE) <= MP3_FRAME
    work = [c for c in plan["cues"] if c["kind"] == "work"]
    assert len(work) == periods
    assert all(round(c["end_s"] - c["start_s"], 3) == work_s for c in work)
    starts = [round(c["start_s"] * SAMPLE_RATE) for c in work]  # the plan rounds to 1 ms
    offsets = tone_offsets(audio, starts, sound_samples(BuiltinSound("beep")).astype(np.float64))
    assert max(abs(o) for o in offsets) <= to_samples(0.010), offsets


def test_a_fitted_build_lasts_the_length_asked_for(
    tmp_path: Path, write_routine: WriteRoutine
) -> None:
    path = write_routine(
        """
        title: Fit
        steps:
          - say: Find a comfortable position.
          - exercise: Lunge stretch
            sides: [left, right]
            rest: 5-15s
            sets: 2
            hold: {duration: 20-40s, countdown: 3}
          - breathe: {pattern: coherent, cycles: 3-6}
          - pause: 5-20s
        """
    )
    runner = CliRunner()
    for length_s in (170, 200, 230):
        plan = runner.invoke(cli, ["plan", str(path), "--json", "--length", f"{length_s}s"])
        assert plan.exit_code == 0, plan.output
        assert abs(json.loads(plan.stdout)["total_s"] - length_s) <= 1.0
    audio, _ = build_and_plan(str(path), tmp_path / "fit.mp3", "--length", "3m20s")
    assert abs(len(audio) / SAMPLE_RATE - 200) <= 1.0
