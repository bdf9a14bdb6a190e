"""How spectrum files name and scale their axes: column names, wavelength units, FITS WCS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

from ..errors import SpectrumFileError, SpectrumInputError

WAVELENGTH_COLUMNS = ("wavelength", "wave", "lambda", "wavelength_angstrom", "awav", "loglam")
FLUX_COLUMNS = ("flux", "normalized_flux", "flux_normalized", "fnorm")
ERROR_COLUMNS = ("error", "err", "sigma", "uncertainty", "flux_error", "flux_err", "e_flux")
IVAR_COLUMNS = ("ivar", "inverse_variance", "flux_ivar")
MASK_COLUMNS = ("mask", "bad", "bad_pixel")
TEXT_SUFFIXES = (".csv", ".txt", ".dat", ".ascii", ".ecsv", ".tsv")
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
HDF5_SUFFIXES = (".h5", ".hdf5")


def find_column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of ``names`` that is one of ``wanted`` (case-insensitive), or None."""
    for name in names:
        if name.lower() in wanted:
            return name
    return None


def to_angstrom(values: object, unit: object, source: Path | str) -> np.ndarray:
    """Wavelengths in Angstrom from ``unit`` (any length, or a frequency or energy).

    Raises
    ------
    SpectrumInputError
        If ``unit`` is not a spectral unit; the message names ``source``.
    """
    try:
        return (np.asarray(values, dtype=float) * u.Unit(unit or "Angstrom")).to_value(
            u.AA, equivalencies=u.spectral()
        )
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise SpectrumInputError(f"{source}: wavelength unit {unit!r} is not a length") from exc


def linear_axis(header: fits.Header, n: int, source: Path | str) -> np.ndarray:
    """Wavelengths in Angstrom from a linear (or log10-linear) 1-D FITS WCS.

    Parameters
    ----------
    header
        ``CRVAL1``, ``CDELT1`` or ``CD1_1``, ``CRPIX1`` (default 1), ``CUNIT1`` (default
        Angstrom); ``DC-FLAG = 1`` or a ``CTYPE1`` with ``LOG`` for log10 wavelengths.
    n
        Number of pixels.
    source
        The file, for messages.
    """
    start = header.get("CRVAL1")
    step = header.get("CDELT1", header.get("CD1_1"))
    if start is None or step is None:
        raise SpectrumFileError(
            f"{source}: 1-D image without a wavelength WCS (CRVAL1 and CDELT1 or CD1_1)"
        )
    pixel = np.arange(n) + 1.0 - float(header.get("CRPIX1", 1.0))
    axis = float(start) + float(step) * pixel
    ctype = str(header.get("CTYPE1", "")).upper()
    if header.get("DC-FLAG") == 1 or "LOG" in ctype:
        axis = 10.0**axis
    return to_angstrom(axis, header.get("CUNIT1"), source)
