"""Reading and writing many spectra: the format is chosen by the file's suffix.

:func:`write_spectra` writes one layout per container (FITS: :mod:`.fits`, CSV:
:mod:`.text`, HDF5: :mod:`.hdf5`), atomically; :func:`read_spectra` reads those back with
their parameters and units, and other files of spectra as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..errors import (
    ConfigError,
    SpectrumFileError,
    SpectrumInputError,
)
from ..files import atomic_path
from ..parameters import ParameterSpace
from . import fits as fits_layout
from . import text as text_layout
from .conventions import FITS_SUFFIXES, HDF5_SUFFIXES, TEXT_SUFFIXES
from .hdf5 import read_hdf5, write_hdf5
from .observed import read_spectrum
from .spectra import Spectra, parameter_table

FORMATS = {".fits": "fits", ".fit": "fits", ".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5"}
"""Suffixes :func:`write_spectra` writes, and their container."""


def write_spectra(
    path: str | os.PathLike,
    wavelength: np.ndarray,
    flux: np.ndarray,
    parameters: np.ndarray,
    space: ParameterSpace,
    std: np.ndarray | None = None,
    provenance: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write spectra to a file chosen by its extension, atomically.

    Parameters
    ----------
    path
        ``.fits``: a ``SPECTRA`` table (parameters with units, ``FLUX``, ``FLUX_STD``) and a
        ``WAVELENGTH`` HDU, the layout the grid's table reader also reads. ``.csv``: a
        ``wavelength`` column and one ``flux`` (and ``flux_std``) column per spectrum
        under an ECSV header with the units and parameters. ``.h5``: a spectral-cvae grid
        file (``SpectralGrid.open`` reads it), the spread as dataset ``flux_std``.
    wavelength
        Wavelengths, Angstrom, shape ``(n_pixels,)``.
    flux
        Continuum-normalized flux, shape ``(n, n_pixels)`` (or ``(n_pixels,)``).
    parameters
        Physical parameters, shape ``(n, n_parameters)`` in the order of ``space``.
    space
        Names and units of the parameters.
    std
        Spread over z, shape of ``flux``, or None.
    provenance
        JSON-ready description stored in the file (HDF5) or its primary header (FITS).
    overwrite
        Replace an existing file; otherwise it is refused before anything is written.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ConfigError
        If the suffix is not one of :data:`FORMATS`.
    SpectrumInputError
        If the shapes disagree.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"{path}: unknown output format {path.suffix!r}; use one of {', '.join(FORMATS)}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    parameters = np.atleast_2d(np.asarray(parameters, dtype=np.float64))
    if parameters.shape != (len(np.atleast_2d(flux)), len(space)):
        raise SpectrumInputError(
            f"{path}: parameters of shape {parameters.shape} do not agree with flux of shape "
            f"{np.shape(flux)}; expected (n_spectra, {len(space)})"
        )
    # float32 is what the flux is worth (the decoder's precision) and halves the files.
    spectra = Spectra.checked(
        wavelength,
        np.atleast_2d(np.asarray(flux, dtype=np.float32)),
        str(path),
        None if std is None else np.atleast_2d(np.asarray(std, dtype=np.float32)),
        parameter_table(space.names, space.units, parameters),
    )
    with atomic_path(path, suffix=f".tmp{path.suffix}") as temporary:
        if kind == "fits":
            fits_layout.write_fits(temporary, spectra, provenance)
        elif kind == "csv":
            text_layout.write_csv(temporary, spectra)
        else:
            write_hdf5(temporary, spectra, space, provenance)
    return path


def read_spectra(path: str | os.PathLike) -> Spectra:
    """Read the spectra of a file, whatever its kind.

    Parameters
    ----------
    path
        - a file written by :func:`write_spectra` (FITS, CSV, HDF5): the spectra, their
          spread and their parameters with units;
        - a spectral-cvae grid (``.h5``), or an HDF5 / NPZ file with ``wavelength``
          (Angstrom, or the unit in its ``unit`` attribute) and ``flux`` (1-D or 2-D);
        - any file of one spectrum that :func:`~spectral_cvae.io.read_spectrum` reads (FITS
          image with a wavelength WCS or table, text table).

    Returns
    -------
    Spectra

    Raises
    ------
    SpectrumFileError
        If the file is missing, unreadable or holds no recognizable spectrum.
    SpectrumInputError
        If wavelengths and flux disagree in length.
    GridInputError
        If the wavelengths are not increasing (:func:`check_wavelength`).
    """
    path = Path(path)
    if not path.is_file():
        raise SpectrumFileError(f"{path}: no such file")
    name = path.name.lower()
    if name.endswith(HDF5_SUFFIXES):
        return read_hdf5(path)
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("wavelength", "flux") if k not in archive.files]
            if missing:
                raise SpectrumFileError(f"{path}: no array {missing[0]!r}")
            return Spectra.checked(archive["wavelength"], archive["flux"], str(path))
    if name.endswith(FITS_SUFFIXES):
        try:
            hdul = fits.open(path)
        except OSError as exc:
            raise SpectrumFileError(f"{path}: not a readable FITS file ({exc})") from exc
        with hdul:
            if fits_layout.holds_layout(hdul):
                return fits_layout.read_fits(hdul, path)
    elif name.endswith(TEXT_SUFFIXES):
        table = text_layout.read_table(path)
        if text_layout.holds_layout(table):
            return text_layout.read_csv(table, path)
    else:
        raise SpectrumFileError(
            f"{path}: unknown suffix {path.suffix!r}; expected .h5/.hdf5, .npz, FITS "
            f"({', '.join(FITS_SUFFIXES)}) or a text table ({', '.join(TEXT_SUFFIXES)})"
        )
    # One spectrum in another layout: an observed spectrum, a table of wavelength and flux.
    one = read_spectrum(path)
    return Spectra.checked(one.wavelength, one.flux, one.source)
