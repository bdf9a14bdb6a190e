"""How to draw R and how to give it to the six-parameter CVAE, chosen by the numbers.

Four ``demo``-preset CVAEs are trained on the starter grid's training stars (split by base
model, seed 0), each for ``--epochs`` epochs: R drawn uniformly (the paper's) or
log-uniformly, and conditioned on R or on log R (``PAPER_SPACE.with_scales(resolution="log")``),
for the same number of epochs (``--epochs``; early stopping off) so that machine load does not
decide the comparison.
All four are tested on the same held-out stars, broadened to fresh draws with log-uniform R
(so every decade of R is tested), by R bin::

    python benchmarks/resolution_draws.py --epochs 12
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spectral_cvae.evaluation.breakdown import breakdown_table, format_table, residual_breakdown
from spectral_cvae.grid import augment
from spectral_cvae.grid.store import in_memory_grid
from spectral_cvae.model import CVAEConfig, train
from spectral_cvae.parameters import PAPER_SPACE
from spectral_cvae.starter import load_starter_base_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per model")
    parser.add_argument("--draws", type=int, default=4, help="(v sin i, R) pairs per star")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    base = load_starter_base_grid()
    stars = base.split(seed=args.seed)
    used = np.concatenate([stars.train, stars.validation])
    test = augment(
        base.subset(stars.test),
        args.draws,
        seed=args.seed + 99,
        resolution_distribution="log-uniform",
    )
    results = {}
    for distribution in ("uniform", "log-uniform"):
        grid = augment(
            base.subset(used),
            args.draws,
            seed=args.seed + 1,
            resolution_distribution=distribution,
        )
        for scale in ("linear", "log"):
            space = PAPER_SPACE.with_scales(resolution=scale)
            view = in_memory_grid(
                grid.wavelength,
                grid.flux,
                grid.parameters,
                space,
                grid.provenance,
                grid.base_model,
            )
            split = view.split(test=0, validation=0.1, seed=args.seed)  # test stars held out
            config = CVAEConfig.preset("demo", epochs=args.epochs, patience=args.epochs)
            generator = train(view, config, split=split, seed=args.seed, verbose=0)
            tested = in_memory_grid(
                test.wavelength,
                test.flux,
                test.parameters,
                space,
                test.provenance,
                test.base_model,
            )
            name = f"R drawn {distribution}, condition {'log R' if scale == 'log' else 'R'}"
            results[name] = residual_breakdown(generator, tested, latents=("mean",))
            print(name, f"({generator.provenance['epochs_trained']} epochs)")
            print(format_table(*breakdown_table(results[name])), flush=True)
    header = ["test spectra", *results]
    labels = [row["label"] for row in next(iter(results.values()))["rows"]]
    rows = [
        [label, *[f"{r['rows'][k]['median']['mean']:.2e}" for r in results.values()]]
        for k, label in enumerate(labels)
    ]
    print("median |Delta F| (z = 0) on unseen stars, log-uniform R test draws")
    print(format_table(header, rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
