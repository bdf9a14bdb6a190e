"""The package's import graph: no module needs, directly or through others, itself.

A cycle (two modules importing each other, even from inside a function) means two concepts
that cannot be read, tested or changed apart; this test names the modules of any cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spectral_cvae

PACKAGE = Path(spectral_cvae.__file__).parent


def module_names() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, at module level or inside functions.

    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``.
    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in executed_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return (found & modules.keys()) - {name}


def executed_nodes(tree: ast.AST):
    """Every node of ``tree`` but those inside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *executed_nodes(child)])
            continue
        yield node
        yield from executed_nodes(node)


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once explored
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = "open"
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(child) == "open":
                return path[path.index(child) :] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph()
    assert "spectral_cvae.model.generator" in graph["spectral_cvae.model"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    lazy = tmp_path / "lazy.py"
    lazy.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .cvae import CVAE\n"
        "def f():\n    from .generator import SpectrumGenerator\n"
    )
    modules = dict.fromkeys(["spectral_cvae.model." + n for n in ("generator", "cvae", "lazy")])
    assert imported_modules("spectral_cvae.model.lazy", lazy, modules) == {
        "spectral_cvae.model.generator"
    }


def test_the_model_file_archive_knows_nothing_of_generators():
    graph = import_graph()
    assert "spectral_cvae.model.generator" not in graph["spectral_cvae.model.archive"]
