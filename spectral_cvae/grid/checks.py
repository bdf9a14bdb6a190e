"""Checks applied to every spectrum before it enters a grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import GridInputError, where
from ..parameters import ParameterSpace

if TYPE_CHECKING:
    from .store import SpectralGrid

OutOfRangePolicy = Literal["error", "drop"]

WAVELENGTH_LIMITS = (1000.0, 300000.0)
"""Angstrom: a stellar grid outside 0.1-30 micron has its wavelengths in another unit."""


@dataclass(frozen=True)
class CheckedBatch:
    """Spectra that passed the checks, with what was dropped.

    Attributes
    ----------
    flux
        Continuum-normalized flux, float32, shape ``(n_kept, n_pixels)``.
    parameters
        Physical parameters, float64, shape ``(n_kept, n_parameters)``.
    dropped_rows
        Row indices (within the batch) dropped for lying outside the parameter space.
    """

    flux: np.ndarray
    parameters: np.ndarray
    dropped_rows: np.ndarray


def check_flux(
    flux: object,
    n_pixels: int,
    wavelength: np.ndarray | None = None,
    source: str | None = None,
    first_row: int = 0,
) -> np.ndarray:
    """Return flux as a float32 array of shape ``(n, n_pixels)`` after checking its values.

    Parameters
    ----------
    flux
        One spectrum ``(n_pixels,)`` or a batch ``(n, n_pixels)``, continuum-normalized.
    n_pixels
        Length of the grid's wavelength axis.
    wavelength
        The grid's wavelengths (Angstrom), used only to say where a bad value sits.
    source, first_row
        Where the batch came from and the index of its first spectrum there.

    Raises
    ------
    GridInputError
        If the shape does not match the wavelength grid, or any value is NaN, infinite or
        negative (the message names the spectrum, pixel and wavelength).
    """
    array = np.asarray(flux)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[1] != n_pixels:
        raise GridInputError(
            f"{where(source)}flux of shape {np.shape(flux)} does not match the wavelength grid "
            f"of {n_pixels} points"
        )
    too_large = np.abs(array) > np.finfo(np.float32).max
    for problem, bad in (
        ("not finite", ~np.isfinite(array)),
        ("negative", array < 0),
        ("too large for float32", too_large),
    ):
        if bad.any():
            row, pixel = np.argwhere(bad)[0]
            at = f" at {wavelength[pixel]:.3f} A" if wavelength is not None else ""
            count = int(bad[row].sum())
            raise GridInputError(
                f"{where(source, first_row + int(row))}flux is {problem} in {count} pixel(s), "
                f"first pixel {pixel}{at} (value {array[row, pixel]})"
            )
    return array.astype(np.float32, copy=False)


CONTINUUM_LEVEL = (0.5, 2.0)
"""Plausible range of a continuum-normalized spectrum's upper envelope (95th percentile):
wide enough for noise down to S/N 2 and a weakly trained model, far from flux in physical
units, scaled or zero."""


def check_normalized(flux: np.ndarray, source: str | None = None, first_row: int = 0) -> np.ndarray:
    """Refuse spectra that are not continuum-normalized; return the flux unchanged.

    A continuum-normalized spectrum has its upper envelope near 1 whatever the star: lines
    only take flux away, and even a fast-rotating metal-rich star keeps 5 % of its pixels
    close to the continuum. Flux in physical units, scaled (x100), all zeros or negative
    has its 95th percentile far from 1.

    Parameters
    ----------
    flux
        Shape ``(n, n_pixels)``.
    source, first_row
        Where the spectra came from and the index of the first, for the message.

    Raises
    ------
    GridInputError
        Naming the first spectrum whose 95th percentile lies outside :data:`CONTINUUM_LEVEL`.
    """
    array = np.atleast_2d(np.asarray(flux))
    level = np.nanpercentile(array, 95, axis=1) if array.size else np.empty(0)
    low, high = CONTINUUM_LEVEL
    bad = ~((level >= low) & (level <= high))
    if bad.any():
        row = int(np.argmax(bad))
        raise GridInputError(
            f"{where(source, first_row + row)}flux is not continuum-normalized: its upper "
            f"envelope (95th percentile) is {level[row]:.3g}, not within {low:g}-{high:g} "
            f"({int(bad.sum())} of {len(array)} spectra); divide the spectra by their "
            f"continuum first"
        )
    return flux


def check_batch(
    flux: object,
    parameters: object,
    space: ParameterSpace,
    n_pixels: int,
    wavelength: np.ndarray | None = None,
    on_out_of_range: OutOfRangePolicy = "error",
    source: str | None = None,
    first_row: int = 0,
) -> CheckedBatch:
    """Check a batch of spectra and their parameters together.

    Parameters
    ----------
    flux
        Shape ``(n, n_pixels)`` or ``(n_pixels,)``.
    parameters
        Anything :meth:`ParameterSpace.as_array` accepts, with n rows.
    space
        The parameter space the spectra must lie in.
    n_pixels, wavelength, source, first_row
        As for :func:`check_flux`.
    on_out_of_range
        ``"error"`` raises :class:`~spectral_cvae.errors.OutOfDomainError` at the first
        point outside ``space``; ``"drop"`` removes such spectra and reports their rows.

    Returns
    -------
    CheckedBatch
    """
    if on_out_of_range not in ("error", "drop"):
        raise ValueError(f"on_out_of_range must be 'error' or 'drop', not {on_out_of_range!r}")
    values = space.as_array(parameters, source=source)
    spectra = check_flux(flux, n_pixels, wavelength, source, first_row)
    if len(values) != len(spectra):
        raise GridInputError(
            f"{where(source)}{len(spectra)} spectra but {len(values)} parameter rows"
        )
    if on_out_of_range == "error":
        space.check(values, source=source, first_row=first_row)
        return CheckedBatch(spectra, values, np.empty(0, dtype=int))
    inside = space.contains(values)
    return CheckedBatch(spectra[inside], values[inside], np.flatnonzero(~inside))


def check_plausible(grid: SpectralGrid, source: str) -> None:
    """Refuse a converted grid that cannot be what it claims.

    Parameters
    ----------
    grid
        The grid read from another format.
    source
        Where it was read from, for the message.

    Raises
    ------
    GridInputError
        If the wavelengths lie outside :data:`WAVELENGTH_LIMITS` (nm or micron stored
        without a unit) or the flux is not continuum-normalized (physical units, scaled).
    """
    low, high = grid.wavelength[0], grid.wavelength[-1]
    if low < WAVELENGTH_LIMITS[0] or high > WAVELENGTH_LIMITS[1]:
        hint = " (nm? multiply by 10)" if 100 <= low and high <= 3000 else ""
        raise GridInputError(
            f"{source}: wavelengths {low:g}-{high:g} are not Angstrom{hint}; a stellar grid "
            f"lies within {WAVELENGTH_LIMITS[0]:g}-{WAVELENGTH_LIMITS[1]:g} A"
        )
    for rows, _, flux in grid.iter_batches(1024):
        check_normalized(flux, source, int(rows[0]))
