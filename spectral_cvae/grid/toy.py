"""A toy spectral model: quick, deterministic spectra for demonstrations and tests.

This is *not* radiative transfer. It places a fixed list of absorption lines (a few real
ones - H-beta, the Mg b triplet, strong Fe lines - and a seeded forest of weak lines) with
Gaussian cores whose strengths follow simple rules: metal lines deepen with [M/H] and at
lower Teff, ionized lines peak at higher Teff, H-beta peaks near 9500 K with wings that widen
with log g, and the Doppler width grows with temperature and microturbulence. It lets every
part of the pipeline run on a fresh machine in seconds; the SYNSPEC builder makes real
spectra. :func:`toy_base_grid` and :func:`build_toy_grid` make grids of them, unbroadened and
broadened, for the demonstration and the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..constants import SPEED_OF_LIGHT
from ..parameters import BASE_SPACE, PAPER_SPACE
from .augment import augment
from .store import SpectralGrid
from .wavelength import BASE_STEP, MARGIN, paper_wavelength, uniform_grid

BOLTZMANN_OVER_AMU = 8.2545e-3  # (km/s)^2 per K for unit atomic mass

STRONG_LINES = (
    # wavelength (A, air), strength (log tau at 5040/Teff = 1, [M/H] = 0), ionized, mass (amu)
    (4481.13, 0.6, True, 24.3),  # Mg II
    (4890.76, 0.2, False, 55.8),  # Fe I
    (4957.60, 0.3, False, 55.8),  # Fe I
    (5167.32, 0.9, False, 24.3),  # Mg I b4
    (5172.68, 1.1, False, 24.3),  # Mg I b2
    (5183.60, 1.2, False, 24.3),  # Mg I b1
    (5018.44, 0.4, True, 55.8),  # Fe II
    (5169.03, 0.4, True, 55.8),  # Fe II
    (5269.54, 0.5, False, 55.8),  # Fe I
    (5328.04, 0.4, False, 55.8),  # Fe I
)
H_BETA = 4861.33


def _forest(n_lines: int = 600, seed: int = 2025) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(4440.0, 5410.0, n_lines),
            rng.normal(-0.8, 0.6, n_lines),
            rng.random(n_lines) < 0.15,
            np.full(n_lines, 55.8),
        ]
    )


LINES = np.vstack([np.array(STRONG_LINES, dtype=float), _forest()])


def toy_spectrum(
    wavelength: np.ndarray, teff: float, logg: float, mh: float, vmic: float
) -> np.ndarray:
    """Continuum-normalized toy spectrum (no rotation, no instrument).

    Parameters
    ----------
    wavelength
        Wavelengths in Angstrom.
    teff
        Effective temperature, K.
    logg
        Surface gravity, log10(cm s^-2).
    mh
        Metallicity [M/H], dex.
    vmic
        Microturbulence, km/s.

    Returns
    -------
    numpy.ndarray
        Flux in (0, 1], same shape as ``wavelength``.
    """
    theta = 5040.0 / teff
    centre, strength, ionized, mass = LINES.T
    ionized = ionized.astype(bool)
    # Neutral lines fade fast with temperature; ionized ones peak in F-A stars.
    log_tau = (
        strength
        + mh
        + np.where(
            ionized,
            3.0 * np.log10(theta) - 2.0 * (theta - 0.75) ** 2 - 0.3 * (logg - 4.0),
            6.0 * np.log10(theta),
        )
    )
    depth = 0.9 * (1.0 - np.exp(-(10.0**log_tau)))
    doppler = np.sqrt(2.0 * BOLTZMANN_OVER_AMU * teff / mass + vmic**2)
    sigma = centre * doppler / SPEED_OF_LIGHT / np.sqrt(2.0)
    tau = np.zeros_like(np.asarray(wavelength, dtype=float))
    for c, d, s in zip(centre, depth, sigma):
        near = np.abs(wavelength - c) < 8 * s
        tau[near] -= np.log1p(-d * np.exp(-0.5 * ((wavelength[near] - c) / s) ** 2))
    hydrogen_depth = 0.85 * np.exp(-(((teff - 9500.0) / 3500.0) ** 2))
    wing = 1.5 + 4.0 * (teff / 10000.0) ** 2 * 10 ** (0.25 * (logg - 4.0))
    tau -= np.log1p(-hydrogen_depth / (1.0 + ((wavelength - H_BETA) / wing) ** 2))
    return np.exp(-tau)


def toy_base_parameters(n_models: int, seed: int = 0) -> np.ndarray:
    """Uniform random (teff, logg, mh, vmic) over the paper's ranges, shape ``(n, 4)``."""
    names = ("teff", "logg", "mh", "vmic")
    low = np.array([PAPER_SPACE[n].minimum for n in names])
    high = np.array([PAPER_SPACE[n].maximum for n in names])
    return np.random.default_rng(seed).uniform(low, high, size=(n_models, 4))


def toy_base_grid(n_models: int = 60, seed: int = 0) -> SpectralGrid:
    """Unbroadened toy spectra at :data:`BASE_STEP` over the paper's window plus
    :data:`MARGIN`.

    Parameters
    ----------
    n_models
        Number of base models, drawn uniformly over the paper's (Teff, log g, [M/H], xi_t)
        ranges.
    seed
        Seed of the draws.

    Returns
    -------
    SpectralGrid
        In memory, over :data:`~spectral_cvae.parameters.BASE_SPACE`.
    """
    window = paper_wavelength()
    wavelength = uniform_grid(window[0] - MARGIN, window[-1] + MARGIN, BASE_STEP)
    parameters = toy_base_parameters(n_models, seed)
    flux = np.stack(
        [
            toy_spectrum(wavelength, *row)
            for row in tqdm(parameters, desc="toy base spectra", unit="model", disable=None)
        ]
    )
    provenance = {
        "spectra": "toy spectral model (spectral_cvae.grid.toy), not radiative transfer",
        "n_models": n_models,
        "seed": seed,
        "base_step_angstrom": BASE_STEP,
    }
    return SpectralGrid(wavelength, flux, parameters, BASE_SPACE, provenance)


def build_toy_grid(path: Path, n_models: int = 60, draws_per_model: int = 4, seed: int = 0) -> Path:
    """Build (or resume) a grid of broadened toy spectra at the paper's wavelengths.

    Parameters
    ----------
    path
        Grid file to write; an interrupted build resumes from ``<path>.partial``.
    n_models
        Number of base models (Teff, log g, [M/H], xi_t).
    draws_per_model
        (v sin i, R) draws per base model.
    seed
        Seed of the parameter draws.

    Returns
    -------
    pathlib.Path
        The finished grid file.
    """
    base = toy_base_grid(n_models, seed)
    augment(base, draws_per_model, seed=seed + 1, path=path).close()
    return path
