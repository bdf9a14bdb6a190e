"""Reading spectra to invert: grid files, generic tables and single FITS or text spectra.

Unlike the grid readers, nothing here needs the spectra's parameters: an observed or
generated spectrum has none. When a file carries them (a grid), they are returned too, so
the inverter's answers can be compared with them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy import units as u
from astropy.io import fits

from ..errors import GridFileError, GridInputError
from ..grid.readers.table import fits_wavelength
from ..grid.store import FORMAT as GRID_FORMAT
from ..grid.store import SpectralGrid, open_hdf5
from ..grid.wavelength import check_wavelength

WAVELENGTH_COLUMNS = ("wavelength", "wave", "lambda", "wavelength_angstrom", "awav")
FLUX_COLUMNS = ("flux", "normalized_flux", "flux_normalized")
TEXT_SUFFIXES = (".csv", ".txt", ".dat", ".ascii")


@dataclass(frozen=True)
class Spectra:
    """Spectra read from a file.

    Attributes
    ----------
    wavelength
        Angstrom, shape ``(n_pixels,)``.
    flux
        Shape ``(n, n_pixels)``.
    parameters
        Known parameters ``(n, n_parameters)`` (grid files), else None.
    names
        Names of the parameter columns, else None.
    source
        The file, for messages.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    parameters: np.ndarray | None
    names: tuple[str, ...] | None
    source: str


def read_spectra(path: str | os.PathLike) -> Spectra:
    """Read the spectra of a file, whatever its kind.

    Parameters
    ----------
    path
        - a spectral-cvae grid (``.h5``), or an HDF5 / NPZ file with ``wavelength``
          (Angstrom, or the unit in its ``unit`` attribute) and ``flux`` (1-D or 2-D);
        - a FITS file: the generic grid table (``SPECTRA`` + ``WAVELENGTH`` HDUs), a table
          with wavelength and flux columns, or a 1-D image with a linear wavelength WCS
          (``CRVAL1``, ``CDELT1`` or ``CD1_1``, ``CRPIX1``, ``CUNIT1``);
        - a text table (``.csv``, ``.txt``, ``.dat``): columns named like wavelength and
          flux, or else the first two columns.

    Returns
    -------
    Spectra

    Raises
    ------
    GridFileError
        If the file is missing, unreadable or holds no recognizable spectrum.
    GridInputError
        If wavelengths and flux disagree in length or the wavelengths are not increasing.
    """
    path = Path(path)
    if not path.is_file():
        raise GridFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return _hdf5(path)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("wavelength", "flux") if k not in archive.files]
            if missing:
                raise GridFileError(f"{path}: no array {missing[0]!r}")
            return _spectra(archive["wavelength"], archive["flux"], None, path)
    if suffix in (".fits", ".fit", ".fts"):
        return _fits(path)
    if suffix in TEXT_SUFFIXES:
        return _text(path)
    raise GridFileError(
        f"{path}: unknown suffix {path.suffix!r}; expected .h5/.hdf5, .npz, .fits or a text "
        f"table ({', '.join(TEXT_SUFFIXES)})"
    )


def _spectra(
    wavelength: object, flux: object, unit: str | None, path: Path, parameters=None, names=None
) -> Spectra:
    wavelength = np.asarray(wavelength, dtype=float)
    if unit:
        try:
            wavelength = (wavelength * u.Unit(unit)).to_value(u.AA)
        except (ValueError, u.UnitsError) as exc:
            raise GridInputError(f"{path}: wavelength unit {unit!r} is not a length") from exc
    wavelength = check_wavelength(wavelength, str(path))
    flux = np.asarray(flux, dtype=float)
    if flux.ndim == 1:
        flux = flux[np.newaxis, :]
    if flux.ndim != 2 or flux.shape[1] != wavelength.size:
        raise GridInputError(
            f"{path}: flux of shape {flux.shape} does not match its {wavelength.size} "
            f"wavelengths; expected ({wavelength.size},) or (n, {wavelength.size})"
        )
    return Spectra(wavelength, flux, parameters, names, str(path))


def _hdf5(path: Path) -> Spectra:
    handle = open_hdf5(path, "r")
    try:
        is_grid = handle.attrs.get("format") == GRID_FORMAT
    finally:
        handle.close()
    if is_grid:
        with SpectralGrid.open(path) as grid:
            return Spectra(
                grid.wavelength, grid.read_flux(), grid.parameters, grid.space.names, str(path)
            )
    with h5py.File(path, "r") as handle:
        for name in ("wavelength", "flux"):
            if not isinstance(handle.get(name), h5py.Dataset):
                raise GridFileError(f"{path}: no dataset {name!r}")
        unit = handle["wavelength"].attrs.get("unit")
        unit = unit.decode() if isinstance(unit, bytes) else unit
        return _spectra(handle["wavelength"][:], handle["flux"][:], unit, path)


def _fits(path: Path) -> Spectra:
    try:
        hdul = fits.open(path)
    except OSError as exc:
        raise GridFileError(f"{path}: not a readable FITS file ({exc})") from exc
    with hdul:
        if "SPECTRA" in hdul and "WAVELENGTH" in hdul:
            spectra = hdul["SPECTRA"]
            column = _find(spectra.columns.names, FLUX_COLUMNS)
            if column is None:
                raise GridFileError(f"{path}: HDU 'SPECTRA' has no FLUX column")
            return _spectra(fits_wavelength(hdul, path), spectra.data[column], None, path)
        for hdu in hdul:
            if isinstance(hdu, fits.BinTableHDU):
                wave = _find(hdu.columns.names, WAVELENGTH_COLUMNS)
                flux = _find(hdu.columns.names, FLUX_COLUMNS)
                if wave and flux:
                    unit = hdu.columns[wave].unit
                    # One row holding whole arrays, or one row per pixel.
                    return _spectra(np.ravel(hdu.data[wave]), np.ravel(hdu.data[flux]), unit, path)
            elif hdu.data is not None and hdu.data.ndim == 1:
                return _spectra(_linear_axis(hdu.header, hdu.data.size, path), hdu.data, None, path)
    raise GridFileError(
        f"{path}: no spectrum found: expected a 1-D image with a wavelength WCS or a table "
        f"with wavelength and flux columns"
    )


def _linear_axis(header: fits.Header, n: int, path: Path) -> np.ndarray:
    """Wavelengths in Angstrom from a linear (or log-linear, DC-FLAG = 1) FITS WCS."""
    start = header.get("CRVAL1")
    step = header.get("CDELT1", header.get("CD1_1"))
    if start is None or step is None:
        raise GridFileError(f"{path}: 1-D image without CRVAL1 and CDELT1/CD1_1 keywords")
    pixel = np.arange(n) + 1.0 - header.get("CRPIX1", 1.0)
    axis = start + step * pixel
    if header.get("DC-FLAG") == 1:
        axis = 10.0**axis
    unit = header.get("CUNIT1", "Angstrom")
    try:
        return (axis * u.Unit(unit)).to_value(u.AA)
    except (ValueError, u.UnitsError) as exc:
        raise GridInputError(f"{path}: CUNIT1 = {unit!r} is not a length unit") from exc


def _text(path: Path) -> Spectra:
    from astropy.table import Table

    try:
        table = Table.read(path, format="ascii")
    except Exception as exc:  # astropy raises many kinds for unparseable text
        raise GridFileError(f"{path}: not a readable text table ({exc})") from exc
    if len(table.colnames) < 2:
        raise GridFileError(f"{path}: need a wavelength and a flux column")
    wave = _find(table.colnames, WAVELENGTH_COLUMNS) or table.colnames[0]
    flux = _find(table.colnames, FLUX_COLUMNS) or table.colnames[1]
    unit = str(table[wave].unit) if table[wave].unit is not None else None
    return _spectra(table[wave], table[flux], unit, path)


def _find(names: list[str], wanted: tuple[str, ...]) -> str | None:
    for name in names:
        if name.lower() in wanted:
            return name
    return None
