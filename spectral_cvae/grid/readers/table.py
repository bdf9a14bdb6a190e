"""The generic grid layout in HDF5, FITS-table and NPZ containers.

The layout is specified for users in ``docs/grid_formats.md``: a wavelength axis in
Angstrom, a 2-D array of continuum-normalized flux with one row per spectrum, and one value
per spectrum for every parameter. :func:`read_table` reads any of the three containers into
a :class:`~spectral_cvae.grid.store.SpectralGrid`, optionally resampled onto another
wavelength grid.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy import units as u
from astropy.io import fits

from ...errors import GridFileError, GridInputError, SpectralCVAEError
from ...io.fits import read_wavelength_hdu
from ...parameters import PAPER_SPACE, ParameterSpace
from ..checks import OutOfRangePolicy
from ..store import SpectralGrid, open_hdf5
from ..wavelength import check_wavelength, resample

CONTAINERS = {".h5": "hdf5", ".hdf5": "hdf5", ".fits": "fits", ".fit": "fits", ".npz": "npz"}
"""File suffix -> container."""
BATCH_BYTES = 64 << 20
"""Flux read per step (as float64), bounding the memory used beyond the result."""


@dataclass(frozen=True)
class _Contents:
    """What a container holds, with the flux left on disk until ``read_rows`` is called."""

    wavelength: np.ndarray
    parameters: dict[str, np.ndarray]
    flux_shape: tuple[int, ...]
    read_rows: Callable[[int, int], np.ndarray]


def read_table(
    path: str | os.PathLike,
    wavelength: np.ndarray | None = None,
    *,
    space: ParameterSpace = PAPER_SPACE,
    on_out_of_range: OutOfRangePolicy = "error",
    conserve_flux: bool = True,
) -> SpectralGrid:
    """Read a grid in the generic layout (HDF5, FITS table or NPZ).

    Parameters
    ----------
    path
        A ``.h5``/``.hdf5``, ``.fits``/``.fit`` or ``.npz`` file in the layout of
        ``docs/grid_formats.md``.
    wavelength
        Wavelengths in Angstrom to resample the spectra onto (they must lie inside the
        file's range); None keeps the file's wavelength grid.
    space
        Parameter space of the grid: one parameter per name is read from the file.
    on_out_of_range
        ``"error"`` or ``"drop"`` for spectra whose parameters lie outside ``space``.
    conserve_flux
        Resample by averaging over output pixels (True) or by linear interpolation (False);
        see :func:`~spectral_cvae.grid.wavelength.resample`.

    Returns
    -------
    SpectralGrid
        In memory.

    Raises
    ------
    GridFileError
        If the suffix is unknown, the file is missing, truncated or corrupt, or a dataset,
        column or HDU is missing (the message names it).
    GridInputError
        If shapes disagree, the wavelengths are not strictly increasing or do not cover
        ``wavelength``, or a flux or parameter value is bad (naming file and spectrum).
    """
    path = Path(path)
    container = CONTAINERS.get(path.suffix.lower())
    if container is None:
        raise GridFileError(
            f"{path}: unknown grid file suffix {path.suffix!r}; expected one of "
            f"{', '.join(CONTAINERS)}"
        )
    if not path.is_file():
        raise GridFileError(f"{path}: no such file")
    source = str(path)
    opener = {"hdf5": _hdf5_contents, "fits": _fits_contents, "npz": _npz_contents}[container]
    with opener(path, space) as contents:
        native = contents.wavelength
        n_spectra = _check_shapes(contents, space, source)
        target = native if wavelength is None else check_wavelength(wavelength, source)
        flux = np.empty((n_spectra, target.size), dtype=np.float32)
        batch = max(1, BATCH_BYTES // (8 * native.size))
        for start in range(0, n_spectra, batch):
            stop = min(start + batch, n_spectra)
            rows = contents.read_rows(start, stop)
            if wavelength is not None:
                rows = resample(native, rows, target, conserve_flux, source)
            flux[start:stop] = rows
    provenance = {
        "reader": "table",
        "file": source,
        "container": container,
        "resampled": wavelength is not None,
        "conserve_flux": conserve_flux,
    }
    return SpectralGrid(
        target, flux, contents.parameters, space, provenance, on_out_of_range, source
    )


def _check_shapes(contents: _Contents, space: ParameterSpace, source: str) -> int:
    """Number of spectra, after checking flux and parameters agree with the wavelengths."""
    shape, n_pixels = contents.flux_shape, contents.wavelength.size
    if len(shape) != 2 or shape[1] != n_pixels:
        raise GridInputError(
            f"{source}: flux of shape {shape} does not match the {n_pixels} wavelengths; "
            f"expected (n_spectra, {n_pixels})"
        )
    for name in space.names:
        length = np.shape(contents.parameters[name])
        if length != (shape[0],):
            raise GridInputError(
                f"{source}: parameter {name!r} has shape {length}, but there are {shape[0]} "
                f"spectra; expected ({shape[0]},)"
            )
    return shape[0]


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the errors of the file libraries into a GridFileError naming the file."""
    try:
        yield
    except SpectralCVAEError:
        raise
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise GridFileError(
            f"{path}: cannot be read, the file is truncated or corrupt ({exc})"
        ) from exc


# -- containers --------------------------------------------------------------------------
@contextmanager
def _hdf5_contents(path: Path, space: ParameterSpace) -> Iterator[_Contents]:
    handle = open_hdf5(path, "r")
    try:
        with _reading(path):
            wavelength = _dataset(handle, "wavelength", path)
            unit = wavelength.attrs.get("unit")
            wavelength = _angstrom(wavelength[:], _text(unit) if unit is not None else None, path)
            flux = _dataset(handle, "flux", path)
            if "parameters" in handle:
                parameters = _dataset(handle, "parameters", path)
                if "names" not in parameters.attrs:
                    raise GridFileError(f"{path}: dataset 'parameters' has no attribute 'names'")
                names = [_text(name) for name in parameters.attrs["names"]]
                columns = _from_matrix(parameters[:], names, path, "dataset 'parameters'")
            else:
                columns = {n: _dataset(handle, n, path, n)[:] for n in space.names}

        def read_rows(start: int, stop: int) -> np.ndarray:
            with _reading(path):
                return np.asarray(flux[start:stop], dtype=float)

        yield _Contents(wavelength, _pick(columns, space, path, "dataset"), flux.shape, read_rows)
    finally:
        handle.close()


@contextmanager
def _fits_contents(path: Path, space: ParameterSpace) -> Iterator[_Contents]:
    with _reading(path):
        hdul = fits.open(path, memmap=True)
    try:
        with _reading(path):
            spectra = _hdu(hdul, "SPECTRA", path, (fits.BinTableHDU,))
            flux = spectra.data[_column(spectra, "FLUX", path)]
            wavelength = read_wavelength_hdu(hdul, path, GridFileError)
            # Copies: the memory map closes with the file.
            columns = {
                name: np.array(spectra.data[_column(spectra, name, path, name)], dtype=float)
                for name in space.names
            }

        def read_rows(start: int, stop: int) -> np.ndarray:
            with _reading(path):
                return np.asarray(flux[start:stop], dtype=float)

        yield _Contents(wavelength, columns, flux.shape, read_rows)
    finally:
        hdul.close()


@contextmanager
def _npz_contents(path: Path, space: ParameterSpace) -> Iterator[_Contents]:
    with _reading(path):
        archive = np.load(path, allow_pickle=False)
    try:
        with _reading(path):
            wavelength = _angstrom(_array(archive, "wavelength", path), None, path)
            # NPZ members cannot be read in parts: the flux is loaded whole.
            flux = _array(archive, "flux", path)
            if "parameters" in archive.files:
                names = [str(name) for name in _array(archive, "names", path)]
                columns = _from_matrix(archive["parameters"], names, path, "array 'parameters'")
            else:
                columns = {n: _array(archive, n, path, n) for n in space.names}

        def read_rows(start: int, stop: int) -> np.ndarray:
            return np.asarray(flux[start:stop], dtype=float)

        yield _Contents(wavelength, _pick(columns, space, path, "array"), flux.shape, read_rows)
    finally:
        archive.close()


# -- helpers -----------------------------------------------------------------------------
def _dataset(
    handle: h5py.File, name: str, path: Path, parameter: str | None = None
) -> h5py.Dataset:
    item = handle.get(name)
    if not isinstance(item, h5py.Dataset):
        raise GridFileError(f"{path}: {_missing('dataset', name, parameter)}")
    return item


def _array(
    archive: np.lib.npyio.NpzFile, name: str, path: Path, parameter: str | None = None
) -> np.ndarray:
    if name not in archive.files:
        raise GridFileError(f"{path}: {_missing('array', name, parameter)}")
    return archive[name]


def _hdu(
    hdul: fits.HDUList, name: str, path: Path, kinds: tuple[type, ...]
) -> fits.hdu.base.ExtensionHDU | fits.PrimaryHDU:
    try:
        hdu = hdul[name]
    except KeyError:
        raise GridFileError(f"{path}: no HDU named {name!r}") from None
    if not isinstance(hdu, kinds):
        expected = " or ".join(kind.__name__ for kind in kinds)
        raise GridFileError(f"{path}: HDU {name!r} is a {type(hdu).__name__}, not {expected}")
    return hdu


def _column(hdu: fits.BinTableHDU, name: str, path: Path, parameter: str | None = None) -> str:
    """The column's name as stored, found case-insensitively."""
    for stored in hdu.columns.names:
        if stored.lower() == name.lower():
            return stored
    what = _missing("column", name.upper(), parameter)
    raise GridFileError(f"{path}: HDU {hdu.name!r} has {what}")


def _missing(kind: str, name: str, parameter: str | None) -> str:
    if parameter is None:
        return f"no {kind} {name!r}"
    return f"no {kind} {name!r} for parameter {parameter!r} (nor a 'parameters' {kind})"


def _angstrom(values: object, unit: str | None, path: Path) -> np.ndarray:
    """Wavelengths converted from ``unit`` (Angstrom when None) and checked."""
    wavelength = np.array(values, dtype=float)
    if unit:
        try:
            wavelength = (wavelength * u.Unit(unit)).to_value(u.AA)
        except (ValueError, u.UnitsError) as exc:
            raise GridInputError(
                f"{path}: wavelength unit {unit!r} is not a length unit ({exc})"
            ) from exc
    return check_wavelength(wavelength, str(path))


def _from_matrix(
    matrix: np.ndarray, names: list[str], path: Path, what: str
) -> dict[str, np.ndarray]:
    """Columns of a ``(n_spectra, n_parameters)`` array, keyed by ``names``."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise GridInputError(
            f"{path}: {what} has shape {matrix.shape} but {len(names)} names ({', '.join(names)})"
        )
    return {name: matrix[:, k] for k, name in enumerate(names)}


def _pick(
    columns: Mapping[str, np.ndarray], space: ParameterSpace, path: Path, kind: str
) -> dict[str, np.ndarray]:
    """The parameters of ``space`` from ``columns``, raising for the first one missing."""
    for name in space.names:
        if name not in columns:
            raise GridFileError(
                f"{path}: no {kind} for parameter {name!r} (found: {', '.join(columns)})"
            )
    return {name: np.asarray(columns[name]) for name in space.names}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
