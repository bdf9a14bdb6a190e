"""A model spectrum made to look observed: shifted, tilted, resampled, masked and noisy."""

from __future__ import annotations

import numpy as np

from ..grid.wavelength import resample, uniform_grid
from ..io import ObservedSpectrum
from .observation import doppler_factor


def make_observation(
    wavelength: np.ndarray,
    flux: np.ndarray,
    *,
    snr: float | None = 50.0,
    radial_velocity: float = 0.0,
    tilt: float = 0.0,
    curvature: float = 0.0,
    scale: float = 1.0,
    pixel_step: float | None = None,
    margin: float = 5.0,
    mask_fraction: float = 0.0,
    masked_band: float = 0.0,
    seed: int | None = 0,
    source: str = "simulated observation",
) -> ObservedSpectrum:
    """A continuum-normalized rest-frame spectrum as a spectrograph would record it.

    The spectrum is Doppler-shifted by ``radial_velocity``, resampled (flux-conserving)
    onto a uniform grid of ``pixel_step``, multiplied by the continuum
    ``scale * (1 + tilt x + curvature (2 x^2 - 1))`` with x from -1 to +1 across the
    observed range, given Gaussian noise of standard deviation continuum / ``snr``; some
    pixels are hit by cosmic rays and flagged in ``mask``.

    Parameters
    ----------
    wavelength
        Rest air wavelengths of ``flux``, Angstrom, shape ``(n,)``.
    flux
        Continuum-normalized flux, shape ``(n,)``.
    snr
        Signal-to-noise ratio per pixel at the continuum; None: no noise (``error`` is then
        None too).
    radial_velocity
        km/s, positive receding.
    tilt, curvature
        Linear and quadratic continuum terms (fraction of the continuum at the edges).
    scale
        Continuum level, flux units.
    pixel_step
        Observed pixel width, Angstrom; default 1.3 times the model's (a coarser, offset
        grid, so nothing lines up with the model's pixels).
    margin
        Angstrom cut from both ends of the shifted range, so every pixel is covered.
    mask_fraction
        Fraction of pixels hit by cosmic rays (+50 % of the continuum), flagged in ``mask``.
    masked_band
        Width (Angstrom) of one band flagged in ``mask`` (a telluric or chip defect),
        placed at random; 0 for none.
    seed
        Seed of the noise, cosmic rays and band.
    source
        Name carried by the spectrum.

    Returns
    -------
    ObservedSpectrum
        ``meta`` holds the truth: ``radial_velocity``, ``continuum`` (array), ``snr``.
    """
    wavelength = np.asarray(wavelength, dtype=float)
    flux = np.asarray(flux, dtype=float)
    rng = np.random.default_rng(seed)
    factor = float(doppler_factor(radial_velocity))
    step = 1.3 * float(np.median(np.diff(wavelength))) if pixel_step is None else pixel_step
    first = wavelength[0] * factor + margin + 0.37 * step
    observed = uniform_grid(first, wavelength[-1] * factor - margin, step)
    x = (2.0 * observed - (observed[0] + observed[-1])) / (observed[-1] - observed[0])
    continuum = scale * (1.0 + tilt * x + curvature * (2.0 * x**2 - 1.0))
    signal = resample(wavelength, flux, observed / factor) * continuum
    error = None
    if snr is not None:
        error = continuum / float(snr)
        signal = signal + rng.standard_normal(signal.size) * error
    mask = rng.random(signal.size) < mask_fraction
    signal[mask] += 0.5 * continuum[mask]
    if masked_band > 0:
        start = rng.uniform(observed[0], observed[-1] - masked_band)
        mask |= (observed >= start) & (observed <= start + masked_band)
    return ObservedSpectrum(
        wavelength=observed,
        flux=signal,
        error=error,
        mask=mask,
        medium="air",
        source=source,
        meta={"radial_velocity": float(radial_velocity), "continuum": continuum,
              "snr": snr},
    )
