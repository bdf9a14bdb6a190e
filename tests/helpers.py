"""Plain helpers shared by the tests: small grids, a tiny CVAE, an analytic generator.

Fixtures live in ``conftest.py``; this module holds what tests call directly, so that no
test module imports another.
"""

from __future__ import annotations

import numpy as np

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


def write_missing_tools_summary(terminalreporter) -> None:
    """End the run with what was skipped for a missing tool and the command that installs it."""
    found = skipped_for_missing_tools(terminalreporter.stats.get("skipped", []))
    if not found:
        return
    terminalreporter.section("skipped for a missing tool", sep="-", yellow=True)
    for tool, (command, n) in found.items():
        terminalreporter.write_line(f"{n} test(s) need {tool}; to run them: {command}")


# -- grids and models -----------------------------------------------------------------------------
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


def mg_b_grid(n: int = 48, seed: int = 0) -> SpectralGrid:
    """Toy spectra of 299 pixels around the Mg b triplet, depending on the parameters."""
    return toy_grid(uniform_grid(5160.0, 5189.9, 0.1), n, seed, provenance={"made_by": "test"})


def explorer_grid(n: int = 48, seed: int = 0) -> SpectralGrid:
    """Toy spectra from H-beta to past the Mg b triplet, at a coarse 0.5 A step."""
    return toy_grid(uniform_grid(4840.0, 5200.0, 0.5), n, seed)


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


# -- a generator without training, for the fits -----------------------------------------------
TRUTH = np.array([6234.0, 3.9, 42.0, -0.3, 1.7, 35000.0])
"""The parameters of the spectrum the fit tests recover."""


class AnalyticGenerator:
    """A deterministic stand-in for a trained generator: Gaussian lines whose depths and
    widths depend smoothly, and each differently, on the six parameters."""

    def __init__(self, start=4900.0, stop=5150.0, step=0.05, n_lines=80, seed=7):
        rng = np.random.default_rng(seed)
        self.wavelength = uniform_grid(start, stop, step)
        self.space = PAPER_SPACE
        self.centre = rng.uniform(start + 2.0, stop - 2.0, n_lines)
        self.depth_weights = rng.normal(0.0, 1.5, (n_lines, 6))
        self.width_weights = rng.normal(0.0, 1.0, (n_lines, 6))
        self.depth_bias = rng.normal(0.0, 0.5, n_lines)
        half = int(np.ceil(1.2 / step))
        first = np.searchsorted(self.wavelength, self.centre) - half
        self.index = first[:, None] + np.arange(2 * half + 1)[None, :]
        self.batch_sizes: list[int] = []

    def generate(self, params, latent="mean"):
        theta = self.space.check(params)
        self.batch_sizes.append(len(theta))
        x = self.space.normalize(theta) - 0.5
        depth = 0.7 / (1.0 + np.exp(-(x @ self.depth_weights.T + self.depth_bias)))
        width = 0.08 + 0.12 / (1.0 + np.exp(-(x @ self.width_weights.T)))
        offset = self.wavelength[self.index][None] - self.centre[None, :, None]
        log = np.log1p(-depth[:, :, None] * np.exp(-0.5 * (offset / width[:, :, None]) ** 2))
        tau = np.stack(
            [np.bincount(self.index.ravel(), row.ravel(), self.wavelength.size) for row in log]
        )
        return np.exp(tau).astype(np.float32)


def clean(generator, truth=TRUTH) -> np.ndarray:
    """The noiseless spectrum of ``generator`` at ``truth``, float64."""
    return generator.generate(truth)[0].astype(float)
