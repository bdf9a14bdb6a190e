"""Tables of stellar parameters: one row per star, one column per parameter, with units.

Written as CSV whose header names each column with its unit in brackets
(``teff [K],logg [dex],...,resolution``): a spreadsheet reads it, and :func:`read_parameters`
reads the units back, so what ``spectral-cvae invert`` writes, ``spectral-cvae generate
--table`` takes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

from ..errors import SpectrumFileError
from ..files import atomic_path
from ..parameters import compact_unit

HEADER_UNIT = re.compile(r"^\s*(?P<name>[^\[\]]+?)\s*\[(?P<unit>[^\[\]]+)\]\s*$")
"""A column name with its unit in brackets: ``teff [K]``."""


def format_parameters(table: Table) -> str:
    """The table as CSV text: ``name [unit]`` headers, numbers to 6 significant digits."""
    names = [
        f"{n} [{compact_unit(table[n].unit.to_string())}]"
        if getattr(table[n], "unit", None) not in (None, u.dimensionless_unscaled)
        else n
        for n in table.colnames
    ]
    lines = [",".join(names)]
    for row in table:
        lines.append(",".join(_cell(row[n]) for n in table.colnames))
    return "\n".join(lines) + "\n"


def write_parameters(path: str | os.PathLike, table: Table, overwrite: bool = False) -> Path:
    """Write a parameter table as CSV (see :func:`format_parameters`), atomically.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    with atomic_path(path, suffix=f".tmp{path.suffix}") as temporary:
        temporary.write_text(format_parameters(table))
    return path


def read_parameters(path: str | os.PathLike) -> QTable:
    """Read a parameter table: CSV, ECSV or FITS, one column per parameter name.

    Units come from the file (ECSV, FITS ``TUNIT``, or a ``name [unit]`` CSV header, the
    column then renamed ``name``); columns without one are in the parameter's own unit.

    Raises
    ------
    SpectrumFileError
        If the file is missing or not a readable table.
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFileError(f"{path}: no such file")
    try:
        table = QTable.read(path)
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise SpectrumFileError(f"{path}: cannot read the parameter table ({exc})") from exc
    for name in list(table.colnames):
        match = HEADER_UNIT.match(name)
        if match is None:
            continue
        try:
            unit = u.Unit(match["unit"])
        except ValueError:
            continue  # brackets that hold no unit: keep the name as it is
        table.rename_column(name, match["name"])
        table[match["name"]] = np.asarray(table[match["name"]], dtype=float) * unit
    return table


def _cell(value: object) -> str:
    value = getattr(value, "value", value)
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)
