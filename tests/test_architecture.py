"""The shape of the package, checked: no import circles, data and models never import upward, small files.

Every ``import``/``from ... import`` of an ``emotune`` module counts, also the lazy ones inside
functions (they are dependencies all the same). See docs/ARCHITECTURE.md for the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "emotune"
MAX_LINES = 600
# Lower layers never import these (docs/ARCHITECTURE.md: folders follow the data's path).
UPPER = {"training", "evaluation", "reports", "experiments", "inference", "export", "serving", "cli"}
LOWER = {"data", "models"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The emotune modules ``path`` imports (``from pkg import mod`` resolves to ``pkg.mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            if not name.startswith("emotune"):
                continue
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != "emotune":
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def subpackage(module: str) -> str:
    """``emotune.data.files`` -> ``data``; top-level modules (``emotune.config``) -> ``emotune``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (SRC / parts[-1]).is_dir() else "emotune"


def test_no_import_circle_between_modules():
    edges = {m: {d for d in deps if not SRC.joinpath(*d.split(".")[1:]).is_dir()} for m, deps in graph().items()}
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_no_import_circle_between_subpackages():
    edges: dict[str, set[str]] = {}
    for mod, deps in graph().items():
        edges.setdefault(subpackage(mod), set()).update(subpackage(d) for d in deps)
    for node, deps in edges.items():
        deps.discard(node)
        deps.discard("emotune")  # top-level modules (errors, paths, config, ...) are the foundation
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_top_level_modules_import_no_upper_layer():
    for mod, deps in graph().items():
        if subpackage(mod) == "emotune" and mod not in ("emotune", "emotune.__main__", "emotune.api"):
            upward = {d for d in deps if subpackage(d) in UPPER}
            assert not upward, f"{mod} imports {sorted(upward)}"


@pytest.mark.parametrize("lower", sorted(LOWER))
def test_lower_layers_never_import_upward(lower):
    for mod, deps in graph().items():
        if subpackage(mod) == lower:
            upward = sorted(d for d in deps if subpackage(d) in UPPER)
            assert not upward, f"{mod} imports {upward}"


def test_no_source_file_over_the_limit():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
