"""Rules the test suite keeps: each test module stands alone, skips only what it must, and
checks behaviour rather than wall-clock speed (speed is for benchmarks/)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SOURCES = sorted(TESTS.glob("*.py"))
CLOCKS = {"perf_counter", "monotonic", "time", "process_time", "perf_counter_ns", "monotonic_ns"}


def imports_of_test_modules(source: str) -> list[int]:
    """Lines importing a test module or conftest, also inside the scripts tests run."""
    pattern = re.compile(r"^\s*from\s+(\.|tests\.)(conftest|test_\w+)\s+import", re.MULTILINE)
    return [source.count("\n", 0, match.start()) + 1 for match in pattern.finditer(source)]


def module_level_importorskips(source: str) -> list[int]:
    """Lines of ``pytest.importorskip`` run at import time, which skip the whole module."""
    found = []
    for statement in ast.parse(source).body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and _name(node.func).endswith("importorskip"):
                found.append(node.lineno)
    return found


def clock_asserts(source: str) -> list[int]:
    """Lines of asserts on a clock reading, or on a value computed from one."""
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        timed: set[str] = set()
        for node in _in_order(function):
            if isinstance(node, ast.Assign) and _reads_clock(node.value, timed):
                timed |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            elif isinstance(node, ast.Assert) and _reads_clock(node.test, timed):
                found.append(node.lineno)
    return found


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _in_order(function: ast.AST) -> list[ast.AST]:
    nodes = [n for n in ast.walk(function) if isinstance(n, (ast.Assign, ast.Assert))]
    return sorted(nodes, key=lambda n: (n.lineno, n.col_offset))


def _reads_clock(expression: ast.AST, timed: set[str]) -> bool:
    for node in ast.walk(expression):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name.split(".")[-1] in CLOCKS and name.startswith(("time.", "perf_counter", "monotonic")):
                return True
        if isinstance(node, ast.Name) and node.id in timed:
            return True
    return False


def test_the_rules_find_what_they_forbid():
    assert imports_of_test_modules(
        "import numpy\nfrom .test_model import trained\nx = '''\nfrom tests.conftest import a\n'''\n"
        "from .helpers import tiny_config\n"
    ) == [2, 4]
    assert module_level_importorskips(
        "import pytest\npyasl = pytest.importorskip('PyAstronomy')\n\n"
        "def test_x():\n    pytest.importorskip('jax')\n"
    ) == [2]
    assert clock_asserts(
        "import time\n\ndef test_fast():\n    start = time.perf_counter()\n    run()\n"
        "    elapsed = time.perf_counter() - start\n    assert elapsed < 2.0\n"
        "    assert time.monotonic() - start < 1\n    assert run() == 3\n"
    ) == [7, 8]


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_test_modules_share_code_through_conftest_and_helpers_only(path):
    assert imports_of_test_modules(path.read_text()) == [], (
        f"{path.name} imports a test module or conftest: move what it needs to "
        f"tests/helpers.py (plain code) or tests/conftest.py (fixtures)"
    )


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_a_missing_optional_package_skips_only_the_tests_that_use_it(path):
    assert module_level_importorskips(path.read_text()) == [], (
        f"{path.name} skips the whole module for an optional package: call "
        f"pytest.importorskip in a fixture or in the tests that need it"
    )


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_test_asserts_on_wall_clock_time(path):
    assert clock_asserts(path.read_text()) == [], (
        f"{path.name} asserts on wall-clock time: measure speed in benchmarks/, and test "
        f"time-dependent behaviour with a fake clock"
    )
