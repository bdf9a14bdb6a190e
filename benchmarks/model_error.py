"""Measure a generator's own error on its validation stars, for honest fit error bars.

    python benchmarks/model_error.py --base-grid reference-sobol101.h5 [--model model.keras]
        [--draws 8] [--seed 11] [--pull-spectra 20] [--pull-snr 300]
        [--out model.model-error.npz]

The stars are the *validation* base models of the model's recorded split (never its test
stars, which ``benchmarks/fit_accuracy.py --test-stars`` keeps for checking the result),
each broadened to ``--draws`` random (v sin i, R) pairs. Generated minus true flux gives the
per-pixel RMS by Teff bin, its scale by v sin i bin and its correlation along the spectrum
(:func:`spectral_cvae.fitting.model_error.calibrate`). Then ``--pull-spectra`` of these
spectra (one per star) are made realistic at S/N ``--pull-snr`` (where the model error
dominates) and fitted with it: the median, over Teff, log g, [M/H] and xi_t (the base model's
parameters, which the generator emulates; v sin i and R are exact convolutions in the
physics-aware model), of the robust spread of their pulls becomes the error's ``factor``, so
that these pulls come to 1. Without ``--model``, the shipped
pretrained model is measured and the file is written beside it
(``spectral_cvae/data/pretrained.model-error.npz``); ``--base-grid`` lists the packed base
grids the model was trained on besides the starter grid, in its training command's order.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spectral_cvae.fitting import fit_spectrum, make_observation
from spectral_cvae.fitting.model_error import SUFFIX, ModelError, calibrate, recorded_stars
from spectral_cvae.grid.augment import augment
from spectral_cvae.model.physics_training import load_base_grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the shipped pretrained model")
    parser.add_argument("--base-grid", type=Path, action="append", default=[],
                        help="packed base grid the model trained on (repeat, in order)")
    parser.add_argument("--draws", type=int, default=8, help="(v sin i, R) draws per star")
    parser.add_argument("--seed", type=int, default=11, help="seed of the draws")
    parser.add_argument("--pull-spectra", type=int, default=20,
                        help="validation spectra fitted to calibrate the factor (0: factor 1)")
    parser.add_argument("--pull-snr", type=float, default=300.0,
                        help="their signal-to-noise ratio")
    parser.add_argument("--out", type=Path, help="default: <model>.model-error.npz")
    args = parser.parse_args()

    from spectral_cvae.model import SpectrumGenerator
    from spectral_cvae.pretrained import pretrained_path

    model = args.model or pretrained_path()
    generator = SpectrumGenerator.load(model)
    started = time.perf_counter()
    base = load_base_grids(args.base_grid)
    stars = recorded_stars(generator, base, "validation")
    spectra = augment(stars, args.draws, seed=args.seed, wavelength=generator.wavelength)
    grids = [{"file": record["file"], "sha256": record["sha256"]}
             for record in base.provenance["base_grids"]]
    names = " ".join(f"--base-grid {path.name}" for path in args.base_grid)
    model_name = "" if args.model is None else f" --model {args.model.name}"
    error = calibrate(
        generator, spectra,
        provenance={
            "model": Path(model).name,
            "grids": grids,
            "stars": int(len(stars)),
            "subset": "validation stars of the model's recorded split (by base model)",
            "draws_per_star": args.draws,
            "seed": args.seed,
            "command": f"python benchmarks/model_error.py{model_name} {names} "
                       f"--draws {args.draws} --seed {args.seed} --pull-spectra "
                       f"{args.pull_spectra} --pull-snr {args.pull_snr:g}",
        },
    )
    if args.pull_spectra:
        spreads = pull_spreads(generator, spectra, error, args)
        error.factor = float(np.median(list(spreads.values())))
        error.provenance["pull_calibration"] = {
            "spectra": args.pull_spectra, "snr": args.pull_snr,
            "robust_pull_spread_with_factor_1": spreads, "factor": error.factor,
        }
        print(f"robust pull spreads of {args.pull_spectra} validation fits at S/N "
              f"{args.pull_snr:g} with factor 1: "
              + ", ".join(f"{k} {v:.2f}" for k, v in spreads.items())
              + f" -> factor {error.factor:.2f}")
    out = args.out or Path(model).with_name(Path(model).stem + SUFFIX)
    error.save(out)
    print(f"{len(stars)} validation stars x {args.draws} draws = {spectra.n_spectra} spectra "
          f"in {time.perf_counter() - started:.0f} s; RMS {error.provenance['rms_all']:.2e}")
    for teff, rms in zip(error.teff, error.rms):
        print(f"  Teff ~{teff:6.0f} K: median per-pixel RMS {np.median(rms):.2e}, "
              f"max {rms.max():.2e}")
    for vsini, scale, rho in zip(error.vsini, error.scale, error.correlation):
        length = error.lag_step * (1.0 + 2.0 * rho[1:].sum())
        print(f"  v sin i ~{vsini:5.0f} km/s: RMS x {scale:.2f}, correlation length "
              f"{length:.1f} A")
    print(f"-> {out} ({out.stat().st_size / 1024:.0f} KiB)")


def pull_spreads(generator, spectra, error: ModelError, args) -> dict:
    """Robust spread (median |pull| / 0.6745) of Teff, log g, [M/H] and xi_t over fits of
    realistic validation spectra (one per star) with the model error as measured."""
    rng = np.random.default_rng(args.seed)
    stars = rng.choice(spectra.n_spectra // args.draws, args.pull_spectra, replace=False)
    names = list(spectra.space.names)
    pulls = {name: [] for name in ("teff", "logg", "mh", "vmic")}
    for i, star in enumerate(stars):
        row = int(star * args.draws + rng.integers(args.draws))
        observed = make_observation(
            generator.wavelength, spectra.spectrum(row).astype(float), snr=args.pull_snr,
            radial_velocity=rng.uniform(-150.0, 150.0), tilt=rng.uniform(-0.1, 0.1),
            curvature=rng.uniform(-0.05, 0.05), scale=rng.uniform(0.5, 2.0),
            mask_fraction=0.02, masked_band=5.0, seed=args.seed + i,
        )
        result = fit_spectrum(generator, observed, model_error=error)
        truth = spectra.parameters[row]
        for name in pulls:
            pulls[name].append((result.parameters[name] - truth[names.index(name)])
                               / result.uncertainties[name])
    return {name: float(np.median(np.abs(values)) / 0.6745) for name, values in pulls.items()}


if __name__ == "__main__":
    main()
