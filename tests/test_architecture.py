"""The layering holds: no import cycles between the project's modules, and no module grows past ~500 lines.

Every ``import`` and ``from ... import`` in ``oracle`` and ``conformance`` counts, module-level or inside a
function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("oracle", "conformance")
LARGE_OK = {"conformance/targets"}  # the bundled targets implement every name in one file each


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([mod] if mod else []))
            targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
        for t in targets:
            while t and t not in known:  # the longest known prefix: a submodule, else its package
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {n: _imports(n, p, known) for n, p in mods.items()}
    # importing a.b.c runs a and a.b first: a package's own __init__ is not an edge back to its children
    return {n: {d for d in deps if not n.startswith(d + ".")} for n, deps in graph.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycles():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_oracle_never_imports_the_suite_or_tensorflow():
    mods = _modules()
    for name, deps in _graph().items():
        if name.startswith("oracle"):
            assert not any(d.startswith("conformance") for d in deps), name
            tree = ast.parse(mods[name].read_text())
            imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not any(m.split(".")[0] == "tensorflow" for m in imported), name


@pytest.mark.parametrize("path", sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_small(path: Path):
    rel = str(path.relative_to(ROOT))
    if any(rel.startswith(x) for x in LARGE_OK):
        pytest.skip("a bundled target implements the whole catalogue in one file")
    n = len(path.read_text().splitlines())
    assert n <= 520, f"{rel} has {n} lines: split it by what it holds"


def test_contract_page_is_generated_from_the_records():
    from conformance.reporting.contracts_page import render

    page = (ROOT / "docs" / "contracts.md").read_text()
    assert page == render(), "docs/contracts.md is stale: python -m conformance contracts > docs/contracts.md"
    from conformance.contracts import REGISTRY

    for name, c in REGISTRY.items():
        assert f"`{c.signature()}`" in page, name
