"""A track encoded on several cores (publish/spans.py) against the same track encoded by one
encoder: the same length to the sample by two decoders, no click and no loudness step at a seam,
the same tags and chapters; on one core, the very bytes one encoder writes."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3

from audioguide.audio import to_samples
from audioguide.cues import Timeline
from audioguide.options import Options
from audioguide.publish import spans as spans_module
from audioguide.publish.frames import (
    Gapless,
    crc16,
    encoder_delay,
    music_crc,
    rewrite_info,
    scan,
)
from audioguide.publish.mp3 import MP3_FRAME, export_stream
from audioguide.publish.spans import cut, export_mixed
from audioguide.publish.tags import Tags
from audioguide.session import Session, channels_of
from audioguide.sound.meter import clip_loudness
from audiotools import clicks, decode_mp3, decoder_errors

SIDES = """\
title: Spans
{pan}
bed: rain
steps:
  - say: Welcome. Settle in, and stop if anything hurts.
{exercises}
  - say: Well done.
"""
EXERCISE = """\
  - exercise: Bend number {i}
    sides: [left, right]
    say: Bend slowly to the side, and breathe.
    reps: 2
    rep:
      - say: "Reach over, part {i}."
      - hold: {{duration: 5s, countdown: 3}}
      - say: Back.
"""


def _routine(tmp_path: Path, stereo: bool) -> Path:
    exercises = "".join(EXERCISE.format(i=i) for i in range(1, 6))
    text = SIDES.format(pan="pan: sides" if stereo else "", exercises=exercises)
    path = tmp_path / "spans.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_track_is_cut_by_its_length_alone_on_frame_boundaries() -> None:
    n = to_samples(1000.0) + 17
    spans = cut(n)
    assert len(spans) == 5  # SPAN_S, whatever the cores
    assert spans[0].start == 0 and spans[-1].end == n
    assert all(s.start % MP3_FRAME == 0 and s.fed % MP3_FRAME == 0 for s in spans)
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    assert all(s.stop > s.end for s in spans[:-1]) and spans[-1].stop == n
    assert len(cut(to_samples(121.0))) == 2  # two cores work on a two-minute track
    assert len(cut(to_samples(119.0))) == 1  # spans under a minute: one encoder


def test_the_lame_tags_crc_is_crc16_arc() -> None:
    assert crc16(b"123456789") == 0xBB3D  # the catalogue's check value
    data = bytes(range(256)) * 41 + b"tail"
    assert crc16(data[1000:], crc16(data[:1000])) == crc16(data)


@pytest.mark.integration
def test_the_gapless_frame_is_rewritten_as_ffmpeg_writes_it(tmp_path: Path) -> None:
    # Given what ffmpeg measured of its own stream, the rewrite gives back its frame byte for byte.
    samples = np.random.default_rng(3).normal(0, 0.1, to_samples(7.3)).astype(np.float32)
    path = tmp_path / "one.mp3"
    export_stream([samples], path, channels=1, n_samples=len(samples), tags=_tags())
    data = path.read_bytes()
    with path.open("rb") as f:
        frames = scan(f, _audio_start(data))
    info = data[frames.offsets[0] : frames.offsets[1]]
    size = int(frames.offsets[-1] - frames.offsets[0])
    music = data[frames.offsets[1] : frames.offsets[-1]]
    padding = (len(frames) - 1) * MP3_FRAME - len(samples) - 576
    toc = info[21 + 16 : 21 + 116]
    gapless = Gapless(len(frames) - 1, size, toc, padding, crc16(music))
    assert rewrite_info(info, gapless) == info


@pytest.mark.integration
@pytest.mark.parametrize(("stereo", "jobs"), [(False, 2), (True, 3)], ids=["mono-2", "stereo-3"])
def test_a_track_encoded_in_spans_equals_one_encoders_but_for_noise(
    tmp_path: Path, stereo: bool, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, many, timeline = _build_both(tmp_path, stereo, jobs, monkeypatch)
    n = timeline.total_samples
    channels = 2 if stereo else 1
    assert decoder_errors(many) == {"ffmpeg": "", "mpg123": ""}
    a, b = decode_mp3(one, channels), decode_mp3(many, channels)
    assert len(a) == len(b) == n
    assert len(_mpg123(many, channels)) == n  # a second decoder honours the gapless frame too
    seams = [s.start for s in cut(n)[1:]]
    assert len(seams) == 3
    edges = sorted({e for c in timeline.cues for e in (c.start_sample, c.end_sample)})
    for seam in seams:
        # The seam lies within SEAM_FRAMES of the cut; the decoded join spans a frame either side.
        lo, hi = seam - 4 * MP3_FRAME, seam + (spans_module.SEAM_FRAMES + 4) * MP3_FRAME
        assert clicks(b[lo:hi], [e - lo for e in edges if lo <= e < hi]) == []
        # No step: the steepest the joined track moves there is what one encoder's moves.
        steep_a = np.abs(np.diff(a[lo:hi], axis=0)).max()
        assert np.abs(np.diff(b[lo:hi], axis=0)).max() <= steep_a * 1.05 + 1e-3
        around = slice(seam - to_samples(1.5), seam + to_samples(1.5))
        assert abs(clip_loudness(b[around]) - clip_loudness(a[around])) <= 0.1
        # Two encodings of the same audio differ by their quantisation noise, no more, at a seam.
        assert _rms(b[lo:hi] - a[lo:hi]) <= 2 * _rms(a[lo:hi]) * 10 ** (-20 / 20)
    assert ID3(many) == ID3(one)  # every tag, and the chapters to the millisecond
    _assert_gapless_frame_true(many, n)


def _assert_gapless_frame_true(path: Path, n_samples: int) -> None:
    """The joined stream's Xing/LAME frame says what the stream is: its frames, bytes, the end
    padding that leaves the plan's samples, the music's CRC, its own CRC."""
    data = path.read_bytes()
    with path.open("rb") as f:
        frames = scan(f, _audio_start(data))
    info = data[frames.offsets[0] : frames.offsets[1]]
    music = data[frames.offsets[1] : frames.offsets[-1]]
    assert music_crc(info) == crc16(music)
    padding = (len(frames) - 1) * MP3_FRAME - n_samples - encoder_delay(info)
    size = int(frames.offsets[-1] - frames.offsets[0])
    toc = info[21 + 16 : 21 + 116] if info[21:25] == b"Info" else info[36 + 16 : 36 + 116]
    gapless = Gapless(len(frames) - 1, size, toc, padding, crc16(music))
    assert rewrite_info(info, gapless) == info


@pytest.mark.integration
def test_one_core_writes_the_bytes_one_encoder_writes_and_more_cores_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, many, _ = _build_both(tmp_path, False, 1, monkeypatch)
    assert one.read_bytes() == many.read_bytes()
    three = _build_both(tmp_path, False, 3, monkeypatch)[1].read_bytes()
    two = _build_both(tmp_path, False, 2, monkeypatch)[1].read_bytes()
    assert three == two != one.read_bytes()


def _build_both(
    tmp_path: Path, stereo: bool, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path, Timeline]:
    monkeypatch.setenv("AUDIOGUIDE_ENCODERS", str(jobs))
    # Four spans of the four minutes, three seams, in one test's time.
    monkeypatch.setattr(spans_module, "SPAN_S", 60.0)
    monkeypatch.setattr(spans_module, "MIN_SPAN_S", 50.0)
    routine = _routine(tmp_path, stereo)
    with Session.open(routine, Options(voice="fake")) as session:
        plan = session.plan()
        outputs = tmp_path / "one.mp3", tmp_path / "many.mp3"
        track = session.track(outputs[0], plan, session.options, ())
        timeline = plan.timeline
        assert channels_of(timeline) == (2 if stereo else 1)
        kwargs = {
            "channels": channels_of(timeline),
            "n_samples": timeline.total_samples,
            "tags": track.tags,
            "chapters": timeline.chapters,
        }
        export_stream(track.audio(), outputs[0], **kwargs)  # type: ignore[arg-type]
        export_mixed(lambda s: track.audio(None, s), outputs[1], **kwargs)  # type: ignore[arg-type]
    return outputs[0], outputs[1], timeline


def _mpg123(path: Path, channels: int) -> np.ndarray:
    out = subprocess.run(["mpg123", "-q", "-s", str(path)], capture_output=True, check=True).stdout
    return np.frombuffer(out, "<i2").reshape(-1, channels)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _tags() -> Tags:
    return Tags("T")


def _audio_start(data: bytes) -> int:
    if data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | byte
    return 10 + size
