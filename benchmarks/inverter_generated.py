"""The paper's Table 3 test for a generator: does the PCA inverter read generated spectra as
well as synthetic ones, on stars the generator never saw?

A PCA inverter is fitted on synthetic spectra of the generator's training stars (broadened to
``--draws`` (v sin i, R) pairs each); it is then applied to synthetic spectra of the held-out
stars and to spectra the generator makes at the same parameters. Equal errors in the two
columns mean the generated spectra carry the parameters' signatures as SYNSPEC's do::

    python benchmarks/inverter_generated.py --model pretrained.keras \
        --base-grid reference-sobol101.h5 --hidden 256 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from spectral_cvae.evaluation import PAPER, parameter_errors
from spectral_cvae.grid import seen_stars, unseen_stars
from spectral_cvae.inversion import PCAInverter
from spectral_cvae.model import SpectrumGenerator, load_base_grids
from spectral_cvae.provenance import recorded_training_keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--base-grid", type=Path, action="append", default=[])
    parser.add_argument("--draws", type=int, default=4, help="(v sin i, R) pairs per star")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 64])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    generator = SpectrumGenerator.load(args.model)
    base = load_base_grids(args.base_grid)
    keys = recorded_training_keys(generator.provenance)
    start = time.perf_counter()
    training = seen_stars(base, keys, args.draws, seed=args.seed + 1)
    test = unseen_stars(base, keys, args.draws, seed=args.seed + 2)
    print(
        f"{training.n_spectra} training spectra, {test.n_spectra} test spectra of unseen stars "
        f"({time.perf_counter() - start:.0f} s to broaden)"
    )
    split = training.split(test=0, validation=0.1, seed=args.seed)
    inverter = PCAInverter(hidden=tuple(args.hidden), epochs=args.epochs, seed=args.seed)
    inverter.fit(training, split)
    truth = test.parameters
    synthetic = parameter_errors(truth, inverter.predict(test.read_flux()), test.space)
    generated_flux = generator.generate(truth)
    generated = parameter_errors(truth, inverter.predict(generated_flux), test.space)
    print(f"inverter {inverter}; MAE on unseen stars")
    print(
        f"{'parameter':10s} {'synthetic':>12s} {'generated':>12s} {'paper test / generated':>24s}"
    )
    for name in PAPER["table3"]:
        paper = PAPER["table3"][name]
        print(
            f"{name:10s} {synthetic[name]['mae']:12.3g} {generated[name]['mae']:12.3g} "
            f"{paper[2]:>11g} / {paper[3]:<11g} {synthetic[name]['unit']}"
        )


if __name__ == "__main__":
    main()
