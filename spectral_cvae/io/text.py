"""Spectra in CSV: comma-separated columns under an ECSV header that carries the units.

Columns ``wavelength`` (Angstrom) and ``flux`` (or ``flux_0``, ``flux_1``... for several
spectra), with ``flux_std`` (``flux_std_0``...) for the spread of generated spectra. The
``#`` header (ECSV 1.0) gives each column's unit and, under ``meta: parameters``, each
stellar parameter's unit and its value for every spectrum. Spreadsheets and
``pandas.read_csv(path, comment="#")`` read the columns; astropy's ``Table.read`` reads the
units and parameters too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from ..errors import SpectrumFileError
from .conventions import to_angstrom
from .spectra import Spectra, parameter_table

PARAMETERS_KEY = "parameters"


def write_csv(path: Path, spectra: Spectra) -> None:
    """Write spectra in the layout of this module (the caller makes it atomic)."""
    table = Table()
    table["wavelength"] = spectra.wavelength
    table["wavelength"].unit = "Angstrom"
    for k, column in enumerate(flux_columns(len(spectra.flux))):
        table[column] = spectra.flux[k].astype(np.float32)
        if spectra.std is not None:
            table[column.replace("flux", "flux_std", 1)] = spectra.std[k].astype(np.float32)
    table.meta["flux"] = "continuum-normalized; flux_std: its spread over the latent draws"
    # A list, not a mapping: YAML would sort a mapping's names, and their order matters.
    table.meta[PARAMETERS_KEY] = [
        {
            "name": name,
            "unit": "" if column.unit is None else column.unit.to_string(),
            "values": np.asarray(column.value, dtype=float).tolist(),
        }
        for name, column in spectra.parameters.columns.items()
    ]
    table.write(path, format="ascii.ecsv", delimiter=",", overwrite=True)  # the temporary


def flux_columns(n: int) -> list[str]:
    """Names of the flux columns of ``n`` spectra: ``flux``, or ``flux_0``, ``flux_1``..."""
    return ["flux"] if n == 1 else [f"flux_{k}" for k in range(n)]


def read_table(path: Path) -> Table:
    """A text table (ECSV, CSV, whitespace-separated...) as astropy reads it.

    Raises
    ------
    SpectrumFileError
        If astropy cannot parse it; the message names the file.
    """
    fmt = "ascii.ecsv" if path.name.lower().endswith(".ecsv") else "ascii"
    try:
        return Table.read(path, format=fmt)
    except Exception as exc:  # astropy raises many kinds for unparseable text
        raise SpectrumFileError(f"{path}: not a readable text table ({exc})") from exc


def holds_layout(table: Table) -> bool:
    """Whether a table read from text is in the layout of this module."""
    return isinstance(table.meta.get(PARAMETERS_KEY), list) and "wavelength" in table.colnames


def read_csv(table: Table, path: Path) -> Spectra:
    """The spectra of a table in the layout of this module, read by ``Table.read``."""
    record = table.meta[PARAMETERS_KEY]
    n = len(record[0].get("values", [])) if record else 1
    columns = flux_columns(n)
    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise SpectrumFileError(
            f"{path}: {n} spectra in the header's parameters but no column {missing[0]!r}"
        )
    stds = [c.replace("flux", "flux_std", 1) for c in columns]
    std = None
    if all(c in table.colnames for c in stds):
        std = np.array([table[c] for c in stds], dtype=float)
    parameters = None
    if record:
        try:
            parameters = parameter_table(
                [entry["name"] for entry in record],
                [entry.get("unit", "") for entry in record],
                np.array([entry["values"] for entry in record], dtype=float).T,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SpectrumFileError(
                f"{path}: the header's parameters are unreadable ({exc})"
            ) from exc
    wavelength = to_angstrom(table["wavelength"], table["wavelength"].unit, path)
    return Spectra.checked(
        wavelength, np.array([table[c] for c in columns], dtype=float), str(path), std, parameters
    )
