"""The end-to-end demonstration run by ``make demo`` / ``spectral-cvae demo``.

Today it exercises the spectral-grid foundation on toy spectra (see
:mod:`spectral_cvae.grid.toy`): base spectra over the paper's (Teff, log g, [M/H], xi_t)
ranges, each broadened to several (v sin i, R) draws over the paper's ranges, written to a
resumable HDF5 grid, split reproducibly, summarized and plotted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .grid import SpectralGrid, paper_wavelength, uniform_grid
from .grid.augment import BASE_SPACE, augment
from .grid.toy import toy_base_parameters, toy_spectrum

BASE_STEP = 0.02
"""Sampling of the unbroadened base spectra, Angstrom (fine enough for 1e-3 broadening)."""
MARGIN = 10.0
"""Extra Angstrom computed beyond each end of the window, so broadening is exact inside."""


def toy_base_grid(n_models: int = 60, seed: int = 0) -> SpectralGrid:
    """Unbroadened toy spectra at 0.02 A over the paper's window plus a margin.

    Parameters are drawn uniformly over the paper's (Teff, log g, [M/H], xi_t) ranges.
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


def plot_examples(grid: SpectralGrid, path: Path) -> Path:
    """PNG of the coolest, a solar-like and the hottest spectrum of the grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    teff, logg = grid.parameters[:, 0], grid.parameters[:, 1]
    solar = int(np.argmin(np.abs(teff - 5800.0) / 1000.0 + np.abs(logg - 4.4)))
    picks = [int(np.argmin(teff)), solar, int(np.argmax(teff))]
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for ax, index in zip(axes, picks):
        grid.plot(index, ax=ax)
        ax.set_xlabel("")
    axes[-1].set_xlabel("wavelength [Angstrom]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_demo(out: Path, n_models: int = 60, draws_per_model: int = 4, seed: int = 0) -> dict:
    """Build the toy grid, split it, and write a summary PNG into ``out``.

    Returns
    -------
    dict
        Paths written and the grid's summary.
    """
    out.mkdir(parents=True, exist_ok=True)
    grid_path = out / "toy-grid.h5"
    if not grid_path.exists():
        build_toy_grid(grid_path, n_models, draws_per_model, seed)
    with SpectralGrid.open(grid_path) as grid:
        split = grid.split(test=0.1, validation=0.1, seed=seed)
        split_path = split.save(out / "toy-grid.split.json")
        png = plot_examples(grid, out / "toy-grid-examples.png")
        return {
            "grid": grid_path,
            "split": split_path,
            "plot": png,
            "info": grid.info(),
            "sizes": split.sizes(),
        }
