from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mutagen.mp3
import numpy as np
import pytest
from mutagen.id3 import ID3, CTOCFlags

from audioguide.audio import SAMPLE_RATE, Samples, to_samples
from audioguide.cues import Chapter
from audioguide.errors import ExportError
from audioguide.publish import mp3
from audioguide.publish.mp3 import encoder_version, export_mp3
from audioguide.publish.tags import Tags
from audiotools import MP3_FRAME, decode_mp3, decoder_errors, onset_s, rms_db, tone

integration = pytest.mark.integration


def _noise(n_samples: int, channels: int = 1) -> Samples:
    shape = (n_samples, channels) if channels > 1 else (n_samples,)
    return (0.2 * np.random.default_rng(1).standard_normal(shape)).astype(np.float32)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- encoding: length and timing ---------------------------------------------------------------


@integration
def test_decoded_length_equals_input(tmp_path: Path) -> None:
    n = to_samples(2.5) + 333  # not a whole number of MP3 frames
    path = tmp_path / "t.mp3"
    export_mp3(_noise(n), path, tags=Tags("T"))
    # Measured with ffmpeg 5.1 and mpg123 1.31: 0 samples of difference, as both honour the
    # encoder delay and padding in the LAME header; one frame is the most the brief allows.
    assert abs(len(decode_mp3(path)) - n) <= MP3_FRAME
    raw = subprocess.run(["mpg123", "-q", "-s", str(path)], capture_output=True, check=True).stdout
    assert abs(len(raw) // 2 - n) <= MP3_FRAME
    # mutagen counts whole frames, delay and padding included: measured +1,332 samples (30 ms).
    extra = mutagen.mp3.MP3(path).info.length * SAMPLE_RATE - n
    assert 0 <= extra <= 2 * MP3_FRAME


@integration
def test_tone_onset_at_one_second_decodes_on_time(tmp_path: Path) -> None:
    samples = np.zeros(to_samples(3.0), dtype=np.float32)
    samples[SAMPLE_RATE:] = tone(1000, len(samples) - SAMPLE_RATE)
    path = tmp_path / "t.mp3"
    export_mp3(samples, path, tags=Tags("T"))
    # Without the LAME header's delay field it would land ~50 ms late (lameenc's trap).
    assert onset_s(decode_mp3(path), threshold=0.25) == pytest.approx(1.0, abs=0.002)


@integration
def test_stereo_input_yields_stereo_mp3(tmp_path: Path) -> None:
    n = to_samples(2.0)
    samples = np.zeros((n, 2), dtype=np.float32)
    samples[:, 0] = tone(440, n)
    path = tmp_path / "t.mp3"
    export_mp3(samples, path, tags=Tags("T"))
    assert mutagen.mp3.MP3(path).info.channels == 2
    decoded = decode_mp3(path, channels=2)
    assert decoded.shape == (n, 2)
    assert rms_db(decoded[:, 0]) == pytest.approx(rms_db(samples[:, 0]), abs=0.5)  # -9.0 dB
    assert rms_db(decoded[:, 1]) < -60


@integration
def test_bitrate_is_constant_and_as_asked(tmp_path: Path) -> None:
    path = tmp_path / "t.mp3"
    export_mp3(_noise(to_samples(2.0)), path, tags=Tags("T"), bitrate_kbps=64)
    info = mutagen.mp3.MP3(path).info
    assert info.bitrate_mode == mutagen.mp3.BitrateMode.CBR
    assert info.bitrate == pytest.approx(64_000, abs=100)  # mutagen estimates: 63,998


@integration
def test_mp3_decodes_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "t.mp3"
    chapters = [Chapter("One", 0, SAMPLE_RATE), Chapter("Two", SAMPLE_RATE, 2 * SAMPLE_RATE)]
    export_mp3(_noise(2 * SAMPLE_RATE), path, tags=Tags("T", comment="c"), chapters=chapters)
    assert decoder_errors(path) == {"ffmpeg": "", "mpg123": ""}


def test_samples_become_int16_once_rounded_and_clipped() -> None:
    lsb = 1 / 32768
    chunk = np.array(
        [0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -7.0, 0.25 * lsb, 0.75 * lsb, -0.75 * lsb],
        dtype=np.float32,
    )
    pcm = np.frombuffer(mp3._pcm16(chunk, np.float32(32768)), dtype="<i2")
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 1, -1]


@integration
@pytest.mark.parametrize("bitrate", [64, 128, 192, 224, 256])
def test_the_decoded_track_is_as_loud_as_the_mix(tmp_path: Path, bitrate: int) -> None:
    # LAME's CBR presets scale the input down (by 0.95 at 128 kbps); export undoes it.
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    sine = (0.25 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    path = tmp_path / "t.mp3"
    export_mp3(sine, path, tags=Tags("T"), bitrate_kbps=bitrate)
    middle = slice(SAMPLE_RATE, 4 * SAMPLE_RATE)
    assert rms_db(decode_mp3(path)[middle]) == pytest.approx(rms_db(sine[middle]), abs=0.05)


# --- tags and chapters -------------------------------------------------------------------------


@integration
def test_tags_read_back(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "t.mp3"
    tags = Tags(
        "Psoas release — Übung",
        artist="Sam's Physio",
        album="Mornings",
        comment="Stop if anything hurts.",
    )
    export_mp3(_noise(SAMPLE_RATE), path, tags=tags)
    id3 = ID3(path)
    assert id3.version == (2, 3, 0)
    assert str(id3["TIT2"]) == "Psoas release — Übung"
    assert str(id3["TPE1"]) == "Sam's Physio"
    assert str(id3["TALB"]) == "Mornings"
    assert str(id3["TCON"]) == "Health & Fitness"
    assert str(id3["COMM::eng"]) == "Stop if anything hurts."
    assert not id3.getall("CHAP") and not id3.getall("CTOC")
    assert path.read_bytes()[-128:-125] != b"TAG"  # no ID3v1


@integration
def test_empty_optional_tags_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "t.mp3"
    export_mp3(_noise(SAMPLE_RATE), path, tags=Tags("T", genre=""))
    assert sorted(ID3(path).keys()) == ["TIT2", "TSSE"]


@integration
def test_chapters_read_back(tmp_path: Path) -> None:
    # 44,122 samples is 1000.499 ms and 44,123 is 1000.522 ms: they round to 1000 and 1001.
    bounds = [0, 44_122, 44_123, *range(2 * SAMPLE_RATE, 12 * SAMPLE_RATE, SAMPLE_RATE)]
    n = 12 * SAMPLE_RATE
    titles = [
        "Introduction",
        "Übung",
        "A chapter with a much longer title than the others",
        *(f"Step {i}" for i in range(10)),
    ]
    chapters = [Chapter(t, s, e) for t, s, e in zip(titles, bounds, [*bounds[1:], n], strict=True)]
    path = tmp_path / "t.mp3"
    export_mp3(_noise(n), path, tags=Tags("Routine"), chapters=chapters)

    id3 = ID3(path)
    assert id3.version == (2, 3, 0)
    (toc,) = id3.getall("CTOC")
    ids = [f"chp{i}" for i in range(13)]
    assert (toc.element_id, toc.child_element_ids) == ("toc", ids)
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert str(toc.sub_frames["TIT2"]) == "Routine"
    chaps = {c.element_id: c for c in id3.getall("CHAP")}
    ms = [0, 1000, 1001, *range(2000, 12_000, 1000), 12_000]
    read = [
        (
            str(chaps[i].sub_frames["TIT2"]),
            chaps[i].start_time,
            chaps[i].end_time,
            chaps[i].start_offset,
            chaps[i].end_offset,
        )
        for i in ids
    ]
    assert read == [
        (t, s, e, 0xFFFFFFFF, 0xFFFFFFFF) for t, s, e in zip(titles, ms[:-1], ms[1:], strict=True)
    ]


@integration
def test_chapter_frames_are_in_play_order_for_players_that_ignore_ctoc(tmp_path: Path) -> None:
    # mutagen on its own sorts frames by size; ffmpeg 5.1 lists chapters in file order.
    titles = ["A long first chapter title", "B", "Third middling"]
    chapters = [Chapter(t, i * SAMPLE_RATE, (i + 1) * SAMPLE_RATE) for i, t in enumerate(titles)]
    path = tmp_path / "t.mp3"
    export_mp3(_noise(3 * SAMPLE_RATE), path, tags=Tags("T"), chapters=chapters)
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "chapter_tags=title",
            "-of",
            "default=nw=1:nk=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines() == titles


# --- failures and the atomic write -------------------------------------------------------------


def test_missing_ffmpeg_is_an_export_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ExportError) as caught:
        export_mp3(_noise(SAMPLE_RATE), tmp_path / "out" / "t.mp3", tags=Tags("T"))
    assert (
        str(caught.value)
        == "ffmpeg is needed to encode and decode audio: sudo apt-get install ffmpeg"
    )
    assert _files(tmp_path) == ["bin"]
    assert encoder_version() is None


@integration
def test_failing_encode_leaves_existing_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An ffmpeg built without LAME fails like this.
    monkeypatch.setattr(mp3, "ENCODER", "libnosuchmp3")
    target = tmp_path / "t.mp3"
    target.write_bytes(b"yesterday's track")
    with pytest.raises(
        ExportError,
        match=rf"^ffmpeg could not encode {target} \(exit code [1-9]"
        r"\d*\): .*Unknown encoder 'libnosuchmp3'",
    ):
        export_mp3(_noise(5 * SAMPLE_RATE), target, tags=Tags("T"))
    assert target.read_bytes() == b"yesterday's track"
    assert _files(tmp_path) == ["t.mp3"]


@integration
def test_interrupt_mid_encode_leaves_existing_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pcm16 = mp3._pcm16
    calls = []

    def interrupted(chunk: Samples, gain: np.float32) -> bytes:
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_pcm16(chunk, gain)

    monkeypatch.setattr(mp3, "_pcm16", interrupted)
    target = tmp_path / "t.mp3"
    target.write_bytes(b"yesterday's track")
    with pytest.raises(KeyboardInterrupt):
        export_mp3(_noise(6 * mp3.CHUNK_FRAMES), target, tags=Tags("T"))
    assert target.read_bytes() == b"yesterday's track"
    assert _files(tmp_path) == ["t.mp3"]


def test_disk_full_reported_by_an_encoder_that_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Measured on a 64 KiB tmpfs: ffmpeg 5.1 prints this, truncates the file and exits 0.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "sys.stdin.buffer.read()\n"
        "out = sys.argv[-1]\n"
        "open(out, 'wb').write(b'partial')\n"
        "sys.stderr.write(f'Error writing trailer of {out}: No space left on device\\n'\n"
        "                 f'Error closing file {out}: No space left on device\\n')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    target = tmp_path / "out" / "t.mp3"
    with pytest.raises(ExportError) as caught:
        export_mp3(_noise(SAMPLE_RATE), target, tags=Tags("T"))
    assert str(caught.value) == (
        f"not enough disk space to write {target}: free some space or choose another output folder"
    )
    assert _files(target.parent) == []


@integration
def test_parent_that_is_a_file_is_an_export_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "t.mp3"
    with pytest.raises(ExportError) as caught:
        export_mp3(_noise(SAMPLE_RATE), target, tags=Tags("T"))
    assert str(caught.value) == (
        f"cannot write {target}: part of {target.parent} is a file, "
        "not a folder; choose another output path"
    )


@integration
def test_target_that_is_a_directory_is_an_export_error(tmp_path: Path) -> None:
    (tmp_path / "t.mp3").mkdir()
    target = tmp_path / "t.mp3"
    with pytest.raises(ExportError) as caught:
        export_mp3(_noise(SAMPLE_RATE), target, tags=Tags("T"))
    assert str(caught.value) == (
        f"cannot write {target}: it is a folder; give the file name to write"
    )
    assert _files(tmp_path) == ["t.mp3"]


@integration
def test_success_replaces_target_with_a_normally_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "t.mp3"
    target.write_bytes(b"yesterday's track")
    old_umask = os.umask(0o022)
    try:
        export_mp3(_noise(SAMPLE_RATE), target, tags=Tags("T"))
    finally:
        os.umask(old_umask)
    assert target.read_bytes()[:3] == b"ID3"
    assert target.stat().st_mode & 0o777 == 0o644  # not the 0o600 of a mkstemp file
    assert _files(tmp_path) == ["t.mp3"]


@pytest.mark.parametrize(
    ("samples", "bitrate", "message"),
    [
        (np.zeros(0, dtype=np.float32), 128, "nothing to write to {path}: the track is empty"),
        (
            np.zeros(10, dtype=np.float32),
            100,
            "MP3 bitrate 100 kbps is not possible: use one of "
            "32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320",
        ),
    ],
)
def test_impossible_requests_are_refused_before_writing(
    tmp_path: Path, samples: Samples, bitrate: int, message: str
) -> None:
    path = tmp_path / "t.mp3"
    with pytest.raises(ExportError) as caught:
        export_mp3(samples, path, tags=Tags("T"), bitrate_kbps=bitrate)
    assert str(caught.value).startswith(message.format(path=path))
    assert _files(tmp_path) == []


@integration
def test_encoder_version_names_ffmpeg() -> None:
    version = encoder_version()
    assert version is not None and version.startswith("ffmpeg ")
