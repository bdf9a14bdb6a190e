"""Each error class says what went wrong, and a grid's errors stay with the grid."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from spectral_cvae import errors

PACKAGE = Path(errors.__file__).parent

GRID_FILE_MODULES = ("grid/", "starter.py", "cli/synspec.py")
"""Modules that read, write or build grid files: the only ones to raise GridFileError."""

BASES = ("InputError", "DataFileError")
"""Classes to catch, not to raise: a raise names the subclass that says what is wrong."""


def _places(name: str, subclasses: bool) -> list[str]:
    """``path:line`` of every ``raise name(...)`` in the package, and of every
    ``class X(name)`` with ``subclasses``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                names = [node.exc.func]
            elif subclasses and isinstance(node, ast.ClassDef):
                names = node.bases
            else:
                continue
            if any(isinstance(n, ast.Name) and n.id == name for n in names):
                found.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno}")
    return found


def test_grid_input_errors_are_raised_only_by_the_grid():
    outside = [
        p for p in _places("GridInputError", True) if not p.startswith(("grid/", "errors.py"))
    ]
    assert not outside, f"GridInputError outside spectral_cvae/grid/: {outside}"


def test_grid_file_errors_are_raised_only_for_grid_files():
    outside = [p for p in _places("GridFileError", True) if not p.startswith(GRID_FILE_MODULES)]
    assert not outside, f"GridFileError for a file that is not a grid: {outside}"


@pytest.mark.parametrize("base", BASES)
def test_base_errors_are_caught_not_raised(base):
    raised = _places(base, subclasses=False)
    assert not raised, f"raise the subclass of {base} that says what is wrong: {raised}"


def test_model_and_spectrum_files_are_not_grid_files():
    assert not issubclass(errors.ModelFileError, errors.GridFileError)
    assert not issubclass(errors.SpectrumFileError, errors.GridFileError)


@pytest.mark.parametrize(
    "error",
    [
        errors.GridInputError,
        errors.SpectrumIndexError,
        errors.ParameterError,
        errors.OutOfDomainError,
        errors.SpectrumInputError,
        errors.ConfigError,
    ],
)
def test_every_input_error_is_a_value_error(error):
    assert issubclass(error, errors.InputError) and issubclass(error, ValueError)


@pytest.mark.parametrize(
    "error", [errors.GridFileError, errors.ModelFileError, errors.SpectrumFileError]
)
def test_every_file_error_is_an_os_error(error):
    assert issubclass(error, errors.DataFileError) and issubclass(error, OSError)
