"""Derivatives of generated spectra with respect to the stellar parameters.

By default, central finite differences in normalized units, with every perturbed point
generated in ONE batch (a neural generator costs little more for 13 spectra than for one).
A generator that offers ``jacobian(params) -> (flux, d_flux / d_params)`` (for instance
through automatic differentiation, or differentiable broadening layers) is used instead:
its derivatives are turned into the same perturbed spectra, so everything downstream is
unchanged.
"""

from __future__ import annotations

import numpy as np

from .model import ObservationModel

STEP = 1e-3
"""Finite-difference step in normalized parameter units (1e-3 of each range)."""


def perturbed_spectra(
    model: ObservationModel,
    normalized: np.ndarray,
    free: np.ndarray,
    step: float = STEP,
    use_jacobian: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spectra at a point and at the point moved up and down along each free parameter.

    Parameters
    ----------
    model
        The observation model (its generator is called).
    normalized
        The point, all parameters normalized to [0, 1], shape ``(k,)``.
    free
        Indices of the parameters being fitted, shape ``(k_free,)``.
    step
        Finite-difference step, normalized units. Near a bound the stencil is moved
        inside the domain (one-sided), so every point generated lies in it.
    use_jacobian
        Use the generator's ``jacobian`` method when it has one.

    Returns
    -------
    centre : numpy.ndarray
        Flux at the point, ``(n_pixels,)``, or None when finite differences did not need it.
    upper, lower : numpy.ndarray
        Flux at the upper and lower point of each free parameter, ``(k_free, n_pixels)``.
    distance : numpy.ndarray
        Normalized distance between the upper and lower point, ``(k_free,)``.
    """
    normalized = np.asarray(normalized, dtype=float)
    generator = model.generator
    if use_jacobian and callable(getattr(generator, "jacobian", None)):
        flux, derivative = generator.jacobian(model.physical(normalized))
        model.n_calls += 1
        model.n_generated += 1
        flux = np.asarray(flux, dtype=float)[0]
        # d flux / d normalized = d flux / d physical * range.
        derivative = (
            np.asarray(derivative, dtype=float)[0][:, free]
            * model.space.derivative(normalized)[0, free]
        )
        upper = flux[None, :] + step * derivative.T
        lower = flux[None, :] - step * derivative.T
        return flux, upper, lower, np.full(len(free), 2.0 * step)
    k = len(free)
    high = np.repeat(normalized[None, :], k, axis=0)
    low = high.copy()
    rows = np.arange(k)
    # Within a step of a bound the stencil slides inside, keeping its width.
    centre = np.clip(normalized[free], step, 1.0 - step)
    high[rows, free] = centre + step
    low[rows, free] = centre - step
    spectra = model.generate(np.concatenate([high, low]))
    distance = high[rows, free] - low[rows, free]
    return None, spectra[:k], spectra[k:], distance
