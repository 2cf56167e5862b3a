"""The seams a server and a studio stand on: errors that cross processes whole, a session shared by
threads, mixing that starts at a chapter, an MP3 written to a stream, and caches that notice an
edited file."""

from __future__ import annotations

import pickle
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from audioguide.audio import SAMPLE_RATE
from audioguide.clients.jobs import Failed
from audioguide.errors import Problems, RoutineError, SoundError, Where
from audioguide.model import SoundFile
from audioguide.options import Options
from audioguide.publish.mp3 import mp3_stream
from audioguide.session import Session
from audioguide.sound.mix import render_blocks
from audioguide.sound.sounds import sound_samples
from audioguide.tools import ffmpeg

ROUTINE = """\
title: Seams
bed: rain
steps:
  - say: Welcome. Settle in and breathe.
  - exercise: Lift
    say: Lie on your back.
    reps: 2
    rep: [{say: Lift the leg.}, {hold: 3}, {say: Lower it.}]
  - breathe: {pattern: 4-0-6-0, cycles: 2}
  - exercise: Reach
    hold: {duration: 4s, countdown: 2}
  - say: Well done.
"""


def test_an_error_crosses_a_process_with_its_type_and_place() -> None:
    error = RoutineError("'pause' needs a duration like 5s", Where("knee.yaml", 12, "3"))
    failed = pickle.loads(pickle.dumps(Failed(error)))
    assert type(failed.error) is RoutineError
    assert str(failed.error) == "knee.yaml:12: step 3: 'pause' needs a duration like 5s"
    both = Problems([error, SoundError("no such sound", Where("clients.csv", 4))])
    again = pickle.loads(pickle.dumps(both))
    assert [type(e) for e in again.errors] == [RoutineError, SoundError]
    assert [str(e) for e in again.errors] == [str(e) for e in both.errors]


def test_mixing_from_a_chapter_gives_the_tracks_own_samples(write_routine: object) -> None:
    path = write_routine(ROUTINE)  # type: ignore[operator]
    with Session.open(path, Options(voice="fake")) as session:
        plan = session.plan()
        voice = session.voice(plan.routine)
        whole = np.concatenate(list(render_blocks(plan.timeline, voice)))
        for chapter in plan.timeline.chapters[1:]:
            start = chapter.start_sample
            part = np.concatenate(list(render_blocks(plan.timeline, voice, start_sample=start)))
            assert len(part) == plan.timeline.total_samples - start
            np.testing.assert_allclose(part, whole[start:], atol=1e-6)


@pytest.mark.integration
def test_a_session_built_from_two_threads_gives_the_same_tracks(
    write_routine: object, tmp_path: Path
) -> None:
    path = write_routine(ROUTINE)  # type: ignore[operator]
    cache = tmp_path / "speech"  # cold: both threads speak through one voice at once
    with Session.open(path, Options(voice="fake", cache_dir=cache)) as session:
        names = [f"t{i}.mp3" for i in range(4)]
        with ThreadPoolExecutor(len(names)) as pool:
            for built in [pool.submit(session.build, tmp_path / name) for name in names]:
                built.result()  # what a thread raised, raised here
        alone = session.build(tmp_path / "alone.mp3").path
        assert len(session.voices._open) == 1
    for name in names:
        assert (tmp_path / name).read_bytes() == alone.read_bytes()


@pytest.mark.integration
def test_an_mp3_stream_starts_at_once_and_decodes_to_the_mix(write_routine: object) -> None:
    path = write_routine(ROUTINE)  # type: ignore[operator]
    with Session.open(path, Options(voice="fake")) as session:
        plan = session.plan()
        track = session.track(Path("unused.mp3"), plan, session.options, ())
        start = plan.timeline.chapters[1].start_sample
        n = plan.timeline.total_samples - start
        stream = mp3_stream(track.audio(start_sample=start), channels=1, n_samples=n)
        first = next(stream)
        assert first[:2] in (b"\xff\xfb", b"\xff\xf3")  # an MPEG audio frame, no tag before it
        data = first + b"".join(stream)
        mixed = np.concatenate(list(track.audio(start_sample=start)))
    decoded = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", "pipe:0", "-f", "f32le", "-ac", "1", "pipe:1"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout
    heard = np.frombuffer(decoded, dtype="<f4")
    # Without its header a stream keeps the encoder's delay and padding: at most two frames.
    assert n <= len(heard) <= n + 2 * 1152 + 529 + 1105
    lag = int(np.argmax(np.correlate(heard[: SAMPLE_RATE * 2], mixed[:SAMPLE_RATE], "valid")))
    aligned = heard[lag : lag + len(mixed)]
    assert np.corrcoef(aligned[: len(mixed)], mixed[: len(aligned)])[0, 1] > 0.99


def test_an_edited_sound_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "chime.wav"

    def write(amplitude: float) -> None:
        t = np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE
        pcm = (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.tobytes())

    write(0.2)
    first = float(np.abs(sound_samples(SoundFile(path))).max())
    write(0.1)
    path.touch()  # a new modification time even where the clock is coarse
    second = float(np.abs(sound_samples(SoundFile(path))).max())
    assert second != first
