"""Writing generated spectra: FITS, CSV or a spectral-cvae HDF5 grid file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GridInputError
from ..files import atomic_path
from ..parameters import ParameterSpace

FORMATS = {".fits": "fits", ".fit": "fits", ".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5"}


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
        ``.fits``: HDUs ``FLUX`` (n, n_pixels), ``WAVELENGTH`` (Angstrom), ``PARAMETERS``
        (table with units) and ``FLUX_STD`` if given. ``.csv``: a ``wavelength`` column
        and one ``flux_k`` (and ``flux_std_k``) column per spectrum, parameters in ``#``
        comment lines. ``.h5``: a spectral-cvae grid file (``SpectralGrid.open`` reads it),
        with the spread as dataset ``flux_std``.
    wavelength
        Wavelengths, Angstrom, shape ``(n_pixels,)``.
    flux
        Continuum-normalized flux, shape ``(n, n_pixels)``.
    parameters
        Physical parameters, shape ``(n, n_parameters)`` in the order of ``space``.
    space
        Names and units of the parameters.
    std
        Spread over z, shape ``(n, n_pixels)``, or None.
    provenance
        JSON-ready description stored in the file (HDF5) or its header (FITS).
    overwrite
        Replace an existing file; otherwise it is refused before anything is written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise GridInputError(
            f"{path}: unknown output format {path.suffix!r}; use one of {', '.join(FORMATS)}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float32))
    std = None if std is None else np.atleast_2d(np.asarray(std, dtype=np.float32))
    with atomic_path(path, suffix=f".tmp{path.suffix}") as temporary:
        if kind == "fits":
            _fits(temporary, wavelength, flux, parameters, space, std)
        elif kind == "csv":
            _csv(temporary, wavelength, flux, parameters, space, std)
        else:
            _hdf5(temporary, wavelength, flux, parameters, space, std, provenance)
    return path


def _fits(path, wavelength, flux, parameters, space, std) -> None:
    from astropy.io import fits
    from astropy.table import Table

    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "spectral-cvae"
    primary.header["NSPEC"] = (len(flux), "number of generated spectra")
    hdus = [primary, fits.ImageHDU(flux, name="FLUX")]
    hdus[-1].header["BUNIT"] = ("", "continuum-normalized flux")
    hdus.append(fits.ImageHDU(np.asarray(wavelength, dtype=np.float64), name="WAVELENGTH"))
    hdus[-1].header["BUNIT"] = "Angstrom"
    table = Table(
        {n: parameters[:, k] for k, n in enumerate(space.names)},
        units={n: u for n, u in zip(space.names, space.units) if u},
    )
    hdus.append(fits.table_to_hdu(table))
    hdus[-1].name = "PARAMETERS"
    if std is not None:
        hdus.append(fits.ImageHDU(std, name="FLUX_STD"))
    fits.HDUList(hdus).writeto(path)


def _csv(path, wavelength, flux, parameters, space, std) -> None:
    single = len(flux) == 1
    columns, names = [np.asarray(wavelength)], ["wavelength"]
    for k in range(len(flux)):
        columns.append(flux[k])
        names.append("flux" if single else f"flux_{k}")
        if std is not None:
            columns.append(std[k])
            names.append("flux_std" if single else f"flux_std_{k}")
    header = ["spectral-cvae generated spectra; wavelength in Angstrom, continuum-normalized flux"]
    for k, row in enumerate(parameters):
        values = ", ".join(
            f"{n} = {v:.6g} {u}".rstrip() for n, u, v in zip(space.names, space.units, row)
        )
        header.append(f"{'flux' if single else f'flux_{k}'}: {values}")
    with open(path, "w") as handle:
        handle.writelines(f"# {line}\n" for line in header)
        handle.write(",".join(names) + "\n")
        fmt = ["%.4f"] + ["%.7g"] * (len(names) - 1)
        np.savetxt(handle, np.column_stack(columns), delimiter=",", fmt=fmt)


def _hdf5(path, wavelength, flux, parameters, space, std, provenance) -> None:
    import h5py

    from ..grid.store import GridWriter

    # Extrapolated spectra are written too: widen the ranges to cover them.
    low = np.minimum(space.minimum, parameters.min(axis=0))
    high = np.maximum(space.maximum, parameters.max(axis=0))
    space = space.with_ranges(**{n: (lo, hi) for n, lo, hi in zip(space.names, low, high)})
    path.unlink(missing_ok=True)
    with GridWriter(path, wavelength, space, provenance or {}, overwrite=True) as writer:
        writer.append(flux, parameters)
    if std is not None:
        with h5py.File(path, "r+") as handle:
            handle.create_dataset("flux_std", data=std, compression="gzip", shuffle=True)
