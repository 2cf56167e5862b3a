"""The command examples in README.md and docs/ run as written and print what they show.

A fenced block after `<!-- doc-test -->` holds `$ audioguide ...` lines, each followed by what it
prints; `<!-- doc-test: COMMAND -->` runs COMMAND first (an earlier step the text describes), and
`<!-- doc-test file: NAME -->` makes the block the file NAME that the examples use (a routine, a
clients file). Each example runs in a folder of its own holding every such file, with the fake
voice where the command takes one: its lengths and counts differ from a real voice's, so numbers
are compared as numbers of any value (and a feed's random token as any token), while every word,
name, file and line must be as shown. `...` stands for any lines.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click
import pytest
from click.testing import CliRunner

from audioguide.cli import cli

ROOT: Final = Path(__file__).parent.parent
DOCS: Final = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
MARK: Final = re.compile(r"<!-- doc-test(?:: (?P<setup>.+?))?(?: file: (?P<file>\S+))? -->")
FEED_TOKEN: Final = re.compile(r"(?<=/)[A-Za-z0-9_-]{22}(?=/)")


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    setup: str | None
    file: str | None
    lines: tuple[str, ...]


def _blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            mark = MARK.fullmatch(line.strip())
            if not mark:
                continue
            start = i + 1
            assert lines[start].startswith("```"), f"{doc.name}:{i + 1}: a mark needs a block"
            end = next(j for j in range(start + 1, len(lines)) if lines[j].startswith("```"))
            found.append(
                Block(
                    doc.name,
                    i + 1,
                    mark["setup"],
                    mark["file"],
                    tuple(lines[start + 1 : end]),
                )
            )
    return found


BLOCKS: Final = _blocks()
FILES: Final = {b.file: b.lines for b in BLOCKS if b.file}
EXAMPLES: Final = [b for b in BLOCKS if not b.file]


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    assert Path(argv[0]).name == "audioguide", command
    args = argv[1:]
    chosen = cli.commands[args[0]]
    takes_voice = any(isinstance(p, click.Option) and "--voice" in p.opts for p in chosen.params)
    return [*args, "--voice", "fake"] if takes_voice and "--voice" not in args else args


def _norm(line: str) -> str:
    line = FEED_TOKEN.sub("TOKEN", line)
    # A length marked ~ (estimated, as nothing was spoken yet) is a number like any other: it
    # depends on what this machine's speech cache holds, not on what the command does.
    return " ".join(re.sub(r"~?\d+", "#", line).split())


def _in_order(lines: list[str]) -> list[str]:
    """Runs of `Built ...` lines sorted: a pool of workers finishes tracks in any order."""
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("Built "):
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    return out[:-1]


def _matches(expected: list[str], printed: str) -> bool:
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line.strip() == "..." else re.escape(line) + r"\n"
        for line in _in_order([_norm(x) for x in expected])
    )
    text = "".join(f"{line}\n" for line in _in_order([_norm(x) for x in printed.splitlines()]))
    return re.fullmatch(pattern, text) is not None


def _run(runner: CliRunner, command: str) -> str:
    result = runner.invoke(cli, _argv(command), catch_exceptions=False)
    assert result.exit_code == 0, f"$ {command}\n{result.output}"
    return result.output


def test_the_docs_mark_examples_to_run() -> None:
    assert {"knee.yaml", "clients.csv", "knee-program.yaml"} <= set(FILES)
    assert len(EXAMPLES) >= 8


@pytest.mark.integration
@pytest.mark.parametrize("block", EXAMPLES, ids=[f"{b.doc}:{b.line}" for b in EXAMPLES])
def test_a_documented_example_does_what_the_text_says(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, lines in FILES.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    if block.setup:
        _run(runner, block.setup)
    commands = [i for i, line in enumerate(block.lines) if line.startswith("$ ")]
    assert commands, f"{block.doc}:{block.line}: no $ line"
    for i, at in enumerate(commands):
        command = block.lines[at].removeprefix("$ ")
        shown = list(block.lines[at + 1 : commands[i + 1] if i + 1 < len(commands) else None])
        printed = _run(runner, command)
        assert _matches(shown, printed), (
            f"{block.doc}:{block.line}: $ {command}\nshown:\n"
            + "\n".join(shown)
            + f"\nprinted:\n{printed}"
        )
