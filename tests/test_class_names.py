"""A class name says one thing: defined once, and never a name of Python's own."""

from __future__ import annotations

import ast
import builtins
import collections
import collections.abc
import typing
from pathlib import Path

import spectral_cvae

PACKAGE = Path(spectral_cvae.__file__).parent
PYTHON_NAMES = set(dir(builtins)) | set(dir(typing)) | set(dir(collections.abc))


def _classes() -> dict[str, list[str]]:
    homes = collections.defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno}")
    return homes


def test_each_class_is_defined_once():
    twice = {name: places for name, places in _classes().items() if len(places) > 1}
    assert not twice, f"one home for each class: {twice}"


def test_no_class_shadows_a_python_name():
    shadowing = {name: places for name, places in _classes().items() if name in PYTHON_NAMES}
    assert not shadowing, f"named like Python's own (typing, builtins, abc): {shadowing}"
