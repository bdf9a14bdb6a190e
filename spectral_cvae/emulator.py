"""What the evaluation and the fit need of anything that makes spectra from parameters."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .parameters import ParameterSpace


class SpectrumEmulator(Protocol):
    """Spectra at any stellar parameters, on a fixed wavelength grid.

    :class:`spectral_cvae.model.SpectrumGenerator` is one; so is any object with these three
    members, which lets the statistics and the fit be checked against emulators whose
    spectra are known exactly. An emulator may also offer ``jacobian(parameters)`` returning
    ``(flux, d_flux)``, ``d_flux`` of shape ``(n, n_pixels, n_parameters)``: the derivative
    of the flux with respect to each physical parameter (per K, per dex, ...); the fit then
    uses it instead of finite differences. It may also carry ``provenance``, a dict whose
    ``grid_provenance`` records the physics of the grid it learnt from: the fit then says
    what that physics lacks at the fitted star.
    """

    wavelength: np.ndarray
    """Wavelengths of the spectra, Angstrom (air), shape ``(n_pixels,)``."""
    space: ParameterSpace
    """The parameters the spectra depend on, in the order of ``space.names``."""

    def generate(self, parameters: object, latent: str = "mean") -> np.ndarray:
        """Continuum-normalized flux ``(n, n_pixels)`` at physical ``parameters`` of shape
        ``(n, n_parameters)`` (or a mapping or table by name)."""
        ...
