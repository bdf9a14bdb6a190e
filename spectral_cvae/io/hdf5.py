"""Spectra in HDF5: a spectral-cvae grid file, or any file with wavelength and flux datasets.

Generated spectra are written as a grid file (:class:`~spectral_cvae.grid.SpectralGrid`
opens it, training and the inverter take it), their spread over z as the dataset
``flux_std``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import SpectrumFileError
from ..grid.store import FORMAT as GRID_FORMAT
from ..grid.store import GridWriter, SpectralGrid, open_hdf5
from ..parameters import ParameterSpace
from .conventions import to_angstrom
from .spectra import Spectra, parameter_table

STD_DATASET = "flux_std"


def write_hdf5(
    path: Path, spectra: Spectra, space: ParameterSpace, provenance: dict | None = None
) -> None:
    """Write spectra as a grid over ``space`` (the caller makes it atomic)."""
    parameters = space.as_array(spectra.parameters, source=spectra.source)
    # Extrapolated spectra are written too: widen the ranges to cover them.
    low = np.minimum(space.minimum, parameters.min(axis=0))
    high = np.maximum(space.maximum, parameters.max(axis=0))
    space = space.with_ranges(**{n: (lo, hi) for n, lo, hi in zip(space.names, low, high)})
    path.unlink(missing_ok=True)
    with GridWriter(path, spectra.wavelength, space, provenance or {}, overwrite=True) as writer:
        writer.append(spectra.flux.astype(np.float32), parameters)
    if spectra.std is not None:
        with h5py.File(path, "r+") as handle:
            handle.create_dataset(
                STD_DATASET, data=spectra.std.astype(np.float32), compression="gzip", shuffle=True
            )


def read_hdf5(path: Path) -> Spectra:
    """The spectra of a grid file (with their parameters), or of an HDF5 file holding
    ``wavelength`` (Angstrom, or the unit of its ``unit`` attribute) and ``flux`` datasets.

    Raises
    ------
    SpectrumFileError
        If the file is unreadable or lacks one of the datasets.
    """
    handle = open_hdf5(path, "r")
    try:
        is_grid = handle.attrs.get("format") == GRID_FORMAT
        std = handle[STD_DATASET][:] if isinstance(handle.get(STD_DATASET), h5py.Dataset) else None
    finally:
        handle.close()
    if is_grid:
        with SpectralGrid.open(path) as grid:
            parameters = parameter_table(grid.space.names, grid.space.units, grid.parameters)
            return Spectra.checked(grid.wavelength, grid.read_flux(), str(path), std, parameters)
    with h5py.File(path, "r") as handle:
        for name in ("wavelength", "flux"):
            if not isinstance(handle.get(name), h5py.Dataset):
                raise SpectrumFileError(f"{path}: no dataset {name!r}")
        unit = handle["wavelength"].attrs.get("unit")
        unit = unit.decode() if isinstance(unit, bytes) else unit
        wavelength = to_angstrom(handle["wavelength"][:], unit, path)
        return Spectra.checked(wavelength, handle["flux"][:], str(path), std)
