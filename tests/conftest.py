from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.voices.fake import FakeVoice


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One speech cache per test session: never the user's, and shared so clips are made once.
    monkeypatch.setenv("AUDIOGUIDE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "speech"))
    # Nor the user's lexicon (~/.config/audioguide/lexicon.yaml): a test names its own.
    monkeypatch.delenv("AUDIOGUIDE_LEXICON", raising=False)
    monkeypatch.setattr(
        "audioguide.voices.lexicon.user_config", lambda: tmp_path_factory.getbasetemp() / "config"
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def fake_voice() -> FakeVoice:
    return FakeVoice()


WriteRoutine = Callable[[str], Path]


@pytest.fixture
def write_routine(tmp_path: Path) -> WriteRoutine:
    """Write a routine's YAML (dedented) to tmp_path/routine.yaml and return its path."""

    def write(text: str, name: str = "routine.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
