"""A first radial velocity by cross-correlation, to start the least-squares fit near the peak.

Observed and template spectra are put on one uniform grid in ln(wavelength), where a
Doppler shift is a translation, and correlated by FFT for all templates at once.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev
from scipy import fft

from ..constants import SPEED_OF_LIGHT
from .observation import Observation, doppler_factor


def cross_correlate(
    observation: Observation,
    rest_wavelength: np.ndarray,
    templates: np.ndarray,
    radial_velocity_range: tuple[float, float],
    continuum_order: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Radial velocity of the observed spectrum against each template.

    Parameters
    ----------
    observation
        The prepared observed spectrum (its used pixels).
    rest_wavelength
        Wavelengths of the templates, air, Angstrom, shape ``(n_pixels,)``.
    templates
        Continuum-normalized rest-frame spectra, shape ``(m, n_pixels)``.
    radial_velocity_range
        Smallest and largest radial velocity searched, km/s.
    continuum_order
        Degree of the Chebyshev polynomial divided out of the observed flux first.

    Returns
    -------
    radial_velocity : numpy.ndarray
        km/s at the correlation peak of each template, refined between lags by a parabola,
        shape ``(m,)``.
    peak : numpy.ndarray
        Normalized correlation at the peak (1 for a perfect match), shape ``(m,)``.
    """
    templates = np.atleast_2d(templates)
    used = observation.used
    wave = observation.air_wavelength[used]
    flux = observation.flux[used]
    lower, upper = observation.lower_edge[used], observation.upper_edge[used]

    # Sample finely enough for the narrowest lines: half a template pixel, in velocity.
    pixel_velocity = np.median(np.diff(rest_wavelength) / rest_wavelength[1:]) * SPEED_OF_LIGHT
    step = max(0.5 * pixel_velocity, 0.25) / SPEED_OF_LIGHT
    log_start, log_stop = np.log(rest_wavelength[0]), np.log(rest_wavelength[-1])
    grid = np.exp(np.arange(log_start, log_stop, step))

    x = (2.0 * wave - (wave[0] + wave[-1])) / (wave[-1] - wave[0])
    continuum = chebyshev.chebval(x, chebyshev.chebfit(x, flux, continuum_order))
    signal = flux / continuum - 1.0
    observed = np.interp(grid, wave, signal)
    # Zero where no used pixel covers the grid point (gaps, masks, outside coverage).
    k = np.clip(np.searchsorted(wave, grid), 1, wave.size - 1)
    nearest = np.where(grid - wave[k - 1] < wave[k] - grid, k - 1, k)
    covered = (grid >= lower[nearest]) & (grid <= upper[nearest])
    observed = np.where(covered, observed - observed[covered].mean(), 0.0)

    model = np.stack([np.interp(grid, rest_wavelength, row) for row in templates]) - 1.0
    model -= model.mean(axis=1, keepdims=True)

    size = fft.next_fast_len(2 * grid.size)
    product = fft.rfft(observed, size)[None, :] * np.conj(fft.rfft(model, size, axis=1))
    correlation = fft.irfft(product, size, axis=1)
    v_low, v_high = sorted(radial_velocity_range)
    first = int(np.ceil(np.log(doppler_factor(v_low)) / step))
    last = int(np.floor(np.log(doppler_factor(v_high)) / step))
    lags = np.arange(first, last + 1)
    values = correlation[:, lags % size]
    norm = np.linalg.norm(observed) * np.linalg.norm(model, axis=1)
    values = values / np.where(norm > 0, norm, 1.0)[:, None]
    best = np.argmax(values, axis=1)
    peak = values[np.arange(len(values)), best]
    # Parabola through the peak and its neighbours, for a lag between grid steps.
    inner = np.clip(best, 1, len(lags) - 2)
    left = values[np.arange(len(values)), inner - 1]
    middle = values[np.arange(len(values)), inner]
    right = values[np.arange(len(values)), inner + 1]
    curvature = left - 2.0 * middle + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    offset = np.where(best == inner, np.clip(offset, -0.5, 0.5), 0.0)
    shift = np.exp((lags[best] + offset) * step) ** 2
    radial_velocity = SPEED_OF_LIGHT * (shift - 1.0) / (shift + 1.0)
    return np.clip(radial_velocity, v_low, v_high), peak
