"""The package's shape: no import cycles, modules of one job and moderate size, runnable examples.

The import graph is read from the source with :mod:`ast` (function-local imports included), so a
cycle hidden behind an import inside a function is found too. Docstring examples are run against the
installed package, in a temporary working directory.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import mitwin

SOURCE = Path(mitwin.__file__).resolve().parent
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t not in (name, "mitwin"):  # the top-level package imports lazily
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_known_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_modules_are_of_moderate_size():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines (split them by job): {long}"


def _all_module_names() -> list[str]:
    names = ["mitwin"]
    for info in pkgutil.walk_packages(mitwin.__path__, "mitwin."):
        if not info.name.split(".")[-1].startswith("__"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _all_module_names())
def test_docstring_examples(name, tmp_path, monkeypatch):
    """Every docstring example of the module runs and prints what it shows."""
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, globs={**vars(module), "np": np}) if t.examples]
    if not tests:
        pytest.skip("no examples")
    for test in tests:
        failures: list[str] = []
        result = runner.run(test, out=failures.append)
        assert result.failed == 0, f"{test.name}:\n" + "".join(failures)


def test_public_names_are_not_shadowed_by_submodules():
    """``mitwin.<name>`` must stay the exported object even after ``import mitwin.<module>``: a public
    function named like a submodule of the package would be replaced by that module on import."""
    submodules = {info.name for info in pkgutil.iter_modules(mitwin.__path__)}
    assert sorted(set(mitwin.__all__) & submodules) == []
