"""Time and accuracy of the PCA inverter on a grid: streaming PCA, training, prediction.

    python benchmarks/inversion.py --grid demo-output/toy-grid.h5 [--split grid.split.json]
        [--hidden 5000 2000 1000 64] [--epochs 1000] [--out inverter.npz]

Prints the time of each step, the PCA's kept variance and the accuracy table (MAE / RMS per
parameter on train / validation / test, and the mean predictor's error on the test set).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spectral_cvae.evaluation.accuracy import parameter_errors, predict_rows
from spectral_cvae.grid import GridSplit, SpectralGrid
from spectral_cvae.inversion import PCAInverter, fit_pca


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, required=True)
    parser.add_argument("--split", type=Path, help="default <grid>.split.json, else grid.split()")
    parser.add_argument("--n-components", type=int, default=25)
    parser.add_argument("--hidden", type=int, nargs="+", default=[5000, 2000, 1000, 64])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="save the fitted inverter here")
    args = parser.parse_args()

    with SpectralGrid.open(args.grid) as grid:
        split_path = args.split or args.grid.with_suffix(".split.json")
        split = GridSplit.load(split_path, grid.n_spectra) if split_path.exists() else grid.split()
        print(f"{grid!r}; split {split.sizes()}")

        def train_flux():
            return (flux for _, _, flux in grid.iter_batches(1024, split.train))

        start = time.perf_counter()
        pca = fit_pca(train_flux, args.n_components)
        seconds = time.perf_counter() - start
        kept = pca.explained_variance.sum() / pca.total_variance
        print(
            f"streaming PCA ({args.n_components} components, 6 passes over "
            f"{len(split.train)} spectra): {seconds:.2f} s, keeps {kept:.5%} of the variance"
        )

        inverter = PCAInverter(args.n_components, hidden=tuple(args.hidden), epochs=args.epochs)
        start = time.perf_counter()
        inverter.fit(grid, split)
        print(
            f"fit (PCA + network {args.hidden}): {time.perf_counter() - start:.1f} s, "
            f"{len(inverter.history_['loss'])} epochs"
        )
        flux = grid.read_flux(split.test)
        start = time.perf_counter()
        inverter.predict(flux)
        per_spectrum = (time.perf_counter() - start) / len(flux)
        print(f"predict: {per_spectrum * 1e3:.3f} ms per spectrum (batch of {len(flux)}, NumPy)")

        print("\n| parameter | " + " | ".join(("train", "validation", "test", "mean")) + " |")
        print("|---|---|---|---|---|")
        errors = {
            part: parameter_errors(
                grid.parameters[getattr(split, part)],
                predict_rows(inverter, grid, getattr(split, part)),
                grid.space,
            )
            for part in ("train", "validation", "test")
        }
        mean = np.broadcast_to(
            grid.parameters[split.train].mean(axis=0), (len(split.test), len(grid.space))
        )
        errors["mean"] = parameter_errors(grid.parameters[split.test], mean, grid.space)
        for name in grid.space.names:
            cells = [f"{e[name]['mae']:.3g} / {e[name]['rms']:.3g}" for e in errors.values()]
            print(f"| {name} | " + " | ".join(cells) + " |")
        if args.out:
            print(f"\nsaved {inverter.save(args.out)}")


if __name__ == "__main__":
    main()
