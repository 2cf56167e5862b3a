"""Every bundled routine plans to the same cues and length as it did before the grammar was
rebuilt (the snapshots were taken with the fake voice before that change): a refactor of the
loader or compiler must not move a single cue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.language.library import bundled_routines

SNAPSHOTS = Path(__file__).parent / "snapshots"
CASES = [(name, []) for name in bundled_routines()] + [("psoas-relax", ["--length", "7m"])]


@pytest.mark.parametrize(("name", "extra"), CASES, ids=lambda c: c if isinstance(c, str) else "")
def test_bundled_routine_plans_as_before(runner: CliRunner, name: str, extra: list[str]) -> None:
    result = runner.invoke(cli, ["plan", name, "--voice", "fake", "--json", *extra])
    assert result.exit_code == 0, result.output
    suffix = "-" + extra[1] if extra else ""
    before = json.loads((SNAPSHOTS / f"{name}{suffix}.json").read_text(encoding="utf-8"))
    assert json.loads(result.stdout) == before
