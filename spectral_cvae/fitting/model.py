"""The model of an observed spectrum.

    model(pixel) = P(x) * < S(lambda / D(v); theta) >_pixel

S is the generated spectrum at the stellar parameters theta, D(v) the Doppler factor of the
radial velocity v, < >_pixel the spectrum brought to the observed pixel (linear
interpolation, plus the extra box smoothing of a pixel wider than the generator's, so a
coarser or finer observed grid, gaps and partial coverage are all handled alike), and P a
Chebyshev polynomial in the wavelength scaled to [-1, 1] over the fitted pixels: the
continuum, whose coefficients enter linearly and are solved by weighted least squares for
each trial theta and v.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import chebyshev

from ..emulator import SpectrumEmulator
from ..parameters import ParameterSpace
from .observation import Observation, doppler_factor


class ObservationModel:
    """Generated spectra as they would be observed: shifted, pixel-averaged, times a continuum.

    Parameters
    ----------
    generator
        See :class:`~spectral_cvae.emulator.SpectrumEmulator`.
    observation
        The prepared observed spectrum.
    continuum_order
        Degree of the Chebyshev continuum polynomial (0: a constant scale).

    Attributes
    ----------
    n_generated : int
        Spectra generated so far; ``n_calls`` counts calls to ``generate``.
    """

    def __init__(
        self, generator: SpectrumEmulator, observation: Observation, continuum_order: int = 2
    ) -> None:
        if continuum_order < 0:
            raise ValueError(f"continuum_order must be >= 0, got {continuum_order}")
        self.generator = generator
        self.space: ParameterSpace = generator.space
        self.observation = observation
        self.continuum_order = int(continuum_order)
        self.rest_wavelength = np.asarray(generator.wavelength, dtype=np.float64)
        self._model_width = np.gradient(self.rest_wavelength)
        steps = np.diff(self.rest_wavelength)
        # On a uniform grid the interval of a wavelength is arithmetic, not a search.
        self._step = float(steps.mean()) if np.ptp(steps) <= 1e-6 * steps.mean() else None
        used = observation.used
        self.flux = observation.flux[used]
        self.centre = observation.air_wavelength[used]
        self.width = observation.upper_edge[used] - observation.lower_edge[used]
        self.weight = (
            np.ones(used.sum()) if observation.error is None else 1.0 / observation.error[used]
        )
        self.domain = observation.span
        self.basis = self.continuum_basis(observation.air_wavelength[used])
        self.n_calls = 0
        self.n_generated = 0

    # -- pieces ----------------------------------------------------------------------------
    def continuum_basis(self, air_wavelength: np.ndarray) -> np.ndarray:
        """Chebyshev polynomials T_0..T_order at air wavelengths, shape ``(n, order + 1)``."""
        low, high = self.domain
        x = (2.0 * np.asarray(air_wavelength, dtype=float) - (low + high)) / (high - low)
        return chebyshev.chebvander(x, self.continuum_order)

    def generate(self, normalized: np.ndarray) -> np.ndarray:
        """Spectra at normalized parameters ``(m, k)`` in one call: flux ``(m, n_pixels)``."""
        physical = self.physical(normalized)
        self.n_calls += 1
        self.n_generated += len(physical)
        flux = self.generator.generate(physical, latent="mean")
        return np.asarray(flux, dtype=np.float64)

    def physical(self, normalized: np.ndarray) -> np.ndarray:
        """Normalized parameters to physical ones, kept inside the domain against rounding."""
        physical = self.space.denormalize(np.atleast_2d(normalized))
        return np.clip(physical, self.space.minimum, self.space.maximum)

    def shift_and_bin(
        self,
        spectra: np.ndarray,
        radial_velocity: np.ndarray | float,
        pixels: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Doppler-shift spectra and bring them to the observed pixels.

        The generated values are taken as samples of the spectrum seen through pixels of
        the generator's own width; an observed pixel of width w is their linear
        interpolant averaged over a box of width sqrt(w^2 - w_model^2) (the extra
        smoothing a coarser pixel adds), or simply the interpolant where the observed
        pixels are no wider than the generator's. So a spectrum observed on the
        generator's own grid at rest is reproduced exactly, and a coarser one
        conserves flux.

        Parameters
        ----------
        spectra
            Generated flux on the rest wavelengths, shape ``(m, n_pixels)``.
        radial_velocity
            km/s, one value or one per spectrum, shape ``(m,)``.
        pixels
            Air wavelengths and widths (Angstrom) of the observed pixels; default the
            fitted pixels'.

        Returns
        -------
        numpy.ndarray
            Shape ``(m, n_observed)``.
        """
        spectra = np.atleast_2d(spectra)
        centre, width = (self.centre, self.width) if pixels is None else pixels
        velocity = np.broadcast_to(np.asarray(radial_velocity, dtype=float), (len(spectra),))
        out = np.empty((len(spectra), centre.size))
        # Rows sharing a velocity share where the pixels fall (the costly search).
        for v in np.unique(velocity):
            rows = velocity == v
            out[rows] = self._bin_at(spectra[rows], doppler_factor(v), centre, width)
        return out

    def _bin_at(
        self, spectra: np.ndarray, factor: float, centre: np.ndarray, width: np.ndarray
    ) -> np.ndarray:
        x = self.rest_wavelength
        rest = centre / factor
        k = self._segment(rest)
        point = _interpolate(x, spectra, rest, k)
        model_width = np.interp(rest, x, self._model_width)
        half = 0.5 * np.sqrt(np.clip((width / factor) ** 2 - model_width**2, 0.0, None))
        # A box under a tenth of a model pixel changes the interpolant by < 1e-3 of its
        # second difference: sample it instead.
        wide = half > 0.05 * model_width
        if not wide.any():
            return point
        low = np.clip(rest[wide] - half[wide], x[0], x[-1])
        high = np.clip(rest[wide] + half[wide], x[0], x[-1])
        segment = 0.5 * (spectra[:, 1:] + spectra[:, :-1]) * np.diff(x)
        nodes = np.concatenate([np.zeros((len(spectra), 1)), np.cumsum(segment, axis=1)], axis=1)
        point[:, wide] = (
            _integral(x, spectra, nodes, high, self._segment(high))
            - _integral(x, spectra, nodes, low, self._segment(low))
        ) / (high - low)
        return point

    def _segment(self, at: np.ndarray) -> np.ndarray:
        """Index of the generator's wavelength interval holding each point (clipped)."""
        x = self.rest_wavelength
        if self._step is None:
            return _segment(x, at)
        return np.clip(((at - x[0]) / self._step).astype(np.intp), 0, x.size - 2)

    def solve_continuum(self, binned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best continuum coefficients for each binned spectrum, and the resulting model.

        Parameters
        ----------
        binned
            Shape ``(m, n_observed)``, from :meth:`shift_and_bin`.

        Returns
        -------
        coefficients : numpy.ndarray
            Shape ``(m, order + 1)``.
        model : numpy.ndarray
            Continuum times spectrum, shape ``(m, n_observed)``.
        """
        design = binned[:, :, None] * self.basis[None, :, :]
        weighted = design * self.weight[None, :, None]
        normal = np.einsum("mnk,mnl->mkl", weighted, weighted)
        rhs = np.einsum("mnk,n->mk", weighted, self.flux * self.weight)
        try:
            coefficients = np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            coefficients = np.stack(
                [np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(normal, rhs)]
            )
        return coefficients, np.einsum("mnk,mk->mn", design, coefficients)

    def residuals(self, model: np.ndarray) -> np.ndarray:
        """Weighted residuals (data - model) / error, shape like ``model``."""
        return (self.flux - model) * self.weight


def _segment(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the grid interval holding each point (clipped to the grid)."""
    return np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)


def _interpolate(x: np.ndarray, y: np.ndarray, at: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Rows of y linearly interpolated at ``at`` (points in intervals ``k``), ``(m, e)``."""
    y0, y1 = y[:, k], y[:, k + 1]
    return y0 + (y1 - y0) * ((at - x[k]) / (x[k + 1] - x[k]))[None, :]


def _integral(
    x: np.ndarray, y: np.ndarray, nodes: np.ndarray, at: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """Integral from x[0] to ``at`` of each piecewise-linear row of y, ``(m, e)``."""
    dx = (at - x[k])[None, :]
    y0, y1 = y[:, k], y[:, k + 1]
    slope = (y1 - y0) / (x[k + 1] - x[k])[None, :]
    return nodes[:, k] + y0 * dx + 0.5 * slope * dx**2
