"""Each constant has one home: no module defines again what another defines."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import numpy as np
from astropy import constants
from astropy import units as u

import spectral_cvae
from spectral_cvae.constants import BOLTZMANN, SPEED_OF_LIGHT

ROOT = Path(spectral_cvae.__file__).parent.parent
PHYSICAL = {"speed of light": SPEED_OF_LIGHT, "Boltzmann constant": BOLTZMANN}


def _mantissa(value: float) -> float:
    """``value`` scaled into [1, 10): the digits, whatever the unit (m/s, km/s, cm/s)."""
    return abs(value) / 10.0 ** np.floor(np.log10(abs(value)))


def _sources() -> list[Path]:
    folders = ("spectral_cvae", "tests", "benchmarks", "scripts")
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def _is_count(node: ast.expr) -> bool:
    """A whole number (a chunk size, a format version): alike by chance, not by meaning."""
    return isinstance(node, ast.Constant) and isinstance(node.value, int)


def test_no_two_modules_define_the_same_constant():
    homes = collections.defaultdict(list)
    for path in sorted((ROOT / "spectral_cvae").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                if name.isupper() and not _is_count(node.value):
                    homes[name, ast.dump(node.value)].append(path.relative_to(ROOT).as_posix())
    twice = {name: paths for (name, _), paths in homes.items() if len(paths) > 1}
    assert not twice, f"defined in more than one module, import it from one: {twice}"


def test_physical_constants_are_not_typed_in():
    typed = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value:
                for name, value in PHYSICAL.items():
                    if np.isclose(_mantissa(node.value), _mantissa(value), rtol=1e-6, atol=0):
                        typed.append(f"{path.relative_to(ROOT)}:{node.lineno} ({name})")
    assert not typed, f"import these from spectral_cvae.constants: {typed}"


def test_constants_come_from_astropy():
    assert SPEED_OF_LIGHT == constants.c.to_value(u.km / u.s)
    assert BOLTZMANN == constants.k_B.to_value(u.erg / u.K)
