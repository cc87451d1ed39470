"""The package keeps its shape: imports point one way, and pyx/ knows nothing of the Python layer.

Top-level imports between ringcap's modules must form no cycle (lazy
imports inside functions are the way out, and only where an optional
dependency demands it).  The kernel-facing Cython in pyx/ imports no
ringcap Python module.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ringcap"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _top_level_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    deps: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & set(modules)
            if subs:
                deps |= subs
            elif node.module is not None and target in modules:
                deps.add(target)
        elif isinstance(node, ast.Import):
            deps |= {a.name for a in node.names} & set(modules)
    return deps - {name}


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _top_level_imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_pyx_does_not_import_the_python_layer():
    for path in (ROOT / "pyx").rglob("*.p*"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+ringcap\b", text, re.M), path
