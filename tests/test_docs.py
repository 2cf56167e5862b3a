"""The docs describe what the code does today."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from audioguide.cli import cli
from audioguide.language.grammar import KINDS, all_keys
from audioguide.language.load import parse_routine
from audioguide.timing.compile import compile_timeline
from audioguide.voices.fake import FakeVoice

ROOT = Path(__file__).parent.parent
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
ROUTINE_DOC = (ROOT / "docs" / "routines.md").read_text(encoding="utf-8")
SOUND_DOC = (ROOT / "docs" / "sound.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_and_option_is_documented(name: str) -> None:
    assert f"## audioguide {name}" in CLI_DOC
    section = CLI_DOC.split(f"## audioguide {name}", 1)[1].split("\n## ", 1)[0]
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            assert any(opt in section for opt in param.opts), f"{name} {param.opts}"


def test_every_routine_key_is_documented() -> None:
    for key in sorted(all_keys()):
        assert re.search(rf"\b{key}:", ROUTINE_DOC), key


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_step_kind_has_a_section_listing_its_keys(kind: str) -> None:
    assert f"\n### {kind}\n" in ROUTINE_DOC, kind
    section = ROUTINE_DOC.split(f"\n### {kind}\n", 1)[1].split("\n### ", 1)[0]
    for key in KINDS[kind].keys:
        assert f"`{key.name}`" in section, (kind, key.name)


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize(
    "block",
    _yaml_blocks(README)
    + [b for doc in (ROUTINE_DOC, SOUND_DOC) for b in _yaml_blocks(doc) if b.startswith("title:")],
)
def test_documented_routines_compile(block: str) -> None:
    compile_timeline(parse_routine(block, base_dir=ROOT), FakeVoice())


MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)]
    broken = [
        target
        for target in targets
        if target and not re.match(r"https?://|mailto:", target)
        if not (doc.parent / target).exists()
    ]
    assert not broken, broken
