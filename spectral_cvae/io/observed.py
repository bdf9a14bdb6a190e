"""Reading one spectrum to fit: FITS, text tables, HDF5 and specutils objects.

One spectrum per file: wavelengths (converted to Angstrom), flux, and where the file gives
them, flux uncertainties, a pixel mask, whether the wavelengths are in air or vacuum, and
the stellar parameters (files written by :func:`~spectral_cvae.io.write_spectra`). Nothing
is resampled or cleaned here; :func:`spectral_cvae.fitting.fit_spectrum` decides which
pixels it uses.

>>> from spectral_cvae.io import read_spectrum                 # doctest: +SKIP
>>> star = read_spectrum("star.fits")
>>> star.wavelength, star.flux, star.error, star.medium
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from astropy import units as u
from astropy.io import fits

from ..errors import SpectrumFileError, SpectrumInputError
from ..specutils_spectra import specutils_arrays
from . import fits as fits_layout
from . import text as text_layout
from .conventions import (
    ERROR_COLUMNS,
    FITS_SUFFIXES,
    FLUX_COLUMNS,
    HDF5_SUFFIXES,
    IVAR_COLUMNS,
    MASK_COLUMNS,
    TEXT_SUFFIXES,
    WAVELENGTH_COLUMNS,
    find_column,
    linear_axis,
    to_angstrom,
)
from .hdf5 import read_hdf5
from .spectra import Spectra

Medium = Literal["air", "vacuum"]

ERROR_EXTENSIONS = ("ERROR", "ERR", "SIGMA", "UNCERTAINTY", "NOISE")
IVAR_EXTENSIONS = ("IVAR", "INVVAR")


@dataclass(frozen=True)
class ObservedSpectrum:
    """One observed spectrum as read from a file.

    Attributes
    ----------
    wavelength
        Angstrom, float64, shape ``(n_pixels,)``, strictly increasing.
    flux
        Flux, float64, shape ``(n_pixels,)``; NaN where the file has no value.
    error
        One-sigma flux uncertainty, same shape, or None when the file gives none.
    mask
        True for pixels the file flags as bad (the numpy.ma / specutils convention), or None.
    medium
        ``"air"`` or ``"vacuum"`` when the file says which (FITS ``CTYPE1`` AWAV/WAVE,
        ``AIRORVAC``, ``VACUUM``, a column named ``awav``), else None.
    source
        The file name (or a description), for messages.
    meta
        A few header values worth carrying along (object name, date), as plain types.
    parameters
        The stellar parameters the file records, by name, as Quantities (``teff`` in K...),
        or None: observed spectra have none, generated and grid spectra do.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None = None
    mask: np.ndarray | None = None
    medium: Medium | None = None
    source: str = "spectrum"
    meta: dict = field(default_factory=dict)
    parameters: dict[str, u.Quantity] | None = None

    def __post_init__(self) -> None:
        n = np.shape(self.wavelength)
        for name in ("flux", "error", "mask"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != n:
                raise SpectrumInputError(
                    f"{self.source}: {name} has shape {np.shape(value)}, the wavelengths {n}"
                )


def read_spectrum(path: str | os.PathLike) -> ObservedSpectrum:
    """Read one spectrum from a FITS, text or HDF5 file.

    Parameters
    ----------
    path
        - a file of one spectrum written by :func:`~spectral_cvae.io.write_spectra`
          (FITS, CSV or HDF5), its parameters included;
        - FITS: a 1-D image with a linear or log-linear wavelength WCS (``CRVAL1``,
          ``CDELT1`` or ``CD1_1``, ``CRPIX1``, ``CUNIT1``; ``DC-FLAG = 1`` or ``CTYPE1``
          with ``LOG`` for log10 wavelengths), with the uncertainty in an extension named
          ERROR / SIGMA / UNCERTAINTY (or IVAR); or a table with a wavelength column and a
          flux column (and optionally error / ivar / mask columns), one row per pixel or
          one row holding arrays.
        - text (``.csv``, ``.txt``, ``.dat``, ``.ecsv``): columns named like wavelength,
          flux, error; else the first two (three) columns are wavelength, flux (error).

        Wavelength units come from the file (``CUNIT1``, ``TUNIT``, an ECSV unit);
        Angstrom when none is given.

    Returns
    -------
    ObservedSpectrum

    Raises
    ------
    SpectrumFileError
        The file is missing, unreadable or holds no recognizable spectrum (the message
        names the file).
    SpectrumInputError
        Wavelengths not increasing, a unit that is not a length, mismatched lengths.
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFileError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(FITS_SUFFIXES):
        return _read_fits(path)
    if name.endswith(TEXT_SUFFIXES):
        return _read_text(path)
    if name.endswith(HDF5_SUFFIXES):
        return _only_spectrum(read_hdf5(path))
    raise SpectrumFileError(
        f"{path}: unknown suffix {path.suffix!r}; expected FITS ({', '.join(FITS_SUFFIXES)}), "
        f"a text table ({', '.join(TEXT_SUFFIXES)}) or HDF5 ({', '.join(HDF5_SUFFIXES)})"
    )


def _only_spectrum(spectra: Spectra) -> ObservedSpectrum:
    """The one spectrum of a file in the layout :func:`~spectral_cvae.io.write_spectra` writes."""
    if len(spectra.flux) != 1:
        raise SpectrumFileError(
            f"{spectra.source}: holds {len(spectra.flux)} spectra, not one; read them with "
            f"read_spectra"
        )
    parameters = None
    if spectra.parameters is not None:
        parameters = {name: spectra.parameters[name][0] for name in spectra.parameters.colnames}
    return _spectrum(
        spectra.wavelength, spectra.flux[0], None, None, None, spectra.source, {}, parameters
    )


def from_specutils(spectrum: object, source: str = "specutils spectrum") -> ObservedSpectrum:
    """Convert a specutils ``Spectrum`` / ``Spectrum1D`` (one spectrum).

    The spectral axis is converted to Angstrom (a frequency or energy axis is converted
    through the spectral equivalency); the uncertainty, of any astropy kind (standard
    deviation, variance, inverse variance), becomes a standard deviation; ``mask`` (True =
    bad) is kept. A decreasing axis is reversed.
    """
    wavelength, flux, error, mask = specutils_arrays(spectrum, source)
    if flux.ndim != 1:
        raise SpectrumInputError(
            f"{source}: expected one spectrum, got flux of shape {flux.shape}; fit them one "
            f"at a time"
        )
    return _spectrum(wavelength, flux, error, mask, None, source, {})


# -- FITS ------------------------------------------------------------------------------------
def _read_fits(path: Path) -> ObservedSpectrum:
    try:
        hdul = fits.open(path)
        hdul.verify("silentfix")
    except (OSError, ValueError) as exc:
        raise SpectrumFileError(f"{path}: not a readable FITS file ({exc})") from exc
    with hdul:
        if fits_layout.holds_layout(hdul):
            return _only_spectrum(fits_layout.read_fits(hdul, path))
        for hdu in hdul:
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                spectrum = _fits_table(hdu, path)
                if spectrum is not None:
                    return spectrum
            elif hdu.data is not None and np.ndim(hdu.data) == 1:
                return _fits_image(hdul, hdu, path)
            elif hdu.data is not None and np.ndim(hdu.data) == 2 and hdu.data.shape[0] == 1:
                return _fits_image(hdul, hdu, path)
    raise SpectrumFileError(
        f"{path}: no spectrum found: expected a 1-D image with a wavelength WCS, or a table "
        f"with wavelength and flux columns"
    )


def _fits_image(hdul: fits.HDUList, hdu, path: Path) -> ObservedSpectrum:
    flux = np.ravel(np.asarray(hdu.data, dtype=float))
    header = hdu.header
    wavelength = linear_axis(header, flux.size, path)
    error = None
    for name in ERROR_EXTENSIONS + IVAR_EXTENSIONS:
        if name in hdul and hdul[name].data is not None:
            values = np.ravel(np.asarray(hdul[name].data, dtype=float))
            if values.size != flux.size:
                raise SpectrumFileError(
                    f"{path}: extension {name} has {values.size} values, the flux {flux.size}"
                )
            error = _ivar_to_sigma(values) if name in IVAR_EXTENSIONS else values
            break
    mask = None
    if "MASK" in hdul and hdul["MASK"].data is not None:
        mask = np.ravel(np.asarray(hdul["MASK"].data)) != 0
        if mask.size != flux.size:
            raise SpectrumFileError(
                f"{path}: extension MASK has {mask.size} values, not {flux.size}"
            )
    return _spectrum(wavelength, flux, error, mask, _header_medium(header), path, _meta(header))


def _fits_table(hdu, path: Path) -> ObservedSpectrum | None:
    names = list(hdu.columns.names)
    wave, flux = find_column(names, WAVELENGTH_COLUMNS), find_column(names, FLUX_COLUMNS)
    if wave is None or flux is None:
        return None
    wavelength = np.ravel(np.asarray(hdu.data[wave], dtype=float))
    if wave.lower() == "loglam":
        wavelength = 10.0**wavelength
        unit = "Angstrom"
    else:
        unit = hdu.columns[wave].unit or "Angstrom"
    wavelength = to_angstrom(wavelength, unit, path)
    error, mask = _error_and_mask({n: np.ravel(hdu.data[n]) for n in names}, names)
    medium = _header_medium(hdu.header) or ("air" if wave.lower() == "awav" else None)
    return _spectrum(
        wavelength, np.ravel(hdu.data[flux]), error, mask, medium, path, _meta(hdu.header)
    )


def _header_medium(header: fits.Header) -> Medium | None:
    ctype = str(header.get("CTYPE1", "")).upper()
    if ctype.startswith("AWAV"):
        return "air"
    if ctype.startswith("WAVE"):
        return "vacuum"
    flag = header.get("AIRORVAC", header.get("AIR_VAC"))
    if isinstance(flag, str):
        flag = flag.strip().lower()
        if flag.startswith("air"):
            return "air"
        if flag.startswith("vac"):
            return "vacuum"
    if isinstance(header.get("VACUUM"), bool):
        return "vacuum" if header["VACUUM"] else "air"
    return None


def _meta(header: fits.Header) -> dict:
    keep = ("OBJECT", "DATE-OBS", "MJD-OBS", "INSTRUME", "TELESCOP", "EXPTIME")
    return {k.lower(): _plain(header[k]) for k in keep if k in header}


def _plain(value: object) -> object:
    return value if isinstance(value, bool | int | float | str) else str(value)


# -- text ------------------------------------------------------------------------------------
def _read_text(path: Path) -> ObservedSpectrum:
    table = text_layout.read_table(path)
    if text_layout.holds_layout(table):
        return _only_spectrum(text_layout.read_csv(table, path))
    names = list(table.colnames)
    if len(names) < 2:
        raise SpectrumFileError(f"{path}: need at least a wavelength and a flux column")
    wave = find_column(names, WAVELENGTH_COLUMNS) or names[0]
    flux = find_column(names, FLUX_COLUMNS) or names[1]
    columns = {n: np.asarray(table[n]) for n in names}
    error, mask = _error_and_mask(columns, names)
    if error is None and find_column(names, WAVELENGTH_COLUMNS) is None and len(names) >= 3:
        # Unnamed columns: the conventional third column is the uncertainty.
        error = np.asarray(table[names[2]], dtype=float)
    unit = str(table[wave].unit) if table[wave].unit is not None else "Angstrom"
    try:
        wavelength = np.asarray(table[wave], dtype=float)
        values = np.asarray(table[flux], dtype=float)
    except (TypeError, ValueError) as exc:
        raise SpectrumFileError(f"{path}: columns {wave!r} and {flux!r} must be numbers") from exc
    medium = "air" if wave.lower() == "awav" else None
    return _spectrum(to_angstrom(wavelength, unit, path), values, error, mask, medium, path, {})


# -- shared ----------------------------------------------------------------------------------
def _error_and_mask(
    columns: dict[str, np.ndarray], names: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    error = None
    if (name := find_column(names, ERROR_COLUMNS)) is not None:
        error = np.asarray(columns[name], dtype=float)
    elif (name := find_column(names, IVAR_COLUMNS)) is not None:
        error = _ivar_to_sigma(np.asarray(columns[name], dtype=float))
    mask = None
    if (name := find_column(names, MASK_COLUMNS)) is not None:
        mask = np.asarray(columns[name]) != 0
    return error, mask


def _ivar_to_sigma(ivar: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ivar > 0, 1.0 / np.sqrt(ivar), np.inf)


def _spectrum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    error: np.ndarray | None,
    mask: np.ndarray | None,
    medium: Medium | None,
    path: Path | str,
    meta: dict,
    parameters: dict[str, u.Quantity] | None = None,
) -> ObservedSpectrum:
    source = str(path)
    wavelength = np.asarray(wavelength, dtype=float).ravel()
    flux = np.asarray(flux, dtype=float).ravel()
    if flux.size != wavelength.size:
        raise SpectrumInputError(
            f"{source}: {flux.size} flux values for {wavelength.size} wavelengths"
        )
    if wavelength.size < 2:
        raise SpectrumFileError(f"{source}: a spectrum needs at least 2 pixels")
    if wavelength.size > 1 and wavelength[0] > wavelength[-1]:
        # Frequency-ordered axes and some archives run red to blue.
        order = slice(None, None, -1)
        wavelength, flux = wavelength[order], flux[order]
        error = None if error is None else np.asarray(error)[order]
        mask = None if mask is None else np.asarray(mask)[order]
    if not np.all(np.isfinite(wavelength)):
        raise SpectrumInputError(f"{source}: some wavelengths are not finite")
    steps = np.diff(wavelength)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise SpectrumInputError(
            f"{source}: wavelengths are not strictly increasing at pixel {i + 1} "
            f"({wavelength[i]:.4f} A followed by {wavelength[i + 1]:.4f} A)"
        )
    return ObservedSpectrum(
        wavelength,
        flux,
        None if error is None else np.asarray(error, dtype=float).ravel(),
        None if mask is None else np.asarray(mask, dtype=bool).ravel(),
        medium,
        source,
        meta,
        parameters,
    )
