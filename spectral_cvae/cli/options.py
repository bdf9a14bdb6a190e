"""Checked option types and the parser of the ``spectral-cvae`` command.

Every count, seed and real number the command line takes is checked as it is read, so a bad
value ends the command with a one-line message naming the option (``--workers must be at
least 1, got 0``) before any work starts, instead of a hang or a traceback later.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Container
from pathlib import Path
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (with a pointer to ``--help``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (a count of things, epochs...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


seed = count(0)
"""An argparse type for a random seed: a whole number, 0 or more."""


def real(minimum: float | None = None, above: float | None = None) -> Callable[[str], float]:
    """An argparse type: a finite number, optionally at least ``minimum`` or above ``above``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value:g}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be above {above:g}, got {value:g}")
        return value

    parse.__name__ = "number"
    return parse


def check_output(path: Path, suffixes: Container[str], overwrite: bool = False) -> None:
    """Refuse an output before the work starts: an unknown suffix, an existing file
    (unless ``overwrite``), or a folder that does not exist.

    Raises
    ------
    ConfigError
        For a suffix not in ``suffixes`` or a missing folder.
    FileExistsError
        For an existing file without ``overwrite``.
    """
    from ..errors import ConfigError

    if path.suffix.lower() not in suffixes:
        raise ConfigError(
            f"{path}: unknown output format {path.suffix!r}; use one of {', '.join(suffixes)}"
        )
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")


def fail(message: str, status: int = 2) -> int:
    """Print the one-line error message of the command and return its exit status."""
    print(f"spectral-cvae: error: {message}", file=sys.stderr)
    return status
