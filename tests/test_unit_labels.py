"""A unit is shown one way, by one helper: ``Parameter.axis_label`` and ``with_unit``."""

from __future__ import annotations

import ast
from pathlib import Path

import spectral_cvae
from spectral_cvae.parameters import PAPER_SPACE, compact_unit, with_unit

PACKAGE = Path(spectral_cvae.__file__).parent
HOME = "parameters.py"


def test_labels_carry_compact_units():
    assert PAPER_SPACE["vsini"].axis_label == "v sin i (km/s)"
    assert PAPER_SPACE["teff"].axis_label == "Teff (K)"
    assert PAPER_SPACE["resolution"].axis_label == PAPER_SPACE["resolution"].label
    assert with_unit("radial velocity", "km / s") == "radial velocity (km/s)"
    assert compact_unit("erg / (cm2 s)") == "erg/(cm2s)"


def _unit_formatting(path: Path) -> list[str]:
    """Places that format a unit by hand: ``unit.replace(" ", "")`` or ``f"... ({unit})"``."""
    source = path.read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace"
            and [a.value for a in node.args if isinstance(a, ast.Constant)] == [" ", ""]
            and "unit" in ast.get_source_segment(source, node.func.value)
        ):
            found.append(node.lineno)
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, value in zip(parts, parts[1:]):
                if (
                    isinstance(before, ast.Constant)
                    and str(before.value).endswith("(")
                    and isinstance(value, ast.FormattedValue)
                    and "unit" in ast.get_source_segment(source, value.value)
                ):
                    found.append(node.lineno)
    return [f"{path.relative_to(PACKAGE).as_posix()}:{line}" for line in found]


def test_units_are_formatted_only_by_the_helpers():
    by_hand = [
        place
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() != HOME
        for place in _unit_formatting(path)
    ]
    assert not by_hand, f"use Parameter.axis_label or with_unit: {by_hand}"
