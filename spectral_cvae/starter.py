"""The embedded starter grid: real SYNSPEC spectra that ship with spectral-cvae.

The package carries a grid of unbroadened SYNSPEC base spectra over the paper's (Teff,
log g, [M/H], xi_t) ranges, 4440-5410 A at 0.02 A (the paper's window plus a 10 A margin for
broadening), built by ``spectral-cvae grid build`` with the command and seed recorded in its
provenance (see ``scripts/build_starter_grid.sh``). :func:`load_starter_grid` broadens it to
(v sin i, R) draws over the paper's ranges at the paper's 4450-5400 A, 0.05 A: a training
grid over all six parameters, on a fresh machine, with no downloads and no Fortran.

Storage: flux is quantized to 16 bits, q = round(flux / 2^-15) (a step of 3.05e-5, so the
error is at most 1.53e-5, for flux up to 2), stored as differences along wavelength modulo
2^16 (mostly zero in the continuum), byte-shuffled and gzip-compressed: about 56 kB per base
model instead of 194 kB as float32.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import h5py
import numpy as np

from .errors import GridFileError
from .files import atomic_path
from .grid.augment import augment
from .grid.store import SpectralGrid, in_memory_grid
from .grid.wavelength import paper_wavelength
from .parameters import PAPER_SPACE, ParameterSpace

STARTER_FILE = "starter-grid.h5"
FORMAT = "spectral-cvae packed base grid"
LEVELS = 65535
QUANTUM = 2.0**-15
"""Flux step of the packed grid: the quantization error is at most half of it, 1.53e-5."""


def starter_path() -> Path:
    """Path of the shipped starter grid file."""
    return Path(str(resources.files("spectral_cvae.data").joinpath(STARTER_FILE)))


def pack_base_grid(grid: SpectralGrid, path: str | os.PathLike) -> Path:
    """Write a base grid compactly (16-bit flux, see the module description), atomically.

    Parameters
    ----------
    grid
        Base grid on a uniform wavelength grid.
    path
        Destination.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    wavelength = grid.wavelength
    step = float(np.mean(np.diff(wavelength)))
    if not np.allclose(np.diff(wavelength), step, rtol=0, atol=1e-6):
        raise GridFileError(f"{path}: packing needs a uniform wavelength grid")
    flux = grid.read_flux()
    if flux.max() > QUANTUM * LEVELS or flux.min() < 0:
        raise GridFileError(f"{path}: flux outside 0..{QUANTUM * LEVELS:g} cannot be packed")
    quantized = np.rint(flux / QUANTUM).astype(np.uint16)
    # Differences modulo 2**16: cumsum in uint16 undoes them exactly.
    delta = np.diff(quantized, axis=1, prepend=np.uint16(0))
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as out:
        out.attrs.update(
            format=FORMAT,
            wavelength_start=float(wavelength[0]),
            wavelength_step=step,
            n_pixels=wavelength.size,
            flux_scale=QUANTUM,
            parameter_space=grid.space.to_json(),
            provenance=json.dumps(grid.provenance),
        )
        out.create_dataset(
            "flux_delta",
            data=delta,
            chunks=(1, wavelength.size),
            compression="gzip",
            compression_opts=9,
            shuffle=True,
        )
        out.create_dataset("parameters", data=grid.parameters)
    return Path(path)


def read_packed_base_grid(path: str | os.PathLike) -> SpectralGrid:
    """Read a file written by :func:`pack_base_grid` into an in-memory grid."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != FORMAT:
                raise GridFileError(f"{path}: not a packed base grid")
            attrs = dict(handle.attrs)
            delta = handle["flux_delta"][:]
            parameters = handle["parameters"][:]
    except OSError as exc:
        if isinstance(exc, GridFileError):
            raise
        raise GridFileError(f"{path}: cannot be read ({exc})") from exc
    wavelength = float(attrs["wavelength_start"]) + float(attrs["wavelength_step"]) * np.arange(
        int(attrs["n_pixels"])
    )
    flux = np.cumsum(delta, axis=1, dtype=np.uint16).astype(np.float32)
    flux *= np.float32(attrs["flux_scale"])
    space = ParameterSpace.from_json(attrs["parameter_space"])
    provenance = json.loads(attrs["provenance"])
    provenance["packed_file"] = path.name
    return in_memory_grid(wavelength, flux, parameters, space, provenance)


def pack_starter(base: str | os.PathLike) -> Path:
    """Pack a finished (or, if the build was cut short, ``.partial``) base grid as the starter.

    Parameters
    ----------
    base
        Base grid written by ``spectral-cvae grid build``; if only ``<base>.partial``
        exists, the models finished so far are packed and the provenance says how many.

    Returns
    -------
    pathlib.Path
        The starter grid file inside the package.
    """
    base = Path(base)
    source = base if base.exists() else base.with_name(base.name + ".partial")
    with SpectralGrid.open(source) as grid:
        grid.provenance["finished_models"] = grid.n_spectra
        return pack_base_grid(grid, starter_path())


def load_starter_base_grid() -> SpectralGrid:
    """The shipped base grid: unbroadened SYNSPEC spectra over Teff, log g, [M/H], xi_t.

    Returns
    -------
    SpectralGrid
        In memory, over :data:`~spectral_cvae.grid.augment.BASE_SPACE`, 4440-5410 A at
        0.02 A, continuum-normalized.
    """
    return read_packed_base_grid(starter_path())


def load_starter_grid(
    draws_per_model: int = 4, seed: int = 0, wavelength: np.ndarray | None = None
) -> SpectralGrid:
    """The starter grid broadened to (v sin i, R) draws: a six-parameter training grid.

    The broadened grid is computed on first use (0.1-0.2 s per base model: a minute or two
    for the shipped grid) and kept in the user's cache (``$SPECTRAL_CVAE_CACHE``, else
    ``~/.cache/spectral-cvae``), so later calls only open that file.

    Parameters
    ----------
    draws_per_model
        (v sin i, R) pairs per base model, drawn uniformly over the paper's ranges.
    seed
        Seed of the draws.
    wavelength
        Output wavelengths, Angstrom; default the paper's 4450-5400 A at 0.05 A.

    Returns
    -------
    SpectralGrid
        Over :data:`~spectral_cvae.parameters.PAPER_SPACE`, backed by the cached file; rows
        ``k * draws_per_model ...`` come from base model k.
    """
    from .grid.synthesis.install import cache_dir

    wavelength = paper_wavelength() if wavelength is None else np.asarray(wavelength)
    digest = hashlib.sha256(starter_path().read_bytes())
    digest.update(np.ascontiguousarray(wavelength, dtype=float).tobytes())
    key = f"{digest.hexdigest()[:16]}-k{draws_per_model}-s{seed}"
    path = cache_dir() / "starter" / f"starter-{key}.h5"
    if path.is_file():
        return SpectralGrid.open(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return augment(
        load_starter_base_grid(),
        draws_per_model,
        seed=seed,
        wavelength=wavelength,
        space=PAPER_SPACE,
        path=path,
    )


__all__ = [
    "load_starter_base_grid",
    "load_starter_grid",
    "pack_base_grid",
    "pack_starter",
    "read_packed_base_grid",
    "starter_path",
]
