"""Wavelength grids: checks, construction, resampling and air/vacuum conversion.

Wavelengths are in Angstrom throughout; arrays are plain float64 inside the package.
"""

from __future__ import annotations

import numpy as np

from ..constants import SPEED_OF_LIGHT
from ..errors import GridInputError, where

PAPER_WINDOW = (4450.0, 5400.0)
"""The paper's spectral window, Angstrom."""
PAPER_STEP = 0.05
"""The paper's sampling step, Angstrom (19,000 points over the window)."""
BASE_STEP = 0.02
"""Sampling of unbroadened base spectra, Angstrom: fine enough to broaden to R = 115,000 at
~1e-3."""
MARGIN = 10.0
"""Angstrom computed beyond each end of a window for base spectra, so that broadening is exact
inside it."""


def uniform_grid(start: float, stop: float, step: float) -> np.ndarray:
    """Uniform wavelength grid ``start, start + step, ...`` up to but excluding ``stop``.

    Parameters
    ----------
    start, stop
        Window in Angstrom; ``stop`` is excluded so that 4450-5400 at 0.05 gives the
        paper's 19,000 points.
    step
        Sampling step in Angstrom.

    Returns
    -------
    numpy.ndarray
        Wavelengths in Angstrom, computed as ``start + i * step`` (no accumulated rounding).
    """
    if not step > 0 or not stop > start:
        raise GridInputError(f"need step > 0 and stop > start, got {start}, {stop}, {step}")
    n = int(np.floor((stop - start) / step + 1e-9))
    return start + step * np.arange(n, dtype=float)


def log_uniform_grid(start: float, stop: float, velocity_step: float) -> np.ndarray:
    """Wavelength grid uniform in ln(lambda): a constant velocity step between points.

    On such a grid a Doppler shift is the same number of pixels everywhere, so rotation and a
    constant-R instrument are single convolution kernels.

    Parameters
    ----------
    start, stop
        Window in Angstrom; the grid starts at ``start`` and ends at the last point not
        beyond ``stop`` (``stop`` itself only if it falls on the grid, within rounding).
    velocity_step
        Step in km/s: c times the step in ln(lambda) (1.1 km/s is 0.02 A at 5450 A).

    Returns
    -------
    numpy.ndarray
        Wavelengths in Angstrom, ``start * exp(i * velocity_step / c)``.
    """
    if not velocity_step > 0 or not stop > start > 0:
        raise GridInputError(
            f"need velocity_step > 0 and stop > start > 0, got {start}, {stop}, {velocity_step}"
        )
    log_step = velocity_step / SPEED_OF_LIGHT
    n = int(np.floor(np.log(stop / start) / log_step + 1e-9)) + 1
    return start * np.exp(log_step * np.arange(n, dtype=float))


def paper_wavelength() -> np.ndarray:
    """The paper's wavelength grid: 4450-5400 Angstrom at 0.05 Angstrom (19,000 points)."""
    return uniform_grid(*PAPER_WINDOW, PAPER_STEP)


def check_wavelength(wavelength: object, source: str | None = None) -> np.ndarray:
    """Return ``wavelength`` as float64 after checking it is a usable wavelength axis.

    Raises
    ------
    GridInputError
        If it is not one-dimensional, has fewer than two points, holds non-finite or
        non-positive values, or is not strictly increasing (the message gives the index).
    """
    array = np.asarray(wavelength, dtype=float)
    if array.ndim != 1 or array.size < 2:
        raise GridInputError(
            f"{where(source)}wavelength must be 1-D with at least 2 points, got shape {array.shape}"
        )
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise GridInputError(
            f"{where(source)}wavelength[{i}] = {array[i]} is not a positive number"
        )
    steps = np.diff(array)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise GridInputError(
            f"{where(source)}wavelength is not strictly increasing at index {i + 1} "
            f"({array[i]:.4f} A followed by {array[i + 1]:.4f} A)"
        )
    return array


def resample(
    wavelength: np.ndarray,
    flux: np.ndarray,
    wavelength_out: np.ndarray,
    conserve_flux: bool = True,
    source: str | None = None,
) -> np.ndarray:
    """Resample spectra onto another wavelength grid.

    Parameters
    ----------
    wavelength
        Input wavelengths in Angstrom, strictly increasing, shape ``(p,)``.
    flux
        Input flux, shape ``(p,)`` or ``(n, p)``.
    wavelength_out
        Output wavelengths in Angstrom, strictly increasing, inside the input range.
    conserve_flux
        If true, each output value is the mean of the piecewise-linear input over the output
        pixel (edges half-way between output points): line cores and equivalent widths
        survive going to a coarser grid. If false, the input is linearly interpolated at the
        output points (point sampling).
    source
        Where the spectra came from, for error messages.

    Returns
    -------
    numpy.ndarray
        Flux on ``wavelength_out``, shape ``(len(wavelength_out),)`` or ``(n, ...)``.

    Raises
    ------
    GridInputError
        If the output grid reaches outside the input grid, or the shapes disagree.
    """
    x = check_wavelength(wavelength, source)
    x_out = check_wavelength(wavelength_out, source)
    y = np.asarray(flux, dtype=float)
    if y.shape[-1] != x.size:
        raise GridInputError(
            f"{where(source)}flux has {y.shape[-1]} pixels but the wavelength grid has {x.size}"
        )
    tolerance = 1e-9 * x[-1]
    if x_out[0] < x[0] - tolerance or x_out[-1] > x[-1] + tolerance:
        raise GridInputError(
            f"{where(source)}spectrum covers {x[0]:.3f}-{x[-1]:.3f} A, which does not cover the "
            f"requested {x_out[0]:.3f}-{x_out[-1]:.3f} A"
        )
    if x_out.size == x.size and np.array_equal(x_out, x):
        return y.copy()
    if not conserve_flux:
        flat = y.reshape(-1, x.size)
        out = np.stack([np.interp(x_out, x, row) for row in flat])
        return out.reshape(y.shape[:-1] + (x_out.size,))
    edges = np.empty(x_out.size + 1)
    edges[1:-1] = 0.5 * (x_out[1:] + x_out[:-1])
    edges[0] = max(x[0], x_out[0] - 0.5 * (x_out[1] - x_out[0]))
    edges[-1] = min(x[-1], x_out[-1] + 0.5 * (x_out[-1] - x_out[-2]))
    integral = _cumulative_integral(x, y, edges)
    return np.diff(integral, axis=-1) / np.diff(edges)


def _cumulative_integral(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Integral of the piecewise-linear function (x, y) from x[0] to each point of ``at``."""
    segment = 0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(x)
    nodes = np.concatenate([np.zeros(y.shape[:-1] + (1,)), np.cumsum(segment, axis=-1)], axis=-1)
    k = np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)
    dx = at - x[k]
    slope = (y[..., k + 1] - y[..., k]) / (x[k + 1] - x[k])
    return nodes[..., k] + y[..., k] * dx + 0.5 * slope * dx**2


def vacuum_to_air(wavelength: np.ndarray) -> np.ndarray:
    """Convert vacuum wavelengths to air (Morton 2000, the IAU standard; valid > 2000 A).

    Parameters
    ----------
    wavelength
        Vacuum wavelengths in Angstrom.

    Returns
    -------
    numpy.ndarray
        Air wavelengths in Angstrom (about 1.4 A shorter at 5000 A).
    """
    vac = np.asarray(wavelength, dtype=float)
    if np.any(vac < 2000.0):
        raise GridInputError(
            f"vacuum_to_air: the air formula holds above 2000 A; got {vac.min():.1f} A"
        )
    s2 = (1e4 / vac) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return vac / n
