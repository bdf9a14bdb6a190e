"""Shared fixtures: small synthetic grids made on the spot (no downloads), one trained model.

Plain helpers (grids, configs, stand-in generators) are in ``helpers.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.grid.wavelength import uniform_grid

from .helpers import (
    line_spectrum,
    mg_b_grid,
    random_parameters,
    tiny_config,
    write_missing_tools_summary,
)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """End with what was skipped for a missing tool and the command that installs it."""
    write_missing_tools_summary(terminalreporter)


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


@pytest.fixture(scope="session")
def grid_file(tmp_path_factory):
    """The toy Mg b grid (48 spectra x 299 pixels) saved as ``toy.h5``."""
    return mg_b_grid().save(tmp_path_factory.mktemp("grid") / "toy.h5")


@pytest.fixture(scope="session")
def trained(grid_file, tmp_path_factory):
    """(generator, path): a tiny model trained once per run for 4 epochs, streaming from
    ``grid_file``, and saved. Tests read it; none may change it."""
    from spectral_cvae.model import train

    out = tmp_path_factory.mktemp("model") / "tiny.keras"
    config = tiny_config(epochs=4, in_memory_mb=0)
    generator = train(grid_file, config, seed=0, out=out, verbose=0)
    return generator, out
