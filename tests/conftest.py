"""Shared fixtures: small synthetic grids made on the spot (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.grid import SpectralGrid
from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
from spectral_cvae.grid.wavelength import uniform_grid
from spectral_cvae.model import CVAEConfig
from spectral_cvae.parameters import PAPER_SPACE

MISSING_TOOLS = (
    (
        ("SYNSPEC", "gfortran"),
        "SYNSPEC",
        "apt-get install -y gfortran && spectral-cvae synspec install",
    ),
    (("chromium", "playwright"), "Chromium", "apt-get install -y chromium"),
    (("jax is not installed",), "JAX", "pip install -r requirements/lock-jax.txt"),
)
"""(words in a skip reason, the missing tool, the one command that enables its tests)."""


def skipped_for_missing_tools(reports) -> dict[str, tuple[str, int]]:
    """Skipped tests counted by the tool they miss: tool -> (command, number of tests)."""
    found: dict[str, tuple[str, int]] = {}
    for report in reports:
        longrepr = getattr(report, "longrepr", None)
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        for words, tool, command in MISSING_TOOLS:
            if any(word.lower() in reason.lower() for word in words):
                found[tool] = (command, found.get(tool, (command, 0))[1] + 1)
                break
    return found


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """End with what was skipped for a missing tool and the command that installs it."""
    found = skipped_for_missing_tools(terminalreporter.stats.get("skipped", []))
    if not found:
        return
    terminalreporter.section("skipped for a missing tool", sep="-", yellow=True)
    for tool, (command, n) in found.items():
        terminalreporter.write_line(f"{n} test(s) need {tool}; to run them: {command}")


def tiny_config(**overrides) -> CVAEConfig:
    """A CVAE small enough to train in a second or two on a 2-core CPU."""
    settings = dict(encoder_units=(32, 16), decoder_units=(16, 32), latent_dim=4, batch_size=8,
                    epochs=3, learning_rate=3e-3)
    return CVAEConfig.preset("demo", **{**settings, **overrides})


def toy_grid(wavelength: np.ndarray, n: int = 48, seed: int = 0, **kwargs) -> SpectralGrid:
    """Toy spectra at random points of the paper's six-parameter space."""
    base = toy_base_parameters(n, seed)
    flux = np.stack([toy_spectrum(wavelength, *row) for row in base]).astype(np.float32)
    rng = np.random.default_rng(seed)
    parameters = np.column_stack(
        [base[:, 0], base[:, 1], rng.uniform(0, 300, n), base[:, 2], base[:, 3]]
        + [rng.uniform(1000, 115000, n)]
    )
    return SpectralGrid(wavelength, flux, parameters, **kwargs)


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
