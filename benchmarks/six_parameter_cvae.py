"""The paper's six-parameter CVAE trained on the same stars as the physics-aware model.

The base grids are split by base model exactly as ``spectral-cvae train-physics`` splits them
(same seed, same sizes); the training and validation stars are broadened to ``--draws``
(v sin i, R) pairs each, and a six-parameter CVAE (the ``demo`` preset, or ``paper``) is
trained on them for at most ``--time-limit`` seconds. Its accuracy on the held-out stars is
then measured by ``benchmarks/accuracy.py``::

    python benchmarks/six_parameter_cvae.py --base-grid reference-sobol101.h5 \
        --out artifacts/six-parameter.keras --time-limit 1800
    python benchmarks/accuracy.py --model artifacts/six-parameter.keras \
        --base-grid reference-sobol101.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spectral_cvae.grid import GridSplit, SpectralGrid, augment
from spectral_cvae.model import CVAEConfig, PhysicsConfig, TimeLimit, load_base_grids, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-grid", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True, help="model file (.keras)")
    parser.add_argument("--preset", default="demo", choices=["demo", "paper"])
    parser.add_argument("--draws", type=int, default=4, help="(v sin i, R) pairs per star")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds")
    args = parser.parse_args()

    base = load_base_grids(args.base_grid)
    physics = PhysicsConfig.preset("physics")
    stars = base.split(test=physics.test, validation=physics.validation, seed=args.seed)
    used = np.concatenate([stars.train, stars.validation])
    broadened_path = args.out.with_name(args.out.stem + "-grid.h5")
    start = time.perf_counter()
    if broadened_path.exists():
        grid = SpectralGrid.open(broadened_path)
    else:
        grid = augment(base.subset(used), args.draws, seed=args.seed + 1, path=broadened_path)
    print(f"broadened {len(used)} stars x {args.draws} in {time.perf_counter() - start:.0f} s")
    # The same stars for training and validation as the physics-aware model.
    validation_stars = np.isin(grid.base_model, stars.validation)
    split = GridSplit(
        train=np.flatnonzero(~validation_stars),
        validation=np.flatnonzero(validation_stars),
        test=np.array([], dtype=np.int64),
        n_spectra=grid.n_spectra,
        seed=args.seed,
    )
    start = time.perf_counter()
    generator = train(
        grid,
        CVAEConfig.preset(args.preset),
        split=split,
        seed=args.seed,
        out=args.out,
        checkpoint_every=5,
        callbacks=[TimeLimit(args.time_limit)],
        verbose=2,
    )
    print(
        f"trained {generator.provenance['epochs_trained']} epochs in "
        f"{time.perf_counter() - start:.0f} s; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
