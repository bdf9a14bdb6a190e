"""Fitting held-out grid spectra made realistic: accuracy, honesty of the errors, speed.

    python benchmarks/fit_accuracy.py --model model.keras --grid grid.h5
        [--split grid.split.json] [--inverter inverter.npz] [--n-spectra 50]
        [--snr 20 50 100] [--resolution-known] [--model-error none auto] [--seed 0]
        [--out fits.json]
    python benchmarks/fit_accuracy.py --test-stars --base-grid reference-sobol101.h5
        [--model model.keras] ...  # the model's own test stars (default: the shipped model)
    python benchmarks/fit_accuracy.py --tiny     # a toy grid and a tiny model made on the spot

With ``--test-stars`` the spectra are the *test* base models of the model's recorded split
(``--base-grid``: the packed base grids it trained on besides the starter grid, in its
training command's order), one random (v sin i, R) draw each: stars it never saw, and that
its model-error file never saw either (that is measured on the validation stars).

Each test spectrum of the grid (a base-model split: stars the generator never saw) is made
realistic: a random radial velocity within +-150 km/s, a random quadratic continuum (tilt
up to +-10 %, curvature up to +-5 %), flux-conserving resampling onto another wavelength grid
(1.3 times the grid's step, offset, 5 A inside each end), 2 % of the pixels hit by cosmic rays
and masked plus one masked 5 A band, and Gaussian noise at S/N 20, 50 and 100 (uncertainties
given). It is then fitted with :func:`spectral_cvae.fitting.fit_spectrum`, once per
``--model-error`` setting (the same noisy spectrum each time).

Printed per S/N and parameter: the mean absolute error and the bias (mean) of fit minus truth,
the standard deviation of the pulls (fit minus truth over the stated error; 1 for honest
errors) and their robust spread (median |pull| / 0.6745, which a few failed fits do not
dominate), with a model error also the same for the same fits' noise-only errors
(``FitResult.noise_uncertainties``: the error bars as if the generator were exact), and, given an inverter, the PCA inverter's MAE and bias on the same noisy spectra
brought to rest and divided by the true continuum (information the fit is not given). Then
the time per fit: wall clock, CPU time of all threads (steadier on a shared machine) and
calls to the generator's ``generate()``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from spectral_cvae.fitting import fit_spectrum
from spectral_cvae.fitting.observation import doppler_factor
from spectral_cvae.grid import GridSplit, SpectralGrid, uniform_grid
from spectral_cvae.grid.wavelength import resample


def realistic(
    wavelength: np.ndarray, flux: np.ndarray, snr: float, rng: np.random.Generator
) -> dict:
    """One grid spectrum as an observation: shifted, tilted, resampled, masked, noisy."""
    rv = rng.uniform(-150.0, 150.0)
    step = 1.3 * np.median(np.diff(wavelength))
    start = wavelength[0] + 5.0 + rng.uniform(0.0, step)
    observed = uniform_grid(start, wavelength[-1] - 5.0, step)
    rest = observed / doppler_factor(rv)
    x = (2.0 * observed - (observed[0] + observed[-1])) / (observed[-1] - observed[0])
    tilt, curvature = rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05)
    continuum = rng.uniform(0.5, 2.0) * (1.0 + tilt * x + curvature * (2 * x**2 - 1))
    signal = resample(wavelength, flux, rest) * continuum
    error = continuum / snr
    observed_flux = signal + rng.normal(0.0, 1.0, signal.size) * error
    mask = rng.random(signal.size) < 0.02
    observed_flux[mask] += 0.5 * continuum[mask]  # cosmic rays, masked
    band = rng.uniform(observed[0], observed[-1] - 5.0)
    mask |= (observed >= band) & (observed <= band + 5.0)
    return dict(wavelength=observed, flux=observed_flux, error=error, mask=mask, rv=rv,
                continuum=continuum)


def inverter_input(spectrum: dict, wavelength: np.ndarray) -> np.ndarray:
    """The noisy spectrum at rest, divided by the true continuum, masked pixels interpolated,
    on the grid's wavelengths (1 beyond the observed range)."""
    good = ~spectrum["mask"]
    rest = spectrum["wavelength"][good] / doppler_factor(spectrum["rv"])
    normalized = spectrum["flux"][good] / spectrum["continuum"][good]
    return np.interp(wavelength, rest, normalized, left=1.0, right=1.0)


class ToyRecipeGenerator:
    """The toy grid's own recipe (toy spectrum, then rotation and instrument) behind the
    generator API: it has no emulation error, so fits with it test the fitting alone."""

    def __init__(self, base_wavelength: np.ndarray, wavelength: np.ndarray) -> None:
        from spectral_cvae.parameters import PAPER_SPACE

        self.base_wavelength = base_wavelength
        self.wavelength = wavelength
        self.space = PAPER_SPACE

    def generate(self, params: object, latent: str = "mean") -> np.ndarray:
        from spectral_cvae.grid import broaden
        from spectral_cvae.grid.toy import toy_spectrum

        theta = self.space.check(params)
        return np.stack([
            broaden(self.base_wavelength, toy_spectrum(self.base_wavelength, t[0], t[1], t[3],
                                                       t[4]),
                    t[2], t[5], wavelength_out=self.wavelength)
            for t in theta
        ])


TINY_BASE = (4940.0, 5110.0, 0.02)
TINY_WINDOW = (4950.0, 5100.0, 0.05)


def tiny_setup(folder: Path, seed: int = 0):
    """A toy grid (150 A, 80 base models x 4 broadenings), a tiny CVAE and a small inverter."""
    from spectral_cvae.grid.augment import augment
    from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
    from spectral_cvae.inversion import PCAInverter
    from spectral_cvae.model import CVAEConfig, train
    from spectral_cvae.parameters import BASE_SPACE

    base_wavelength = uniform_grid(*TINY_BASE)
    parameters = toy_base_parameters(80, seed)
    base = SpectralGrid(
        base_wavelength,
        np.stack([toy_spectrum(base_wavelength, *row) for row in parameters]),
        parameters,
        BASE_SPACE,
        {"spectra": "toy"},
    )
    grid = augment(base, 4, seed=seed + 1, wavelength=uniform_grid(*TINY_WINDOW))
    split = grid.split(test=0.1, validation=0.1, seed=seed)
    config = CVAEConfig.preset(
        "demo", encoder_units=(128, 64), decoder_units=(64, 128), latent_dim=4, batch_size=16,
        epochs=40, learning_rate=3e-3,
    )
    started = time.perf_counter()
    generator = train(grid, config, split=split, seed=seed, out=folder / "tiny.keras", verbose=0)
    print(f"tiny setup: toy grid {grid.n_spectra} x {grid.wavelength.size} pixels, split "
          f"{split.sizes()}; CVAE trained in {time.perf_counter() - started:.0f} s")
    inverter = PCAInverter(n_components=10, hidden=(64, 32), epochs=100, verbose=0)
    inverter.fit(grid, split)
    return generator, grid, split, inverter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path,
                        help="generator (.keras); with --test-stars default the shipped one")
    parser.add_argument("--grid", type=Path, help="grid (.h5) with the held-out spectra")
    parser.add_argument("--test-stars", action="store_true",
                        help="fit the model's own test stars from --base-grid instead of --grid")
    parser.add_argument("--base-grid", type=Path, action="append", default=[],
                        help="with --test-stars: a packed base grid the model trained on "
                        "besides the starter grid (repeat, in order)")
    parser.add_argument("--model-error", nargs="+", default=["auto"], choices=["auto", "none"],
                        help="fit each spectrum with each of these model-error settings")
    parser.add_argument("--split", type=Path, help="default <grid>.split.json, else grid.split()")
    parser.add_argument("--inverter", type=Path, help="PCA inverter (.npz) to compare with")
    parser.add_argument("--n-spectra", type=int, default=50, help="test spectra per S/N")
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 50.0, 100.0])
    parser.add_argument("--resolution-known", action="store_true",
                        help="give the fit the true R (held fixed) instead of fitting it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="make a toy grid, a tiny model and inverter here (about a minute)")
    parser.add_argument("--toy-recipe", action="store_true",
                        help="with --tiny: fit with the toy grid's own recipe instead of the "
                        "tiny CVAE (no emulation error: tests the fitting alone; slower)")
    parser.add_argument("--out", type=Path, help="write every fit's numbers here (JSON)")
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory()
    if args.test_stars:
        generator, grid, split = test_stars(args.model, args.base_grid, args.seed)
        inverter = None
    elif args.tiny:
        generator, grid, split, inverter = tiny_setup(Path(workdir.name), args.seed)
        if args.toy_recipe:
            generator = ToyRecipeGenerator(uniform_grid(*TINY_BASE), grid.wavelength)
    else:
        if args.model is None or args.grid is None:
            parser.error("give --model and --grid, or --tiny")
        from spectral_cvae.inversion import PCAInverter
        from spectral_cvae.model import SpectrumGenerator

        generator = SpectrumGenerator.load(args.model)
        grid = SpectralGrid.open(args.grid)
        split_path = args.split or args.grid.with_suffix(".split.json")
        split = GridSplit.load(split_path, grid.n_spectra) if split_path.exists() else grid.split()
        inverter = PCAInverter.load(args.inverter) if args.inverter else None

    space = generator.space
    rng = np.random.default_rng(args.seed)
    rows = rng.permutation(split.test)[: args.n_spectra]
    truth_all = grid.parameters
    records = []
    bar = tqdm(total=len(args.snr) * len(rows) * len(args.model_error), unit="fits",
               desc="fitting", disable=None)
    for snr in args.snr:
        # Each S/N draws its own noise, so a run of some of them repeats those of a full run.
        rng = np.random.default_rng([args.seed, int(round(snr))])
        for row in rows:
            truth = truth_all[row]
            spectrum = realistic(grid.wavelength, grid.spectrum(int(row)).astype(float), snr, rng)
            predicted = None
            if inverter is not None:
                predicted = inverter.predict(
                    inverter_input(spectrum, grid.wavelength)[None, :], wavelength=grid.wavelength
                )[0]
            for setting in args.model_error:
                started, cpu_started = time.perf_counter(), time.process_time()
                result = fit_spectrum(
                    generator, spectrum["wavelength"], spectrum["flux"], spectrum["error"],
                    spectrum["mask"],
                    resolution=truth[space.names.index("resolution")] if args.resolution_known
                    else None,
                    inverter=inverter,
                    model_error=setting,
                )
                seconds = time.perf_counter() - started
                record = {
                    "snr": snr, "row": int(row), "seconds": seconds,
                    "cpu_seconds": time.process_time() - cpu_started,
                    "generate_calls": result.n_generate_calls, "model_error": setting,
                    "model_error_used": result.model_error,
                    "truth": dict(zip(space.names, truth.tolist())),
                    "fit": result.parameters, "error": result.uncertainties,
                    "noise_error": result.noise_uncertainties,
                    "rv_truth": spectrum["rv"], "rv_fit": result.radial_velocity,
                    "rv_error": result.radial_velocity_error, "converged": result.converged,
                    "on_bound": result.on_bound, "reduced_chi2": result.reduced_chi2,
                }
                if predicted is not None:
                    record["inverter"] = dict(zip(space.names, predicted.tolist()))
                records.append(record)
                bar.update()
    bar.close()
    for setting in args.model_error:
        print(f"\n## model error: {setting} "
              f"({next(r['model_error_used'] for r in records if r['model_error'] == setting)})")
        report([r for r in records if r["model_error"] == setting], space,
               inverter is not None, args)
    if args.out:
        args.out.write_text(json.dumps(records, indent=1))
        print(f"every fit -> {args.out}")
    workdir.cleanup()


def test_stars(model: Path | None, base_grids: list[Path], seed: int):
    """The model's test stars (its recorded split) at one random (v sin i, R) draw each,
    with a split that tests on all of them."""
    from spectral_cvae.fitting.model_error import recorded_stars
    from spectral_cvae.grid.augment import augment
    from spectral_cvae.model import SpectrumGenerator
    from spectral_cvae.model.physics_training import load_base_grids
    from spectral_cvae.pretrained import pretrained_path

    generator = SpectrumGenerator.load(model or pretrained_path())
    stars = recorded_stars(generator, load_base_grids(base_grids), "test")
    grid = augment(stars, 1, seed=seed + 1, wavelength=generator.wavelength)
    empty = np.array([], dtype=np.int64)
    split = GridSplit(empty, empty, np.arange(grid.n_spectra), grid.n_spectra, seed=seed,
                      by="base_model")
    print(f"{len(stars)} test stars of the model's recorded split, one (v sin i, R) draw each")
    return generator, grid, split


def spreads(difference: np.ndarray, error: np.ndarray) -> list[str]:
    """Standard deviation and robust spread (median |pull| / 0.6745) of the pulls."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pulls = difference / error
    pulls = pulls[np.isfinite(pulls)]
    if pulls.size < 2:
        return ["-", "-"]
    return [f"{np.std(pulls):.2f}", f"{np.median(np.abs(pulls)) / 0.6745:.2f}"]


def report(records: list[dict], space, with_inverter: bool, args) -> None:
    names = list(space.names)
    print(f"\n{len(records)} fits of {len(records) // len(args.snr)} held-out spectra per S/N "
          f"(R {'given' if args.resolution_known else 'fitted'})")
    for snr in args.snr:
        group = [r for r in records if r["snr"] == snr]
        with_model_error = any(not r["model_error_used"].startswith("none") for r in group)
        header = "| parameter | fit MAE | fit bias | pull std | robust pull spread |"
        rule = "|---|---|---|---|---|"
        if with_model_error:
            header += " noise-only pull std | noise-only robust spread |"
            rule += "---|---|"
        if with_inverter:
            header += " inverter MAE | inverter bias |"
            rule += "---|---|"
        print(f"\nS/N {snr:g}: {sum(r['converged'] for r in group)} of {len(group)} converged, "
              f"{sum(bool(r['on_bound']) for r in group)} ended on a bound, median reduced "
              f"chi2 {np.median([r['reduced_chi2'] for r in group]):.3g}")
        print(header)
        print(rule)
        for name in names + ["radial_velocity"]:
            if name == "radial_velocity":
                truth = np.array([r["rv_truth"] for r in group])
                fit = np.array([r["rv_fit"] for r in group])
                error = np.array([r["rv_error"] for r in group])
                unit = "km / s"
            else:
                truth = np.array([r["truth"][name] for r in group])
                fit = np.array([r["fit"][name] for r in group])
                error = np.array([r["error"][name] for r in group])
                unit = space[name].unit
            difference = fit - truth
            cells = [f"{np.mean(np.abs(difference)):.3g}", f"{np.mean(difference):+.3g}",
                     *spreads(difference, error)]
            if with_model_error:
                if name == "radial_velocity":
                    cells += ["-", "-"]
                else:
                    noise_error = np.array([r["noise_error"][name] for r in group])
                    cells += spreads(difference, noise_error)
            if with_inverter:
                if name == "radial_velocity":
                    cells += ["-", "-"]
                else:
                    inverted = np.array([r["inverter"][name] for r in group]) - truth
                    cells += [f"{np.mean(np.abs(inverted)):.3g}", f"{np.mean(inverted):+.3g}"]
            label = f"{name} ({unit})" if unit else name
            print(f"| {label} | " + " | ".join(cells) + " |")
    seconds = np.array([r["seconds"] for r in records])
    cpu = np.array([r["cpu_seconds"] for r in records])
    calls = np.array([r["generate_calls"] for r in records])
    print(f"\ntime per fit: median {np.median(seconds):.2f} s, mean {seconds.mean():.2f} s, "
          f"max {seconds.max():.2f} s; CPU time (all threads) median {np.median(cpu):.2f} s, "
          f"mean {cpu.mean():.2f} s; generate() calls median {np.median(calls):.0f}, "
          f"mean {calls.mean():.1f}")


if __name__ == "__main__":
    main()
