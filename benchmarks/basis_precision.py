"""What the physics-aware model's basis costs: PCA truncation and float16 storage, in flux.

The logit-PCA basis is fitted on the training stars of the split ``train-physics`` uses; the
held-out stars' base spectra are projected on it (the best any network writing K coefficients
can do) and rebuilt with the components stored as float32 and as float16, then broadened to
fresh (v sin i, R) draws on the paper's pixels::

    python benchmarks/basis_precision.py --base-grid reference-sobol101.h5 --components 64 128 256
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spectral_cvae.grid import broaden, paper_wavelength
from spectral_cvae.grid.wavelength import log_uniform_grid
from spectral_cvae.model import PhysicsConfig, load_base_grids
from spectral_cvae.model.broadening_layers import BASE_WINDOW
from spectral_cvae.model.physics import fit_basis, to_logit
from spectral_cvae.model.physics_training import log_base_flux


def rebuild(logit_mean, components, coefficients, flux_scale) -> np.ndarray:
    """Flux from unstandardized coefficients and components of any precision."""
    logit = logit_mean + coefficients @ components.astype(np.float32)
    return flux_scale / (1.0 + np.exp(-logit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-grid", type=Path, action="append", default=[])
    parser.add_argument("--components", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = PhysicsConfig.preset("physics")
    base = load_base_grids(args.base_grid)
    stars = base.split(test=config.test, validation=config.validation, seed=args.seed)
    train = log_base_flux(base.subset(stars.train), config.velocity_step)
    test = log_base_flux(base.subset(stars.test), config.velocity_step)
    log_wavelength = log_uniform_grid(*BASE_WINDOW, config.velocity_step)
    rng = np.random.default_rng(args.seed)
    n = len(test) * args.draws
    rows = np.repeat(np.arange(len(test)), args.draws)
    vsini, resolution = rng.uniform(0, 300, n), rng.uniform(1000, 115000, n)
    truth = broaden(
        log_wavelength, test[rows], vsini, resolution, paper_wavelength(), oversample=None
    )
    print(f"{len(stars.train)} training stars, {len(test)} test stars x {args.draws} draws")
    print(
        f"{'K':>4} {'kept':>10} {'truncation: median':>20} {'p95':>9} {'float16 - float32: max':>24}"
    )
    for k in sorted(args.components):
        basis = fit_basis(train, k, config.flux_scale)
        coefficients = (to_logit(test, config.flux_scale) - basis.mean) @ basis.components.T
        full = rebuild(basis.mean, basis.components, coefficients, config.flux_scale)
        half = rebuild(
            basis.mean, basis.components.astype(np.float16), coefficients, config.flux_scale
        )
        broadened = broaden(
            log_wavelength, full[rows], vsini, resolution, paper_wavelength(), oversample=None
        )
        error = np.abs(broadened - truth)
        storage = np.abs(half - full).max()
        print(
            f"{k:4d} {basis.explained:10.6f} {np.median(error):20.2e} "
            f"{np.percentile(error, 95):9.2e} {storage:24.2e}"
        )


if __name__ == "__main__":
    main()
