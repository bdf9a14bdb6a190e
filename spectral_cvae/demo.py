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

from .grid import GridWriter, SpectralGrid, broaden, paper_wavelength, uniform_grid
from .grid.toy import toy_base_parameters, toy_spectrum
from .parameters import PAPER_SPACE

BASE_STEP = 0.02
"""Sampling of the unbroadened base spectra, Angstrom (fine enough for 1e-3 broadening)."""
MARGIN = 10.0
"""Extra Angstrom computed beyond each end of the window, so broadening is exact inside."""


def draw_broadening(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw (v sin i in km/s, R) uniformly over the paper's ranges."""
    vsini = rng.uniform(PAPER_SPACE["vsini"].minimum, PAPER_SPACE["vsini"].maximum, n)
    resolution = rng.uniform(
        PAPER_SPACE["resolution"].minimum, PAPER_SPACE["resolution"].maximum, n
    )
    return vsini, resolution


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
    wavelength = paper_wavelength()
    base_wavelength = uniform_grid(wavelength[0] - MARGIN, wavelength[-1] + MARGIN, BASE_STEP)
    base = toy_base_parameters(n_models, seed)
    vsini, resolution = draw_broadening(n_models * draws_per_model, np.random.default_rng(seed + 1))
    provenance = {
        "spectra": "toy spectral model (spectral_cvae.grid.toy), not radiative transfer",
        "n_models": n_models,
        "draws_per_model": draws_per_model,
        "seed": seed,
        "base_step_angstrom": BASE_STEP,
    }
    with GridWriter(path, wavelength, provenance=provenance) as writer:
        done = writer.n_spectra // draws_per_model
        for model in tqdm(
            range(done, n_models),
            initial=done,
            total=n_models,
            desc="toy base models",
            unit="model",
            disable=None,
        ):
            teff, logg, mh, vmic = base[model]
            rows = slice(model * draws_per_model, (model + 1) * draws_per_model)
            flux = broaden(
                base_wavelength,
                toy_spectrum(base_wavelength, teff, logg, mh, vmic),
                vsini[rows],
                resolution[rows],
                wavelength_out=wavelength,
            )
            parameters = np.column_stack(
                [
                    np.full(draws_per_model, teff),
                    np.full(draws_per_model, logg),
                    vsini[rows],
                    np.full(draws_per_model, mh),
                    np.full(draws_per_model, vmic),
                    resolution[rows],
                ]
            )
            writer.append(np.clip(flux, 0.0, None), parameters)
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
