"""SIGKILL a real `audioguide build` at many moments: the track at the output path is still the old
one (or the whole new one), no temp file survives the next build, no cached clip is damaged, and
no child process lingers.

The build runs as a subprocess in its own session; only the audioguide process itself is killed,
as the OOM killer or `kill -9` would, so its children must notice on their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audioguide.audio import Samples
from audioguide.cues import CueKind
from audioguide.files import part_pattern
from audioguide.language.load import load_routine
from audioguide.options import TARGET_LUFS
from audioguide.sound.levels import LEVEL_RECIPE, SPEECH_PEAK_DBTP, _level_speech
from audioguide.timing.compile import compile_timeline
from audioguide.voices.cache import CachedVoice
from audioguide.voices.fake import FakeVoice
from batchtools import session_processes

pytestmark = pytest.mark.integration

AUDIOGUIDE = Path(sys.executable).with_name("audioguide")
PREVIOUS = b"yesterday's track, which must survive"
SETTLE_S = 120.0
"""How long the killed build's children may take to notice and exit."""
POLL_S = 0.002


def _routine(folder: Path, cues: int) -> Path:
    """Distinct spoken cues (so a fresh cache has speaking to do) and a few timed holds."""
    lines = ["title: Kill test", "steps:"]
    for i in range(1, cues + 1):
        lines.append(f"  - say: Cue number {i}, breathe slowly.")
        if i % 10 == 0:
            lines.append("  - hold: {duration: 10s, countdown: 3}")
    path = folder / "kill.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _build(routine: Path, out: Path, cache: Path, voice: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(AUDIOGUIDE), "build", str(routine), "-o", str(out), "--voice", voice],
        env={**os.environ, "AUDIOGUIDE_CACHE_DIR": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _run(routine: Path, out: Path, cache: Path, voice: str) -> float:
    started = time.perf_counter()
    proc = _build(routine, out, cache, voice)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    return time.perf_counter() - started


def _session(sid: int) -> list[str]:
    return session_processes(sid)


def _parts(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if part_pattern(out).fullmatch(p.name)]


@dataclass(frozen=True)
class Reference:
    routine: Path
    track: bytes
    """The bytes a completed build writes (builds are deterministic)."""
    seconds: float
    """How long a whole build takes here, with an empty speech cache."""
    clips: dict[Path, Samples]
    """Cache file name -> the clip it must hold: the fake voice's, or that clip levelled."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    folder = tmp_path_factory.mktemp("kill")
    routine = _routine(folder, cues=60)
    out = folder / "reference.mp3"
    # The first run also warms the disk cache: the second is what the killed builds will take.
    seconds = min(_run(routine, out, folder / f"cache{i}", "fake") for i in range(2))
    timeline = compile_timeline(load_routine(routine), FakeVoice())
    texts = {c.text for c in timeline.cues if c.kind is CueKind.SPEECH and c.text}
    namer = CachedVoice(FakeVoice(), Path("."))
    recipe = f"{LEVEL_RECIPE}:{TARGET_LUFS:g}:{SPEECH_PEAK_DBTP:g}"
    clips = {namer.path_for(t): FakeVoice().synthesize(t) for t in texts}
    clips |= {
        namer.path_for(t, recipe): _level_speech(clips[namer.path_for(t)], TARGET_LUFS)
        for t in texts
    }
    return Reference(routine, out.read_bytes(), seconds, clips)


def _after(seconds: float) -> Callable[[Reference, Path, Path], bool]:
    started = time.perf_counter()

    def due(ref: Reference, out: Path, cache: Path) -> bool:
        return time.perf_counter() - started >= seconds

    return due


# Each moment is a condition polled every 2 ms; the build is killed the first time it holds.
MOMENTS: dict[str, Callable[[Reference], Callable[[Reference, Path, Path], bool]]] = {
    "starting-up": lambda ref: _after(0.05),
    "first-clip-spoken": lambda ref: lambda r, out, cache: any(cache.glob("*/*.npy")),
    "at-20%": lambda ref: _after(0.2 * ref.seconds),
    "at-40%": lambda ref: _after(0.4 * ref.seconds),
    "at-60%": lambda ref: _after(0.6 * ref.seconds),
    "encoding-starts": lambda ref: lambda r, out, cache: bool(_parts(out)),
    "encoding-half-done": lambda ref: (
        lambda r, out, cache: any(p.stat().st_size >= len(r.track) // 2 for p in _parts(out))
    ),
    "encoding-ends": lambda ref: (
        lambda r, out, cache: any(p.stat().st_size >= len(r.track) - 2_000 for p in _parts(out))
    ),
    "at-75%": lambda ref: _after(0.75 * ref.seconds),
}


def _kill_when(
    proc: subprocess.Popen[bytes],
    due: Callable[[Reference, Path, Path], bool],
    ref: Reference,
    out: Path,
    cache: Path,
) -> bool:
    """SIGKILL the build once `due` holds; False if it finished first."""
    while proc.poll() is None:
        try:
            hit = due(ref, out, cache)
        except OSError:
            hit = False  # a temp file vanished between listing and stat
        if hit:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(POLL_S)
    return False


def _settle(proc: subprocess.Popen[bytes]) -> None:
    """Wait until nothing of the killed build runs any more, then close our end of its pipe."""
    _wait_for_children(proc.pid)
    proc.communicate(timeout=SETTLE_S)


def _wait_for_children(sid: int) -> None:
    deadline = time.monotonic() + SETTLE_S
    while (left := _session(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"still running after the build was killed: {left}"


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_killed_build_loses_nothing(reference: Reference, tmp_path: Path, moment: str) -> None:
    out = tmp_path / "out" / "track.mp3"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    cache = tmp_path / "cache"
    proc = _build(reference.routine, out, cache, "fake")
    killed = _kill_when(proc, MOMENTS[moment](reference), reference, out, cache)
    _settle(proc)

    # The old track, or (killed after the rename) the whole new one: never anything between.
    assert out.read_bytes() in (PREVIOUS, reference.track)
    if moment in ("starting-up", "first-clip-spoken", "encoding-starts", "encoding-half-done"):
        assert killed and out.read_bytes() == PREVIOUS  # all before the rename
    if moment in ("encoding-starts", "encoding-half-done"):
        assert _parts(out), "a build killed while encoding leaves its temp file..."
    # Every clip in the cache is whole: exactly what the voice says for its text, or that levelled.
    for clip in cache.glob("*/*.npy"):
        assert np.array_equal(np.load(clip), reference.clips[clip.relative_to(cache)]), clip

    # ...and the next build to the same path clears it.
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("title: Tiny\nsteps:\n  - say: Hello.\n", encoding="utf-8")
    _run(tiny, out, cache, "fake")
    # The track and its transcript companions, whole, and no temp file of any of them.
    assert sorted(p.name for p in out.parent.iterdir()) == ["track.lrc", "track.mp3", "track.vtt"]
    assert out.read_bytes() not in (PREVIOUS, reference.track)


def test_a_build_killed_while_the_system_voice_speaks(tmp_path: Path) -> None:
    routine = _routine(tmp_path, cues=12)
    out = tmp_path / "out" / "track.mp3"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    cache = tmp_path / "cache"
    proc = _build(routine, out, cache, "system")
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*/*.npy"))) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the system voice spoke nothing in two minutes"
        time.sleep(POLL_S)
    assert proc.poll() is None, "the build finished before it could be killed: give it more cues"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The voice worker is a child process: it must see its parent go and stop by itself.
    _settle(proc)
    assert out.read_bytes() == PREVIOUS
    spoken = {}
    for clip in cache.glob("*/*.npy"):
        samples = np.load(clip)
        assert samples.dtype == np.float32 and samples.ndim == 1 and samples.size > 1_000
        spoken[clip] = clip.stat().st_mtime_ns
    assert len(spoken) >= 3

    _run(routine, out, cache, "system")
    assert _parts(out) == [] and out.read_bytes() != PREVIOUS
    # What was spoken before the kill is used as it is, not spoken again.
    assert all(clip.stat().st_mtime_ns == mtime for clip, mtime in spoken.items())
