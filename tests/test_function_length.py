"""Functions read as named steps: none grows past a budget of statements.

The four that the clean-up split (``train``, ``evaluate_model``, ``ResidualMapViewer.__init__``,
``build_base_grid``) had 42-53 statements; the functions in :data:`LONGER` are still to be
split, and may only get shorter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spectral_cvae

ROOT = Path(spectral_cvae.__file__).parent.parent
MAX_STATEMENTS = 40

LONGER = {
    "spectral_cvae/cli/fit.py:_fit_many": 41,
    "spectral_cvae/fitting/corner.py:corner_plot": 49,
    "spectral_cvae/fitting/observation.py:prepare_observation": 44,
    "spectral_cvae/fitting/optimizer.py:_result": 76,
    "spectral_cvae/fitting/posterior.py:sample_posterior": 50,
    "spectral_cvae/fitting/radial_velocity.py:cross_correlate": 43,
    "spectral_cvae/grid/broadening.py:broaden": 51,
    "spectral_cvae/widgets/explorer.py:SpectrumExplorer.__init__": 45,
    "spectral_cvae/widgets/fit_panel.py:FitPanel.__init__": 63,
    "spectral_cvae/widgets/fit_panel.py:FitPanel._table": 41,
}
"""``path:qualified name`` -> statements today, of the functions still longer than the budget."""


def _statements(function: ast.FunctionDef) -> int:
    """Statements in ``function``, not counting those of functions or classes inside it."""
    count, stack = 0, list(function.body)
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
        for handler in getattr(node, "handlers", ()):
            stack.extend(handler.body)
        for case in getattr(node, "cases", ()):
            stack.extend(case.body)
    return count


def _functions() -> dict[str, int]:
    found = {}
    for path in sorted((ROOT / "spectral_cvae").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for node in tree.body:
            members = node.body if isinstance(node, ast.ClassDef) else [node]
            prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
            for member in members:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{module}:{prefix}{member.name}"] = _statements(member)
    return found


def test_no_function_grows_past_the_budget():
    functions = _functions()
    too_long = {
        name: n for name, n in functions.items() if n > max(MAX_STATEMENTS, LONGER.get(name, 0))
    }
    assert not too_long, f"split into named steps (at most {MAX_STATEMENTS} statements): {too_long}"


def test_functions_split_since_leave_the_list():
    functions = _functions()
    done = {name for name, n in LONGER.items() if functions.get(name, 0) <= MAX_STATEMENTS}
    assert not done, f"now within the budget: remove from LONGER: {sorted(done)}"
