from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from audioguide.audio import SAMPLE_RATE, Samples, to_samples
from audioguide.errors import VoiceError
from audioguide.options import DEFAULT_RATE
from audioguide.voices import cache
from audioguide.voices.cache import CACHE_ENV, CachedVoice, default_cache_dir
from audioguide.voices.choose import open_voice, voice_languages
from audioguide.voices.clips import Voice, VoiceInfo, check_clip, split_text, trim_silence
from audioguide.voices.fake import FakeVoice
from audioguide.voices.system import SystemVoice, list_system_voices

SENTENCE = "Lie on your back, knees bent, feet hip-width apart."


class CountingVoice:
    """A real Voice (FakeVoice underneath) that counts how often it is asked to speak."""

    def __init__(self, rate: int = DEFAULT_RATE) -> None:
        self.fake = FakeVoice(rate)
        self.calls = 0

    @property
    def key(self) -> str:
        return self.fake.key

    def synthesize(self, text: str) -> Samples:
        self.calls += 1
        return self.fake.synthesize(text)

    def close(self) -> None:
        pass


def edge_silence_s(clip: Samples, threshold: float = 0.01) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(clip) > threshold)
    return loud[0] / SAMPLE_RATE, (len(clip) - 1 - loud[-1]) / SAMPLE_RATE


def rms(clip: Samples) -> float:
    return float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))


# --- FakeVoice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate", "expected_s"),
    [
        ("Hi.", 150, 0.55),
        (SENTENCE, 150, 0.25 + 0.3 * 9),
        (SENTENCE, 100, (0.25 + 0.3 * 9) * 1.5),
        ("", 300, 0.125),
    ],
)
def test_fake_voice_length_is_the_documented_function(
    text: str, rate: int, expected_s: float
) -> None:
    assert FakeVoice.duration_s(text, rate) == pytest.approx(expected_s)
    clip = FakeVoice(rate).synthesize(text)
    assert len(clip) == to_samples(FakeVoice.duration_s(text, rate))
    assert clip.dtype == np.float32 and clip.ndim == 1


def test_fake_voice_is_deterministic_and_speech_like() -> None:
    a = FakeVoice().synthesize(SENTENCE)
    b = FakeVoice().synthesize(SENTENCE)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, FakeVoice().synthesize("Feet hip-width apart, lie on your back."))
    assert 0.45 <= np.max(np.abs(a)) <= 0.5
    assert abs(a[0]) < 1e-3 and abs(a[-1]) < 1e-3  # faded edges
    spectrum = np.abs(np.fft.rfft(a))
    f0 = np.argmax(spectrum) * SAMPLE_RATE / len(a)
    assert 138 <= f0 <= 162
    # Syllables: the loudness rises and falls about four times a second.
    envelope = np.abs(a[: len(a) // 441 * 441]).reshape(-1, 441).max(axis=1)  # 10 ms frames
    quiet = envelope < 0.1 * envelope.max()
    dips = np.count_nonzero(quiet[1:] & ~quiet[:-1])
    assert dips == pytest.approx(4 * len(a) / SAMPLE_RATE, abs=2)
    assert FakeVoice(120).key == "fake:default:120"


# --- CachedVoice --------------------------------------------------------------------------------


def test_cache_miss_then_hit_reads_the_same_clip(tmp_path: Path) -> None:
    inner = CountingVoice()
    voice = CachedVoice(inner, tmp_path)
    first = voice.synthesize(SENTENCE)
    assert (voice.misses, voice.hits, inner.calls) == (1, 0, 1)
    second = voice.synthesize(SENTENCE)
    assert (voice.misses, voice.hits, inner.calls) == (1, 1, 1)
    assert second.tobytes() == first.tobytes() and second.dtype == np.float32
    path = voice.path_for(SENTENCE)
    assert path.parent.name == path.stem[:2] and path.suffix == ".npy"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [path.name]  # no temp files
    # A new process (here: a new wrapper) finds it on disk.
    again = CachedVoice(CountingVoice(), tmp_path)
    again.synthesize(SENTENCE)
    assert (again.hits, again.misses) == (1, 0)


def test_a_changed_rate_or_text_misses(tmp_path: Path) -> None:
    CachedVoice(FakeVoice(150), tmp_path).synthesize("Breathe in.")
    other_rate = CachedVoice(FakeVoice(180), tmp_path)
    clip = other_rate.synthesize("Breathe in.")
    assert (other_rate.hits, other_rate.misses) == (0, 1)
    assert len(clip) == to_samples(FakeVoice.duration_s("Breathe in.", 180))
    other_text = CachedVoice(FakeVoice(150), tmp_path)
    other_text.synthesize("Breathe out.")
    other_text.synthesize("Breathe in")  # punctuation is part of the text
    assert (other_text.hits, other_text.misses) == (0, 2)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "damage",
    [
        _truncate,
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(b"not a numpy file at all"),
        lambda p: np.save(p, np.ones(10, dtype=np.float64)),
        lambda p: np.save(p, np.ones((2, 5), dtype=np.float32)),
        lambda p: np.save(p, np.zeros(0, dtype=np.float32)),
        lambda p: p.write_bytes(p.read_bytes()[:-4]),
    ],
    ids=["truncated", "empty-file", "garbage", "float64", "2-d", "no-samples", "one-sample-short"],
)
def test_a_damaged_cache_file_is_made_again(
    tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    good = CachedVoice(FakeVoice(), tmp_path).synthesize(SENTENCE)
    path = CachedVoice(FakeVoice(), tmp_path).path_for(SENTENCE)
    damage(path)
    voice = CachedVoice(CountingVoice(), tmp_path)
    assert voice.synthesize(SENTENCE).tobytes() == good.tobytes()
    assert (voice.misses, voice.hits) == (1, 0)
    assert voice.synthesize(SENTENCE).tobytes() == good.tobytes()  # and the file is whole again
    assert (voice.misses, voice.hits) == (1, 1)
    # The plan reads a clip's length from its header alone, and makes a damaged clip again.
    damage(path)
    planner = CachedVoice(CountingVoice(), tmp_path)
    rest = len(FakeVoice().synthesize("Rest."))
    assert planner.speak_all([SENTENCE, "Rest."]) == {SENTENCE: len(good), "Rest.": rest}
    assert (planner.misses, planner.hits) == (2, 0)
    again = CachedVoice(CountingVoice(), tmp_path)
    assert again.speak_all(["Rest.", SENTENCE]) == {SENTENCE: len(good), "Rest.": rest}
    assert (again.misses, again.hits, again.inner.calls) == (0, 2, 0)


def test_an_unwritable_cache_dir_says_how_to_choose_another(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    voice = CachedVoice(FakeVoice(), blocker / "speech")
    with pytest.raises(VoiceError) as e:
        voice.synthesize("Hello.")
    message = str(e.value)
    assert str(blocker / "speech") in message
    assert CACHE_ENV in message and "--cache-dir" in message and "\n" not in message


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "clips"))
    assert default_cache_dir() == tmp_path / "clips"
    monkeypatch.delenv(CACHE_ENV)
    path = default_cache_dir()
    assert path.name == "speech" and "audioguide" in path.parts


def test_open_voice_specs(tmp_path: Path) -> None:
    voice = open_voice("fake", rate=120, cache_dir=tmp_path)
    assert isinstance(voice, CachedVoice) and voice.key == "fake:default:120"
    assert isinstance(open_voice("fake:default", cache=False), FakeVoice)
    system = open_voice("system:en-us", rate=180, cache=False)
    assert isinstance(system, SystemVoice)
    assert (system.name, system.rate, system.worker_pid) == ("en-us", 180, None)  # lazy start
    with pytest.raises(VoiceError, match=r"Unknown voice engine 'espeak': use one of system, fake"):
        open_voice("espeak")
    with pytest.raises(VoiceError, match="one voice, 'default'"):
        open_voice("fake:bob")
    with pytest.raises(VoiceError, match="from 60 to 400, got 1000"):
        open_voice("fake", rate=1000)


# --- clip handling ------------------------------------------------------------------------------


def test_split_text_keeps_sentences_and_words_whole() -> None:
    sentence = "Breathe in slowly and let your shoulders soften. "
    text = sentence * 300  # 14,700 characters
    chunks = split_text(text, limit=4000)
    assert len(chunks) == 4
    assert all(len(c) <= 4000 for c in chunks)
    assert all(c.endswith("soften.") for c in chunks)
    assert " ".join(chunks).split() == text.split()
    run_on = "and " * 3000  # no sentence end at all: split between words
    assert all(len(c) <= 4000 and not c.startswith(" ") for c in split_text(run_on))
    assert " ".join(split_text(run_on)).split() == run_on.split()
    assert split_text("x" * 9000, limit=4000) == ["x" * 4000, "x" * 4000, "x" * 1000]
    assert split_text("  Short one.  ") == ["Short one."]


def test_trim_silence_keeps_ten_ms_around_the_speech() -> None:
    rate = 22_050
    tone = 0.3 * np.sin(np.linspace(0, 2 * np.pi * 200, rate)).astype(np.float32)
    tone[:10] = tone[-10:] = 0.2
    clip = np.concatenate([np.zeros(rate // 2), tone, np.zeros(rate // 2)]).astype(np.float32)
    trimmed = trim_silence(clip, rate)
    assert len(trimmed) == rate + 2 * int(0.010 * rate)
    assert len(trim_silence(np.zeros(rate, dtype=np.float32), rate)) == 0


def test_check_clip_refuses_silent_and_truncated_clips() -> None:
    rate = 22_050
    speech = (0.1 * np.sin(np.arange(3 * rate) * 0.1)).astype(np.float32)
    check_clip(speech, rate, SENTENCE, 150)  # 3 s for 9 words at 150 wpm: fine
    with pytest.raises(VoiceError) as e:
        check_clip(np.zeros(3 * rate, dtype=np.float32), rate, SENTENCE * 3, 150)
    assert "silent clip for 'Lie on your back, knees bent, feet hip-…'" in str(e.value)
    assert "choose another voice; `audioguide voices` lists them" in str(e.value)
    with pytest.raises(VoiceError, match=r"gave 0\.50 s of speech .* expected about 3\.6 s"):
        check_clip(speech[: rate // 2], rate, SENTENCE, 150)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_pyttsx3_or_espeak_says_what_to_install() -> None:
    # In a child process: this one must never load the engine.
    result = _run_python("""
        import ctypes, sys
        from audioguide.voices.system_worker import _open_pyttsx3
        from audioguide.errors import VoiceError
        sys.modules["pyttsx3"] = None
        try:
            _open_pyttsx3()
        except VoiceError as e:
            print(e)
        del sys.modules["pyttsx3"]
        def no_library(name):
            raise OSError(f"{name}: cannot open shared object file")
        ctypes.cdll.LoadLibrary = no_library
        try:
            _open_pyttsx3()
        except VoiceError as e:
            print(e)
    """)
    assert result.stdout.splitlines() == [
        "The system voice needs the pyttsx3 package: pip install pyttsx3",
        "The system voice needs espeak-ng: sudo apt-get install espeak-ng libespeak-ng1",
    ], result.stderr


# --- SystemVoice (the real engine) --------------------------------------------------------------


@pytest.fixture(scope="module")
def system_voice() -> Iterator[SystemVoice]:
    voice = SystemVoice()
    yield voice
    voice.close()


@pytest.mark.integration
def test_system_voice_speaks_a_sentence(system_voice: SystemVoice) -> None:
    clip = system_voice.synthesize(SENTENCE)
    assert clip.dtype == np.float32 and clip.ndim == 1
    duration_s = len(clip) / SAMPLE_RATE
    assert 2.5 <= duration_s <= 6.0  # 9 words at 150 wpm is 3.6 s
    assert rms(clip) > 0.03
    lead_s, trail_s = edge_silence_s(clip)
    assert lead_s < 0.03 and trail_s < 0.03  # espeak's 0.39 s end pause is gone
    assert np.max(np.abs(clip)) <= 1.0
    # The key names the engine: espeak-ng's command line (Linux) or pyttsx3 ("system").
    assert system_voice.key.partition(":")[2] == "gmw/en:150"


@pytest.mark.integration
def test_many_texts_in_one_worker_come_back_different_and_whole(system_voice: SystemVoice) -> None:
    texts = [
        "Hi.",
        "Breathe in.",
        SENTENCE,
        "Slowly lower your leg back to the floor, and rest for a moment before the next one.",
    ]
    pid = None
    durations: dict[str, list[float]] = {t: [] for t in texts}
    for _ in range(4):  # interleaved, so each utterance follows a different one
        for text in texts:
            clip = system_voice.synthesize(text)
            pid = pid or system_voice.worker_pid
            assert system_voice.worker_pid == pid
            durations[text].append(len(clip) / SAMPLE_RATE)
    firsts = [d[0] for d in durations.values()]
    assert firsts == sorted(firsts) and firsts[0] > 0.2
    for text, ds in durations.items():
        words = len(text.split())
        assert 0.5 * words * 0.4 <= ds[0] <= 2.0 * words * 0.4 + 0.5, (text, ds)
        assert max(ds) - min(ds) <= 0.02 * max(ds), (text, ds)  # none cut short


@pytest.mark.integration
@pytest.mark.parametrize("name", [None, "en-us+f3"])
def test_the_rate_is_words_per_minute(name: str | None) -> None:
    # The variant is checked at the default rate first, so every clip here follows a rate change.
    slow, fast = SystemVoice(name, rate=100), SystemVoice(name, rate=200)
    try:
        for _ in range(3):
            slow_n, fast_n = len(slow.synthesize(SENTENCE)), len(fast.synthesize(SENTENCE))
            assert 1.8 <= slow_n / fast_n <= 2.3, (slow_n, fast_n)
        assert slow.key.endswith(":100") and fast.key.endswith(":200")
    finally:
        slow.close()
        fast.close()


@pytest.mark.integration
def test_the_engine_applies_every_rate_change() -> None:
    # The engine itself, alternating rates: a rate change still queued in espeak when the next
    # utterance starts was cancelled with it (measured: 7 of 20 clips at the old rate).
    result = _run_python(f"""
        import tempfile
        from pathlib import Path
        from audioguide.voices.system_worker import _Engine
        with tempfile.TemporaryDirectory() as tmp:
            engine = _Engine(Path(tmp))
            for i in range(20):
                _, _, pcm = engine.handle(("speak", "gmw/en", 100 if i % 2 else 200, {SENTENCE!r}))
                print(len(pcm) // 2)
    """)
    lengths = [int(n) for n in result.stdout.split() if n.isdigit()]  # pyttsx3 prints too
    assert len(lengths) == 20, result.stderr
    fast, slow = lengths[0::2], lengths[1::2]
    assert max(fast) * 1.8 < min(slow), lengths


@pytest.mark.integration
def test_nothing_reaches_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    voice = SystemVoice()  # started inside the test, so capfd owns the worker's stdout
    try:
        voice.synthesize("Stop at once if anything hurts.")
    finally:
        voice.close()
    assert capfd.readouterr().out == ""


@pytest.mark.integration
def test_a_long_text_is_spoken_in_chunks(system_voice: SystemVoice) -> None:
    text = "Breathe in slowly and let your shoulders soften. " * 286  # 14,014 characters
    assert len(text) > 14_000
    started = time.perf_counter()
    clip = system_voice.synthesize(text)
    elapsed = time.perf_counter() - started
    minutes = len(clip) / SAMPLE_RATE / 60
    assert 0.8 <= minutes / (len(text.split()) / DEFAULT_RATE) <= 1.6
    assert elapsed < 180  # measured 2.4 s idle; one voice call per word would take far longer
    # No chunk came back silent: every 30 s stretch holds speech.
    stretch = 30 * SAMPLE_RATE
    assert min(rms(clip[i : i + stretch]) for i in range(0, len(clip) - stretch, stretch)) > 0.03


@pytest.mark.integration
def test_voices_are_listed_and_found_by_id_name_or_language() -> None:
    voices = list_system_voices()
    assert len(voices) > 10 and all(isinstance(v, VoiceInfo) and v.id for v in voices)
    assert len({v.id for v in voices}) == len(voices)
    ids = {v.id for v in voices}
    assert "gmw/en-us" in ids
    for spelling in ("gmw/en-us", "en-us", "EN-US", "English (America)"):
        voice = SystemVoice(spelling)
        try:
            assert voice.key.partition(":")[2] == "gmw/en-us:150", spelling
        finally:
            voice.close()
    british = SystemVoice("en-gb")  # a language code, not an id espeak accepts by name
    variant = SystemVoice("en-us+f3")
    try:
        assert british.voice_id == "gmw/en"
        assert variant.key.partition(":")[2] == "gmw/en-us+f3:150"
        assert rms(variant.synthesize("Hello.")) > 0.03
    finally:
        british.close()
        variant.close()


@pytest.mark.integration
def test_an_unknown_voice_name_points_at_the_voice_list(tmp_path: Path) -> None:
    voice = open_voice("system:no-such-voice", cache_dir=tmp_path)
    try:
        with pytest.raises(VoiceError) as e:
            voice.synthesize("Hello.")
    finally:
        voice.close()
    assert str(e.value).startswith("Unknown system voice 'no-such-voice'")
    assert "`audioguide voices`" in str(e.value)
    bad_variant = SystemVoice("en-us+nosuchvariant")
    try:
        with pytest.raises(VoiceError, match="Unknown voice variant"):
            _ = bad_variant.key
    finally:
        bad_variant.close()


@pytest.mark.integration
def test_cached_system_voice_asks_the_engine_once(tmp_path: Path) -> None:
    voice = open_voice("system", cache_dir=tmp_path)
    try:
        first = voice.synthesize(SENTENCE)  # the compile stage
        second = voice.synthesize(SENTENCE)  # the render stage
    finally:
        voice.close()
    # The counts, not a stopwatch, say the engine was asked once: a busy machine can take any
    # time to read a clip from disk.
    assert isinstance(voice, CachedVoice) and (voice.misses, voice.hits) == (1, 1)
    assert second.tobytes() == first.tobytes()


@pytest.mark.integration
def test_a_cold_cache_is_filled_by_two_engines_that_speak_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"Hold the stretch for {n} slow breaths." for n in range(1, 13)]
    twins: list[SystemVoice] = []
    by_twin: list[str] = []

    def twin(voice: Voice) -> Voice | None:
        made = real_twin(voice)
        assert isinstance(made, SystemVoice)
        speak = made.synthesize

        def synthesize(text: str) -> Samples:
            by_twin.append(text)
            return speak(text)

        made.synthesize = synthesize  # type: ignore[method-assign]
        twins.append(made)
        return made

    real_twin = cache._twin
    monkeypatch.setattr(cache, "_twin", twin)
    both = open_voice("system", cache_dir=tmp_path / "both")
    progress: list[tuple[int, int]] = []
    try:
        assert isinstance(both, CachedVoice)
        lengths = both.speak_all(texts, lambda done, total: progress.append((done, total)))
        assert (both.misses, both.hits) == (len(texts), 0)
        assert [done for done, _ in progress] == list(range(1, len(texts) + 1))
        assert 0 < len(by_twin) < len(texts)  # the two shared the work
        assert twins[0].worker_pid is None  # and the second engine is stopped
        assert twins[0].key == both.key  # the same voice id and rate
        one = open_voice("system", cache_dir=tmp_path / "one")
        try:
            for text in texts:  # one engine, one line at a time
                # espeak-ng itself varies by a few ms from one utterance of a line to the next.
                alone, shared = one.synthesize(text), both.synthesize(text)
                assert len(shared) == lengths[text]
                assert abs(len(alone) - len(shared)) < to_samples(0.01), text
        finally:
            one.close()
        assert (both.misses, both.hits) == (len(texts), len(texts))  # then from the cache
    finally:
        both.close()


@pytest.mark.integration
def test_a_warm_build_never_starts_the_engine(tmp_path: Path) -> None:
    first = open_voice("system", cache_dir=tmp_path)
    try:
        first.synthesize(SENTENCE)
        languages = voice_languages(first)
    finally:
        first.close()
    again = open_voice("system", cache_dir=tmp_path)
    try:
        # The id and languages come from what the same engine answered before: no worker. The
        # languages first, as a build asks them (it once asked the engine again for them).
        assert voice_languages(again) == languages and again.key == first.key
        assert np.array_equal(again.synthesize(SENTENCE), first.synthesize(SENTENCE))
        inner = again.inner if isinstance(again, CachedVoice) else again
        assert isinstance(inner, SystemVoice) and inner.worker_pid is None
    finally:
        again.close()


@pytest.mark.integration
def test_a_crashed_worker_is_an_error_and_the_next_call_starts_afresh() -> None:
    voice = SystemVoice(engine="pyttsx3")
    try:
        _ = voice.key  # worker up
        pid = voice.worker_pid
        assert pid is not None
        # A 4,000-character chunk takes 0.3-1 s; the worker dies in the middle of it.
        killer = threading.Timer(0.1, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(
            VoiceError,
            match=r"stopped unexpectedly \(exit code -9\) while "
            r"speaking 'Breathe in",
        ):
            voice.synthesize("Breathe in slowly and let your shoulders soften. " * 160)
        killer.join()
        assert rms(voice.synthesize("Hello.")) > 0.03
        assert voice.worker_pid not in (None, pid)
    finally:
        voice.close()


@pytest.mark.integration
def test_a_hung_worker_times_out_and_the_next_call_starts_afresh() -> None:
    voice = SystemVoice(timeout_s=0.05, engine="pyttsx3")
    try:
        _ = voice.key
        pid = voice.worker_pid
        with pytest.raises(VoiceError, match=r"took over 0\.05 s speaking 'Breathe in"):
            voice.synthesize("Breathe in slowly and let your shoulders soften. " * 160)
        voice.timeout_s = 60.0
        assert rms(voice.synthesize("Hello.")) > 0.03
        assert voice.worker_pid not in (None, pid)
    finally:
        voice.close()


@pytest.mark.integration
def test_the_worker_stops_on_close_and_at_exit_and_the_parent_never_loads_the_engine(
    tmp_path: Path,
) -> None:
    voice = SystemVoice(engine="pyttsx3")
    voice.synthesize("Hello.")
    pid = voice.worker_pid
    voice.close()
    assert voice.worker_pid is None and pid is not None and not _running(pid)
    # A script without an `if __name__ == "__main__":` guard, that never calls close().
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        from audioguide.voices.system import SystemVoice
        voice = SystemVoice(engine="pyttsx3")
        print(len(voice.synthesize("Hello.")) > 0, voice.worker_pid, "pyttsx3" in sys.modules)
    """)
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    spoke, worker, loaded = result.stdout.split()
    assert (spoke, loaded) == ("True", "False")
    assert not _running(int(worker))
    assert result.stderr == ""


def _running(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


# --- espeak-ng's command line (the system voice on Linux) ---------------------------------------

SPEAK_IN_A_FRESH_PROCESS = """
import hashlib, sys
from audioguide.voices.system import SystemVoice
for name, rate in ((None, 150), ("en-us+f3", 120)):
    voice = SystemVoice(name, rate)
    assert voice.engine == "espeak-ng", voice.engine
    for text in sys.argv[1:]:
        print(voice.key, hashlib.sha256(voice.synthesize(text).tobytes()).hexdigest())
"""


@pytest.mark.integration
def test_the_same_line_gives_the_same_samples_in_any_process() -> None:
    # Another order in each process: a line is spoken alike whatever was spoken before it
    # (pyttsx3's worker gave clips up to 500 samples apart).
    lines = ["Breathe in.", SENTENCE, "-5 seconds: relax your jaw."]
    runs = [
        subprocess.run(
            [sys.executable, "-c", SPEAK_IN_A_FRESH_PROCESS, *order],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.splitlines()
        for order in (lines, lines[::-1])
    ]
    assert len(runs[0]) == 6 and len(set(runs[0])) == 6
    assert sorted(runs[0]) == sorted(runs[1])


@pytest.mark.integration
def test_the_speaker_says_every_bundled_line_as_the_command_does() -> None:
    # libespeak-ng in one process, forked for each line, against a fresh espeak-ng command per
    # line: the same samples to the bit (spoken by the library without the fork, 383 of 384
    # lines differed), for every line of every bundled routine at gmw/en 150, every ninth at
    # en-us+f3 120, and German at 140.
    from audioguide.language.library import bundled_routines
    from audioguide.voices.espeak import EspeakCommand, espeak_program
    from recogniser import cue_texts

    program = espeak_program()
    assert program is not None
    lines = list(dict.fromkeys(t for name in bundled_routines() for t in cue_texts(name)))
    assert len(lines) > 250
    espeak = EspeakCommand(program)
    try:
        german = ["Atme langsam ein und lass die Schultern sinken.", "Halte fünf Sekunden."]
        for voice_id, rate, texts in (
            ("gmw/en", 150, [*lines, "[[h@'loU]] wIth phonemes", "-5 seconds"]),
            ("gmw/en-us+f3", 120, lines[::9]),
            ("gmw/de", 140, german),
        ):
            for text in texts:
                rate_hz, ours = espeak.speak(voice_id, rate, text, 60.0)
                assert espeak.pid is not None  # spoken by the speaker, not the command
                theirs = espeak._speak_command(voice_id, rate, text, 60.0)
                assert (rate_hz, ours.tobytes()) == (theirs[0], theirs[1].tobytes()), text
    finally:
        espeak.close()
    assert espeak.pid is None


@pytest.mark.integration
def test_espeak_is_given_whole_sentences_of_at_most_999_bytes() -> None:
    # espeak-ng reads 999 bytes at a time and speaks each piece alone: given more, it cut a word
    # in two where the bytes ended (a Greek letter is two bytes, a Chinese one three).
    voice = SystemVoice("el", engine="espeak-ng")
    given: list[str] = []
    speak = voice._speak_chunk

    def recorded(text: str) -> tuple[int, Samples]:
        given.append(text)
        return speak(text)

    voice._speak_chunk = recorded  # type: ignore[method-assign]
    sentence = "Αναπνεύστε αργά και αφήστε τους ώμους να χαλαρώσουν. "  # noqa: RUF001 (Greek)
    try:
        voice.synthesize(sentence * 30)
    finally:
        voice.close()
    assert len(given) > 1 and "".join(f"{g} " for g in given) == sentence * 30
    assert all(len(g.encode()) <= 999 and g.endswith(".") for g in given)


@pytest.mark.integration
def test_without_libespeak_ng_the_command_speaks(monkeypatch: pytest.MonkeyPatch) -> None:
    from audioguide.voices import espeak

    by_library = SystemVoice(engine="espeak-ng")
    spoken = by_library.synthesize(SENTENCE)
    by_library.close()
    monkeypatch.setattr(espeak, "SPEAKER", Path("/nonexistent/espeak_speaker.py"))
    voice = SystemVoice(engine="espeak-ng")
    try:
        assert voice.synthesize(SENTENCE).tobytes() == spoken.tobytes()
        assert voice._espeak is not None and voice._espeak._library is False
    finally:
        voice.close()


@pytest.mark.integration
def test_espeak_lists_the_voices_pyttsx3_lists() -> None:
    by_command = SystemVoice(engine="espeak-ng")
    by_pyttsx3 = SystemVoice(engine="pyttsx3")
    try:
        ours = {(v.id, v.name.replace("_", " "), v.languages) for v in by_command.voices()}
        theirs = {(v.id, v.name.replace("_", " "), v.languages) for v in by_pyttsx3.voices()}
        assert ours == theirs and len(ours) > 10
        for name in (None, "en-us", "English_(America)", "es-MX", "en-us+f3"):
            assert (
                SystemVoice(name, engine="espeak-ng").voice_id
                == SystemVoice(name, engine="pyttsx3").voice_id
            ), name
    finally:
        by_pyttsx3.close()


@pytest.mark.integration
def test_a_killed_espeak_is_an_error_and_the_next_line_is_spoken() -> None:
    voice = SystemVoice(engine="espeak-ng")
    killed: list[int] = []

    def kill_the_engine() -> None:
        deadline = time.monotonic() + 30
        while (pid := voice.worker_pid) is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_the_engine)
    killer.start()
    with pytest.raises(VoiceError, match=r"stopped unexpectedly \(exit code -9\) while speaking"):
        voice.synthesize("Breathe in slowly and let your shoulders soften. " * 160)
    killer.join()
    assert killed and not _running(killed[0])
    assert rms(voice.synthesize("Hello.")) > 0.03


@pytest.mark.integration
def test_a_slow_espeak_is_stopped_at_the_timeout() -> None:
    # 1 ms: a chunk is 333 characters at most, which the speaker says in about 30 ms here (a
    # fork and 800 KB of samples), so a faster machine still cannot answer in time.
    voice = SystemVoice(timeout_s=0.001, engine="espeak-ng")
    with pytest.raises(VoiceError, match=r"took over 0\.001 s speaking 'Breathe in"):
        voice.synthesize("Breathe in slowly and let your shoulders soften. " * 160)
    assert voice.worker_pid is None
    voice.timeout_s = 60.0
    assert rms(voice.synthesize("Hello.")) > 0.03
