"""The package is built in floors, and no file reaches up.

The floors are declared once, in ``scratchgen/__init__.py``'s docstring
(the reader's map), as lines ``N name name ...``.  This test parses every
module's imports with ``ast`` (top-level and inside functions alike: a lazy
import is still a dependency), resolves each to the module it names, and
fails when a module imports from a floor above its own, when library code
imports the whole package (``import scratchgen as sg``: library modules
import what they use by name, so the layering stays visible), or when the
imports form a cycle.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scratchgen"


def read_floors(package: Path) -> dict[str, int]:
    """``{top-level name: floor}`` from the ``N name name`` lines of the docstring."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    floors = {}
    for number, names in re.findall(r"^\s*(\d+) ([\w ]+)$", doc or "", flags=re.MULTILINE):
        for name in names.split():
            floors[name] = int(number)
    return floors


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]):
    """(imported module, line, source text) for each import in one module;
    only imports of the package itself."""
    root = name.split(".")[0]
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == root:
                    yield alias.name, node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in modules else target), node.lineno, \
                    f"from {'.' * node.level}{node.module or ''} import {alias.name}"


def floor_of(module: str, floors: dict[str, int]) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else parts[0]
    if key not in floors:
        raise AssertionError(f"{module} is on no floor: add it to the floor list in "
                             "scratchgen/__init__.py's docstring")
    return floors[key]


def layering_problems(package: Path) -> list[str]:
    floors = read_floors(package)
    modules = module_names(package)
    problems, graph = [], {}
    for name, path in sorted(modules.items()):
        graph[name] = set()
        mine = floor_of(name, floors)
        for target, line, text in imports_of(name, path, modules):
            where = f"{path.relative_to(package.parent)}:{line} `{text}`"
            if text.startswith("import ") and target.split(".")[0] == target == name.split(".")[0]:
                problems.append(f"{where}: library code imports the whole package; "
                                "import what it uses by name (from .. import nn)")
            if floor_of(target, floors) > mine:
                problems.append(f"{where}: floor {mine} imports from floor "
                                f"{floor_of(target, floors)} ({target})")
            if target != name:
                graph[name].add(target)
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in find_cycles(graph)]
    return problems


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group found by depth-first search."""
    cycles, state = [], {}  # state: 1 on the current path, 2 finished

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_the_floors_are_declared():
    floors = read_floors(PACKAGE)
    assert floors["backend"] == 0 and floors["runs"] == max(floors.values())
    for name in module_names(PACKAGE):
        floor_of(name, floors)  # every module has a floor


def test_no_module_imports_upward_and_no_cycles():
    problems = layering_problems(PACKAGE)
    assert not problems, "\n".join(problems)


def _fake_package(tmp_path, files):
    root = tmp_path / "scratchgen"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


DOC = '"""Floors:\n\n    0 backend\n    1 autograd scratchgen\n    2 runs\n"""\n'


@pytest.mark.parametrize("source, expected", [
    ("from ..runs import cli\n", "floor 1 imports from floor 2"),
    ("import scratchgen as sg\n", "imports the whole package"),
    ("def f():\n    from .runs.cli import main\n", "floor 1 imports from floor 2"),
])
def test_the_check_fails_on_an_upward_import(tmp_path, source, expected):
    """The checker itself can fail: an upward import (also one hidden in a
    function) and a whole-package import are each reported."""
    source = source.replace("..runs", ".runs")
    root = _fake_package(tmp_path, {"__init__.py": DOC, "backend.py": "",
                                    "autograd.py": source, "runs/__init__.py": "",
                                    "runs/cli.py": "from .. import autograd\n"})
    problems = layering_problems(root)
    assert any(expected in p for p in problems), problems


def test_the_check_fails_on_a_cycle(tmp_path):
    root = _fake_package(tmp_path, {"__init__.py": DOC, "backend.py": "",
                                    "autograd.py": "from . import backend\n",
                                    "runs/__init__.py": "", "runs/a.py": "from . import b\n",
                                    "runs/b.py": "from . import a\n"})
    assert any("import cycle" in p for p in layering_problems(root))
