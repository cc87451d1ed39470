"""The package keeps its shape: imports point one way, and pyx/ knows nothing of the Python layer.

Every import between ringcap's modules counts, the ones inside functions too:
together they must form no cycle.  Importing ``a.b.c`` from outside ``a.b``
runs ``a/b/__init__.py`` as well, so it counts as importing ``a.b`` too, and
``from . import name`` counts as importing the package.  Imports under
``if TYPE_CHECKING:`` never run and do not count.

An import inside a function (a lazy import) is allowed only for an optional
third-party package (an extra in pyproject.toml other than ``test``), for
one of the ringcap modules in ``LAZY_ALLOWED``, each of which imports such a
package, or for what ``LAZY_FOR_STARTUP`` names: numpy and the modules that
need it, which ``ringcap -w`` (records straight from the ring) never loads.
Everything else is imported at the top of the module.  The
kernel-facing Cython in pyx/ imports no ringcap Python module.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ringcap"

# ringcap modules that may be imported inside a function, and the optional
# packages that make them so (each must import one of these itself).
LAZY_ALLOWED = {
    "ringcap.export": ("pyarrow", "pandas"),
    "ringcap.plots": ("matplotlib", "plotly"),
    "ringcap.sinks.parquet": ("pyarrow",),
    "ringcap.progress": ("tqdm",),
    # numpy, loaded by what needs batches (the capture-to-file command does not,
    # nor printing a pcap file: ringcap.cli.fileprint)
    "ringcap.batch": ("numpy",),
    "ringcap.filtering": ("numpy",),
    "ringcap.pcapfile.reader": ("numpy",),
    "ringcap.pcapfile.buffers": ("numpy",),
    "ringcap.ringview": ("numpy",),
    "ringcap.cli.printer": ("numpy",),
    "ringcap.report": ("numpy",),           # stats of pcapng or several files
    "ringcap.cli.pool": ("ringcap.parallel",),
    # `ringcap -r F -w OUT` only: printing needs no sink (rotation, signal handling)
    "ringcap.sinks.pcap": ("ringcap.sinks.rotating",),
    # `ringcap -r F -w OUT -C/-G` only: the capture's rotation and -z runner
    "ringcap.cli.rotated": ("ringcap.sinks.rotating",),
    "ringcap.libpcap": ("ctypes",),          # compiling a filter
    # -Z with -r only: privileges imports inspect (ast, dis, tokenize), 30-80 M
    # instructions of every other `ringcap -r`'s start-up
    "ringcap.cli.privileges": ("inspect",),
}
# Packages a lazy import may load to keep the start-up of `ringcap -w` short
# (docs/cli.md): numpy; tempfile for a dataset's warm-up; subprocess, shlex and
# shutil for -z; ctypes and platform for eBPF fanout programs.
LAZY_FOR_STARTUP = {"numpy", "tempfile", "subprocess", "shlex", "shutil", "ctypes", "platform",
                    # ringcap._frozen's records look their dataclass fields up on first use
                    "dataclasses", "inspect",
                    # ringcap.cli.jsontext: what its encoder leaves to json (not a report)
                    "json",
                    # -z's launcher thread and the rings of a fanout group (the ring's
                    # and the writer's locks are _thread's): 3 M instructions
                    "threading", "weakref"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _optional_packages() -> set[str]:
    """Import names of the optional dependencies: pyproject's extras, less ``test``."""
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.optional-dependencies\]\n(.*?)(?=^\[)", text, re.M | re.S)
    assert section, "pyproject.toml has no [project.optional-dependencies]"
    names = set()
    for extra, requirements in re.findall(r"^(\w+)\s*=\s*\[(.*?)\]", section.group(1), re.M | re.S):
        if extra != "test":
            names |= {re.split(r"[<>=!~\[; ]", r)[0].replace("-", "_").lower()
                      for r in re.findall(r'"([^"]+)"', requirements)}
    return names


def _is_type_checking(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, (ast.Name, ast.Attribute))
            and (getattr(node.test, "id", None) or getattr(node.test, "attr", None))
            == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """(import node, inside a function?) for every import that can run."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                for sub in child.orelse:            # the else branch runs
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from walk(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
    yield from walk(tree, False)


def _compiled(name: str) -> bool:
    """A compiled ringcap module (``ringcap._ring``): built from pyx/, importing no ringcap Python."""
    parts = name.split(".")
    return (len(parts) == 2 and parts[0] == "ringcap"
            and (ROOT / "pyx" / f"{parts[1]}.pyx").exists())


def _targets(node, name: str, path: Path, modules) -> list[str]:
    """The absolute names of the modules an import statement imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in modules or _compiled(sub):
            found.append(sub)                        # from pkg import submodule
        elif target not in found:
            found.append(target)                     # from module import name
    return found


def _graph():
    """({module: {ringcap module it imports: [(line, lazy)]}}, [(module, line, lazy target)])."""
    modules = _modules()
    graph: dict[str, dict[str, list]] = {}
    lazy: list[tuple[str, int, str]] = []
    for name, path in modules.items():
        deps: dict[str, list] = {}
        for node, in_function in _imports(ast.parse(path.read_text())):
            targets = _targets(node, name, path, modules)
            if in_function:
                lazy += [(name, node.lineno, target) for target in targets]
            named = {t for t in targets if t in modules}
            for target in list(named) + [t for t in targets if _compiled(t)]:
                parts = target.split(".")               # importing a.b.c runs a.b's __init__
                for i in range(2, len(parts)):
                    parent = ".".join(parts[:i])
                    if parent in modules and not (name + ".").startswith(parent + "."):
                        named.add(parent)
            for target in named - {name}:
                deps.setdefault(target, []).append((node.lineno, in_function))
        graph[name] = deps
    return graph, lazy


def test_no_import_cycles_counting_imports_inside_functions():
    graph, _ = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                steps = [f"{a} (line {graph[a][b][0][0]}{', in a function' if graph[a][b][0][1] else ''})"
                         for a, b in zip(cycle, cycle[1:])]
                raise AssertionError("import cycle: " + " -> ".join(steps) + f" -> {dep}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


# Who must never import whom (directly, at any depth of a function): the
# front door sits above the ring, the pool, the sinks and the capture files;
# capture files know nothing of capturing; a batch knows nothing of what is
# built on it.
NEVER = {
    ("ringcap.ring", "ringcap.parallel", "ringcap.sinks", "ringcap.pcapfile"):
        ("ringcap.capturing", "ringcap.cli"),
    ("ringcap.pcapfile",): ("ringcap.ring", "ringcap.parallel", "ringcap.sinks",
                            "ringcap.capturing", "ringcap.pcap"),
    ("ringcap.batch",): ("ringcap.headers", "ringcap.export", "ringcap.flowmeter"),
}


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_lower_modules_never_import_upward():
    graph, _ = _graph()
    wrong = [f"{module} imports {dep} (line {graph[module][dep][0][0]})"
             for lower, upper in NEVER.items()
             for module in graph if _under(module, lower)
             for dep in graph[module] if _under(dep, upper)]
    assert not wrong, "\n".join(wrong)


def test_lazy_imports_are_only_of_optional_dependencies():
    _, lazy = _graph()
    optional = _optional_packages()
    assert {"pyarrow", "pandas", "matplotlib", "tqdm"} <= optional, optional
    wrong = []
    for module, line, target in lazy:
        if target.split(".")[0] == "ringcap":
            allowed = target in LAZY_ALLOWED
        else:
            allowed = target.split(".")[0] in optional | LAZY_FOR_STARTUP
        if not allowed:
            wrong.append(f"{_modules()[module].relative_to(ROOT)}:{line} imports {target} "
                         "inside a function")
    assert not wrong, ("import these at the top of the module (a lazy import is for an "
                       "optional dependency only):\n" + "\n".join(wrong))


def test_the_modules_allowed_lazily_do_import_an_optional_package():
    modules = _modules()
    for name, packages in LAZY_ALLOWED.items():
        tree = ast.parse(modules[name].read_text())
        targets = {target for node, _ in _imports(tree)
                   for target in _targets(node, name, modules[name], modules)}
        imported = targets | {target.split(".")[0] for target in targets}
        assert imported & set(packages), f"{name} imports none of {packages}: drop it from LAZY_ALLOWED"


def test_the_layout_test_sees_lazy_imports_and_cycles():
    """The rules above would catch what they are for (checked on a synthetic module)."""
    tree = ast.parse("import os\nif TYPE_CHECKING:\n    import json\n"
                     "def f():\n    from .batch import Batch\n    import numpy\n")
    found = [(type(n).__name__, lazy) for n, lazy in _imports(tree)]
    assert found == [("Import", False), ("ImportFrom", True), ("Import", True)]


# Modules allowed past MAX_LINES: each is one cohesive thing, and its
# opening docstring says why ("One module of some N lines because ...").
LONG_MODULES = {"ringcap/parallel.py": 1600, "ringcap/ring.py": 1100,
                "ringcap/sinks/parquet.py": 1150}
MAX_LINES = 800


def test_no_module_is_over_800_lines_unless_it_says_why():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(ROOT))
        lines = len(path.read_text().splitlines())
        if lines > LONG_MODULES.get(name, MAX_LINES):
            long.append(f"{name}: {lines} lines (at most {LONG_MODULES.get(name, MAX_LINES)})")
        elif name in LONG_MODULES:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert re.search(r"one module of some [\d,]+ lines", doc, re.I), \
                f"{name}: its docstring does not say why it is one long module"
    assert not long, "split these by what they hold: " + "; ".join(long)


def test_old_import_paths_still_work():
    import ringcap
    import ringcap.pcap as old
    import ringcap.sinks as sinks
    for name in old.__all__:
        home = next(m for m in (ringcap.pcapfile, sinks, ringcap) if hasattr(m, name))
        assert getattr(old, name) is getattr(home, name), name
    assert old.capture_to_file is ringcap.capture_to_file
    assert ringcap.capture.__module__ == "ringcap.capturing"
    assert ringcap.decode.__module__ == "ringcap.headers"


def test_pyx_does_not_import_the_python_layer():
    for path in (ROOT / "pyx").rglob("*.p*"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+ringcap\b", text, re.M), path
