"""Shared fixtures: small synthetic grids made on the spot (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.grid.wavelength import uniform_grid
from spectral_cvae.parameters import PAPER_SPACE


def line_spectrum(
    wavelength: np.ndarray, rng: np.random.Generator, n_lines: int = 40
) -> np.ndarray:
    """A continuum-normalized spectrum of Gaussian absorption lines at random places."""
    flux = np.ones_like(wavelength)
    centres = rng.uniform(wavelength[0], wavelength[-1], n_lines)
    depths = rng.uniform(0.05, 0.8, n_lines)
    widths = rng.uniform(0.03, 0.15, n_lines)
    for centre, depth, width in zip(centres, depths, widths):
        flux *= 1.0 - depth * np.exp(-0.5 * ((wavelength - centre) / width) ** 2)
    return flux


def random_parameters(n: int, rng: np.random.Generator) -> np.ndarray:
    """Points drawn uniformly inside the paper's parameter space."""
    return rng.uniform(PAPER_SPACE.minimum, PAPER_SPACE.maximum, size=(n, len(PAPER_SPACE)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def small_wavelength() -> np.ndarray:
    return uniform_grid(5000.0, 5020.0, 0.05)


@pytest.fixture
def small_grid_arrays(rng, small_wavelength):
    """(wavelength, flux, parameters) of 50 spectra x 400 pixels."""
    flux = np.stack([line_spectrum(small_wavelength, rng) for _ in range(50)]).astype(np.float32)
    return small_wavelength, flux, random_parameters(50, rng)
