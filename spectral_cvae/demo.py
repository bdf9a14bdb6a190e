"""The end-to-end demonstration run by ``make demo`` / ``spectral-cvae demo``.

The main job on the embedded default: a grid over the paper's six parameters (base spectra
over Teff, log g, [M/H], xi_t, each broadened to several (v sin i, R) draws), split
by base model (the test stars are never trained on), the ``demo`` CVAE preset trained on it
and saved, and spectra generated at the held-out test parameters compared with the grid's own
spectra there, then the paper's evaluation (:func:`spectral_cvae.evaluation.evaluate_model`:
residual statistics, where they are by v sin i, R and Teff, heat map, marginals, a PCA
inverter's accuracy) written to ``report/``. Beside the honest number it measures what a
split of rows at random would have reported: stars the model trained on, broadened to fresh
(v sin i, R) draws. The grid is the shipped SYNSPEC
starter grid (:func:`spectral_cvae.starter.load_starter_grid`) by default, or the toy model
of :mod:`spectral_cvae.grid.toy` (seconds to build; used by the tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .grid import SpectralGrid
from .grid.toy import build_toy_grid, toy_base_grid

DEMO_INVERTER_HIDDEN = (256, 64)
"""Hidden layers of the demo's PCA inverter: the paper's (5000-2000-1000-64) is for paper scale."""


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


def plot_comparison(
    grid: SpectralGrid, rows: np.ndarray, generated: np.ndarray, path: Path
) -> Path:
    """PNG of generated spectra over held-out grid spectra, with their residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2 * len(rows),
        1,
        figsize=(11, 3.2 * len(rows)),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1] * len(rows)},
    )
    for k, row in enumerate(rows):
        top, bottom = axes[2 * k], axes[2 * k + 1]
        truth = grid.spectrum(row)
        top.plot(grid.wavelength, truth, lw=0.7, color="k", label="grid (held out)")
        top.plot(grid.wavelength, generated[k], lw=0.7, color="C1", label="CVAE")
        top.set_ylabel("normalized flux")
        top.set_title(grid.describe(row), fontsize=9)
        top.legend(loc="lower right", fontsize=8)
        bottom.plot(grid.wavelength, generated[k] - truth, lw=0.5, color="C3")
        bottom.axhline(0.0, color="k", lw=0.5)
        bottom.set_ylabel("Delta F")
    axes[-1].set_xlabel("wavelength [Angstrom]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def open_demo_grid(out: Path, source: str, n_models: int, draws_per_model: int, seed: int):
    """The demo's grid: ``"toy"`` (built into ``out``) or the shipped ``"starter"`` grid."""
    if source == "starter":
        from .starter import load_starter_grid

        return load_starter_grid(draws_per_model=draws_per_model, seed=seed)
    grid_path = out / "toy-grid.h5"
    if not grid_path.exists():
        build_toy_grid(grid_path, n_models, draws_per_model, seed)
    return SpectralGrid.open(grid_path)


def demo_base_grid(source: str, n_models: int, seed: int) -> SpectralGrid:
    """The unbroadened base models behind the demo's grid (toy or starter)."""
    if source == "starter":
        from .starter import load_starter_base_grid

        return load_starter_base_grid()
    return toy_base_grid(n_models, seed)


def leaky_comparison(
    generator, base: SpectralGrid, wavelength: np.ndarray, n_models: int, draws: int, seed: int
) -> dict:
    """Residuals on stars the model trained on, broadened to fresh (v sin i, R) draws.

    This is what a split of rows at random tests on; set beside the test on unseen stars, it
    shows how much such a split flatters a model.
    """
    from .evaluation.breakdown import residual_breakdown
    from .grid.augment import seen_stars
    from .provenance import recorded_training_keys

    seen = seen_stars(
        base,
        recorded_training_keys(generator.provenance),
        draws_per_model=draws,
        seed=seed + 1000,
        wavelength=wavelength,
        max_models=n_models,
    )
    return residual_breakdown(generator, seen, seed=seed)


def pretrained_check(base: SpectralGrid) -> dict:
    """The shipped pretrained model on starter stars it never saw (see ``starter_check``)."""
    from .pretrained import load_pretrained, starter_check

    return starter_check(load_pretrained(), base)


def run_demo(
    out: Path,
    n_models: int = 60,
    draws_per_model: int = 4,
    seed: int = 0,
    grid_source: str = "starter",
    epochs: int | None = None,
    time_limit: float = 300.0,
    verbose: int | str = 0,
) -> dict:
    """Make or open the grid, split it, train the demo CVAE, generate and compare.

    Parameters
    ----------
    out
        Folder for every file the demo writes.
    n_models, draws_per_model
        Size of the toy grid: base models, and (v sin i, R) draws per model (also the
        draws per base model of the starter grid).
    seed
        Seed of the grid, the split and the training.
    grid_source
        ``"toy"`` or ``"starter"``.
    epochs
        Override of the demo preset's maximum number of epochs.
    time_limit
        Training stops after the first epoch that ends past this many seconds (the best
        epoch's weights are kept), so the demo stays within minutes on a busy machine.
    verbose
        Keras verbosity while training.

    Returns
    -------
    dict
        Paths written, the grid's summary, split sizes, training time and the test
        residual statistics (``median_abs_residual`` in flux units).
    """
    import time

    from .evaluation import evaluate_model
    from .inversion import PCAInverter
    from .model import CVAEConfig, TimeLimit, train

    out.mkdir(parents=True, exist_ok=True)
    with open_demo_grid(out, grid_source, n_models, draws_per_model, seed) as grid:
        name = "toy-grid" if grid_source == "toy" else "starter-grid"
        split = grid.split(test=0.1, validation=0.1, seed=seed)  # by base model
        split_path = split.save(out / f"{name}.split.json")
        png = plot_examples(grid, out / f"{name}-examples.png")
        overrides = {} if epochs is None else {"epochs": epochs}
        start = time.perf_counter()
        generator = train(
            grid,
            CVAEConfig.preset("demo", **overrides),
            split=split,
            seed=seed,
            out=out / "demo-model.keras",
            checkpoint_every=10,
            callbacks=[TimeLimit(time_limit)],
            verbose=verbose,
        )
        training_seconds = time.perf_counter() - start
        picks = _examples(grid, split.test)
        comparison = plot_comparison(
            grid,
            picks,
            generator.generate(grid.parameters[picks]),
            out / "cvae-vs-held-out.png",
        )
        # No split given: the model's own, checked to hold no star it trained on.
        report = evaluate_model(
            generator,
            grid,
            None,
            out / "report",
            inverter=PCAInverter(hidden=DEMO_INVERTER_HIDDEN, epochs=300, seed=seed),
            synthesis=False,
            seed=seed,
        )
        overall = report["residuals"]["overall"]
        n_test_models = len(np.unique(grid.base_model[split.test]))
        base = demo_base_grid(grid_source, n_models, seed)  # read once, used twice
        leaky = leaky_comparison(
            generator,
            base,
            grid.wavelength,
            n_test_models,
            draws_per_model,
            seed,
        )
        return {
            "grid": grid.path or name,
            "split": split_path,
            "plot": png,
            "info": grid.info(),
            "sizes": split.sizes(),
            "model": out / "demo-model.keras",
            "comparison": comparison,
            "training_seconds": training_seconds,
            "epochs_trained": generator.provenance["epochs_trained"],
            "median_abs_residual": overall["median"],
            "p95_abs_residual": overall["p95"],
            "test_base_models": n_test_models,
            "breakdown": report["breakdown"],
            "leaky_breakdown": leaky,
            "pretrained": pretrained_check(base) if grid_source == "starter" else None,
            "report": report["files"]["markdown"],
        }


def _examples(grid: SpectralGrid, rows: np.ndarray) -> np.ndarray:
    """Up to three test spectra: the coolest, the middle and the hottest."""
    order = rows[np.argsort(grid.parameters[rows, 0])]
    return np.unique(order[[0, len(order) // 2, -1]])
