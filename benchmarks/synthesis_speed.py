"""Time SYNSPEC base models: one synthesis, and a Dask build with 1 and with 2 workers.

    python benchmarks/synthesis_speed.py --n-models 4 --window 5100 5200

Needs `spectral-cvae synspec install`. A full base model (4440-5410 A) costs about as much as
(window width / 970 A) of the full window plus a fixed start-up, so use a narrow window to
measure the parallel speed-up quickly and the full window for the cost per model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from spectral_cvae.grid.synthesis.builder import build_base_grid
from spectral_cvae.grid.synthesis.run import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-models", type=int, default=4)
    parser.add_argument("--window", type=float, nargs=2, default=(4450.0, 5400.0))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    window = tuple(args.window)

    start = time.perf_counter()
    synthesize(5777.0, 4.44, 0.0, 1.0, (window[0] - 10, window[1] + 10), 0.02)
    print(f"one synthesis, solar, {window[0]:.0f}-{window[1]:.0f} A: "
          f"{time.perf_counter() - start:.1f} s")

    walls = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            report = build_base_grid(
                Path(folder) / "base.h5", args.n_models, "sobol", 0, window=window,
                workers=workers, progress=False,
            )
        walls[workers] = report.seconds
        print(f"{workers} worker(s): {args.n_models} models in {report.seconds:.1f} s "
              f"({report.seconds_per_model:.1f} s per model on a worker)")
    if len(walls) > 1:
        first, *rest = sorted(walls)
        for workers in rest:
            print(f"speed-up {workers} vs {first} worker(s): {walls[first] / walls[workers]:.2f}")


if __name__ == "__main__":
    main()
