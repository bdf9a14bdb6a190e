"""Spectra in FITS: the one layout written, which the grid's table reader reads as well.

- HDU ``SPECTRA``: a binary table, one row per spectrum, with one scalar column per stellar
  parameter (its unit in ``TUNIT``), an array column ``FLUX`` (continuum-normalized) and,
  for generated spectra drawn several times, ``FLUX_STD``, their spread over z;
- HDU ``WAVELENGTH``: the wavelengths, an image with ``BUNIT`` (or a table with a
  ``WAVELENGTH`` column and ``TUNIT``), Angstrom when no unit is given;
- the primary header: ``ORIGIN``, ``NSPEC`` and, if given, ``PROVENAN`` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

from ..errors import DataFileError, SpectrumFileError
from ..grid.wavelength import check_wavelength
from .conventions import find_column, to_angstrom
from .spectra import Spectra, parameter_table

SPECTRA_HDU = "SPECTRA"
WAVELENGTH_HDU = "WAVELENGTH"
FLUX_COLUMN = "FLUX"
STD_COLUMN = "FLUX_STD"


def write_fits(path: Path, spectra: Spectra, provenance: dict | None = None) -> None:
    """Write spectra in the layout of this module (the caller makes it atomic)."""
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "spectral-cvae"
    primary.header["NSPEC"] = (len(spectra.flux), "number of spectra")
    if provenance:
        primary.header["PROVENAN"] = json.dumps(provenance, default=str)
    table = spectra.parameters
    columns = [
        fits.Column(name=name, format="D", unit=_unit(table[name]), array=_values(table[name]))
        for name in table.colnames
    ]
    cells = f"{spectra.wavelength.size}E"
    columns.append(fits.Column(name=FLUX_COLUMN, format=cells, array=spectra.flux))
    if spectra.std is not None:
        columns.append(fits.Column(name=STD_COLUMN, format=cells, array=spectra.std))
    hdu = fits.BinTableHDU.from_columns(columns, name=SPECTRA_HDU)
    hdu.header["FLUXNORM"] = ("continuum", "flux is continuum-normalized")
    waves = fits.ImageHDU(spectra.wavelength, name=WAVELENGTH_HDU)
    waves.header["BUNIT"] = "Angstrom"
    fits.HDUList([primary, hdu, waves]).writeto(path, overwrite=True)  # the temporary


def _unit(column) -> str | None:
    unit = getattr(column, "unit", None)
    return None if unit is None or unit == u.dimensionless_unscaled else unit.to_string()


def _values(column) -> np.ndarray:
    return np.asarray(getattr(column, "value", column), dtype=float)


def holds_layout(hdul: fits.HDUList) -> bool:
    """Whether an open FITS file has the ``SPECTRA`` and ``WAVELENGTH`` HDUs."""
    return SPECTRA_HDU in hdul and WAVELENGTH_HDU in hdul


def read_fits(hdul: fits.HDUList, path: Path) -> Spectra:
    """The spectra of an open FITS file in the layout of this module.

    Columns of ``SPECTRA`` other than ``FLUX`` and ``FLUX_STD`` are the parameters.

    Raises
    ------
    SpectrumFileError
        If ``SPECTRA`` is not a table with a ``FLUX`` column, or ``WAVELENGTH`` is unusable.
    """
    table = hdul[SPECTRA_HDU]
    if not isinstance(table, fits.BinTableHDU):
        raise SpectrumFileError(f"{path}: HDU {SPECTRA_HDU!r} is not a binary table")
    names = list(table.columns.names)
    flux = find_column(names, (FLUX_COLUMN.lower(),))
    if flux is None:
        raise SpectrumFileError(f"{path}: HDU {SPECTRA_HDU!r} has no {FLUX_COLUMN} column")
    std = find_column(names, (STD_COLUMN.lower(),))
    scalars = [n for n in names if n not in (flux, std) and table.data[n].ndim == 1]
    parameters = None
    if scalars:
        values = np.column_stack([np.asarray(table.data[n], dtype=float) for n in scalars])
        units = [table.columns[n].unit or "" for n in scalars]
        parameters = parameter_table(scalars, units, values)
    return Spectra.checked(
        read_wavelength_hdu(hdul, path),
        np.asarray(table.data[flux], dtype=float),
        str(path),
        None if std is None else np.asarray(table.data[std], dtype=float),
        parameters,
    )


def read_wavelength_hdu(
    hdul: fits.HDUList, path: Path, file_error: type[DataFileError] = SpectrumFileError
) -> np.ndarray:
    """Wavelengths from the ``WAVELENGTH`` HDU of an open FITS file.

    Parameters
    ----------
    hdul
        The open file.
    path
        Its name, for messages.
    file_error
        What a file without usable wavelengths is: :class:`SpectrumFileError`, or
        :class:`~spectral_cvae.errors.GridFileError` for a grid file of the same layout.

    Returns
    -------
    numpy.ndarray
        Wavelengths in Angstrom, converted from the HDU's unit (``BUNIT`` of an image,
        ``TUNIT`` of a table's ``WAVELENGTH`` column; Angstrom when none is given),
        strictly increasing.

    Raises
    ------
    SpectrumFileError (or ``file_error``)
        No ``WAVELENGTH`` HDU or column.
    SpectrumInputError, GridInputError
        A unit that is not a length, or wavelengths that do not increase.
    """
    if WAVELENGTH_HDU not in hdul:
        raise file_error(f"{path}: no HDU named {WAVELENGTH_HDU!r}")
    hdu = hdul[WAVELENGTH_HDU]
    if isinstance(hdu, fits.BinTableHDU):
        name = find_column(list(hdu.columns.names), (WAVELENGTH_HDU.lower(),))
        if name is None:
            raise file_error(f"{path}: HDU {WAVELENGTH_HDU!r} has no column 'WAVELENGTH'")
        # A single row holding the whole axis in an array cell is accepted too.
        unit, values = hdu.columns[name].unit, np.ravel(hdu.data[name])
    elif isinstance(hdu, fits.ImageHDU | fits.PrimaryHDU) and hdu.data is not None:
        unit, values = hdu.header.get("BUNIT"), hdu.data
    else:
        raise file_error(f"{path}: HDU {WAVELENGTH_HDU!r} holds no wavelengths")
    return check_wavelength(to_angstrom(values, unit, path), str(path))
