"""Time SYNSPEC base models: CPU per model for each build, and a Dask build with 1 and 2 workers.

    python benchmarks/synthesis_speed.py --builds optimized reference
    python benchmarks/synthesis_speed.py --n-models 4 --window 5100 5200

Needs `spectral-cvae synspec install`. With ``--builds``, each model of ``MODELS`` (grid
corners: cool giants, the Sun, hot stars) is computed over the base-grid window with each
named SYNSPEC build, one run at a time; the CPU seconds of SYNSPEC itself (the child
process) are printed, and, for two builds, the largest |Delta F| between them. Otherwise a
full base model (4440-5410 A) costs about as much as (window width / 970 A) of the full window
plus a fixed start-up, so use a narrow window to measure the parallel speed-up quickly.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from spectral_cvae.grid.synthesis.builder import build_base_grid
from spectral_cvae.grid.synthesis.install import VARIANTS, installation
from spectral_cvae.grid.synthesis.run import synthesize
from spectral_cvae.grid.wavelength import BASE_STEP, MARGIN, PAPER_WINDOW

MODELS = {
    # name: (Teff K, log g, [M/H], microturbulence km/s)
    "cool giant, [M/H] -1.5": (4000.0, 2.0, -1.5, 0.0),
    "cool giant, [M/H] +1.5": (4000.0, 2.0, 1.5, 4.0),
    "Sun": (5777.0, 4.44, 0.0, 1.0),
    "hot dwarf, [M/H] +1.5": (11000.0, 5.0, 1.5, 0.0),
    "hot giant, [M/H] -1.5": (11000.0, 2.0, -1.5, 4.0),
}


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_builds(builds: list[str], window: tuple[float, float], step: float) -> None:
    """Print SYNSPEC's CPU seconds per model for each build, and the builds' largest |Delta F|."""
    found = installation()
    print(f"{'model':24s}" + "".join(f"{b + ' CPU s':>17s}" for b in builds) + "  max |dF|")
    for name, (teff, logg, mh, vmic) in MODELS.items():
        seconds, fluxes = [], []
        for build in builds:
            before = child_cpu()
            _, flux = synthesize(
                teff, logg, mh, vmic, window, step, install=replace(found, variant=build)
            )
            seconds.append(child_cpu() - before)
            fluxes.append(flux)
        difference = np.abs(fluxes[0] - fluxes[-1]).max() if len(fluxes) > 1 else np.nan
        print(f"{name:24s}" + "".join(f"{s:17.1f}" for s in seconds) + f"  {difference:.1e}")


def time_workers(n_models: int, window: tuple[float, float], workers: list[int]) -> None:
    """Print one solar synthesis's wall time and Dask builds' wall time per worker count."""
    start = time.perf_counter()
    synthesize(5777.0, 4.44, 0.0, 1.0, (window[0] - MARGIN, window[1] + MARGIN), BASE_STEP)
    print(
        f"one synthesis, solar, {window[0]:.0f}-{window[1]:.0f} A: "
        f"{time.perf_counter() - start:.1f} s"
    )
    walls = {}
    for count in workers:
        with tempfile.TemporaryDirectory() as folder:
            report = build_base_grid(
                Path(folder) / "base.h5",
                n_models,
                "sobol",
                0,
                window=window,
                workers=count,
                progress=False,
            )
        walls[count] = report.seconds
        print(
            f"{count} worker(s): {n_models} models in {report.seconds:.1f} s "
            f"({report.seconds_per_model:.1f} s per model on a worker)"
        )
    if len(walls) > 1:
        first, *rest = sorted(walls)
        for count in rest:
            print(f"speed-up {count} vs {first} worker(s): {walls[first] / walls[count]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", nargs="+", choices=VARIANTS, help="time these builds")
    parser.add_argument("--n-models", type=int, default=4)
    parser.add_argument("--window", type=float, nargs=2, default=PAPER_WINDOW)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    window = (float(args.window[0]), float(args.window[1]))
    if args.builds:
        time_builds(args.builds, (window[0] - MARGIN, window[1] + MARGIN), BASE_STEP)
    else:
        time_workers(args.n_models, window, args.workers)


if __name__ == "__main__":
    main()
