"""The house's floor plan, held by reading the source: each wing imports only the floors under it
(and its own rooms), nothing imports the command line, each wing says in two lines what it owns,
and no module, function or signature grows past what a reader takes in at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

PACKAGE: Final = Path(__file__).resolve().parent.parent / "src" / "audioguide"
GROUND: Final = (
    "errors",
    "text",
    "model",
    "cues",
    "audio",
    "files",
    "options",
    "strings",
    "paths",
    "tools",
)
FLOORS: Final = {
    **dict.fromkeys(GROUND, 0),
    "language": 1,
    "voices": 1,
    "sound": 2,
    "timing": 3,
    "publish": 4,
    "session": 5,
    "clients": 6,
    "serve": 7,
    "cli": 8,
}
"""How high each wing stands: a wing imports only wings on lower floors, and its own rooms. The
ground floor's rooms may import each other; language and voices, both on floor 1, may not."""
MAX_MODULE_LINES: Final = 500
MAX_FUNCTION_LINES: Final = 60
MAX_PARAMETERS: Final = 8


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _wing(module: str) -> str:
    top = module.split(".")[0]
    return "ground" if top in GROUND else top


def _floor(module: str) -> int:
    return FLOORS[module.split(".")[0]]


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module of ours) for every import in the file, lazy ones inside functions too."""
    module = _name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                names = (
                    [target]
                    if node.module
                    else [f"{target}.{a.name}".strip(".") for a in node.names]
                )
                yield from ((node.lineno, n) for n in names if n)
            elif node.module and node.module.startswith("audioguide."):
                yield node.lineno, node.module.removeprefix("audioguide.")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("audioguide."):
                    yield node.lineno, alias.name.removeprefix("audioguide.")


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_a_wing_imports_only_the_floors_under_it(path: Path) -> None:
    module = _name(path)
    wrong = []
    for line, target in _imports(path):
        if target in ("", "__init__") or target.split(".")[0] not in FLOORS:
            continue  # the package's own version, or a name in it
        same_wing = _wing(target) == _wing(module)
        if not same_wing and _floor(target) >= _floor(module):
            wrong.append(f"{path.name}:{line} imports {target}")
    assert not wrong, f"{module} (floor {_floor(module)}) reaches up or across: {wrong}"


def test_nothing_imports_the_command_line() -> None:
    users = [
        f"{_name(p)}:{line}"
        for p in _modules()
        if not _name(p).startswith("cli")
        for line, target in _imports(p)
        if target.split(".")[0] == "cli"
    ]
    assert not users


def test_every_module_lives_on_a_known_floor() -> None:
    assert {_name(p).split(".")[0] for p in _modules()} <= set(FLOORS)


@pytest.mark.parametrize("wing", sorted(w for w in FLOORS if (PACKAGE / w).is_dir()))
def test_each_wing_says_in_two_lines_what_it_owns(wing: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text())) or ""
    assert len(doc.strip().splitlines()) == 2, doc


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_modules_functions_and_signatures_stay_readable(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    too_big = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        a = node.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, [a.vararg, a.kwarg])]
        if params and params[0].arg in ("self", "cls"):
            params = params[1:]
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if lines > MAX_FUNCTION_LINES:
            too_big.append(f"{node.name}: {lines} lines")
        # A click command's parameters are its options, each declared by a decorator.
        if len(params) > MAX_PARAMETERS and not _is_command(node):
            too_big.append(f"{node.name}: {len(params)} parameters")
    assert not too_big


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any("command" in ast.unparse(d) for d in node.decorator_list)
