"""Every name is imported from its home: the module that defines it, or a package that
exports it in ``__all__``; never through a module that merely imported it."""

from __future__ import annotations

import ast
from pathlib import Path

import spectral_cvae

ROOT = Path(spectral_cvae.__file__).parent.parent
PACKAGE = ROOT / "spectral_cvae"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a module, with those inside ``try`` and ``if`` blocks."""
    found = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.Try):
            found += _top_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                found += _top_level(handler.body)
        elif isinstance(node, ast.If):
            found += _top_level(node.body + node.orelse)
    return found


def _homes() -> dict[str, tuple[set[str], set[str], Path]]:
    """Module -> (names it defines, names its ``__all__`` exports, its file)."""
    homes = {}
    for path in PACKAGE.rglob("*.py"):
        defined, exported = set(), set()
        for node in _top_level(ast.parse(path.read_text()).body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defined.add(target.id)
                    if target.id == "__all__":
                        exported = {element.value for element in node.value.elts}
        homes[_module(path)] = (defined, exported, path)
    return homes


def _target(node: ast.ImportFrom, path: Path) -> str | None:
    if not node.level:
        return node.module
    if not path.is_relative_to(PACKAGE):
        return None
    parts = _module(path).split(".")
    parts = parts if path.name == "__init__.py" else parts[:-1]
    parts = parts[: len(parts) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def test_names_are_imported_from_their_home():
    homes = _homes()
    files = [
        *PACKAGE.rglob("*.py"),
        *(ROOT / "tests").glob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
    ]
    borrowed = []
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text())):
            target = _target(node, path) if isinstance(node, ast.ImportFrom) else None
            if target not in homes:
                continue
            defined, exported, home = homes[target]
            for alias in node.names:
                is_module = f"{target}.{alias.name}" in homes
                is_export = home.name == "__init__.py" and alias.name in exported
                if not (alias.name in defined or is_module or is_export):
                    borrowed.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name} <- {target}"
                    )
    assert not borrowed, f"import these from the module that defines them: {borrowed}"
