"""How long the shipped starter grid takes to load, and to reopen once broadened and cached.

Prints seconds for: reading the packed base grid (``load_starter_base_grid``), broadening
the first N base models into a six-parameter grid (the first ``load_starter_grid``, here on
a subset so it ends in seconds) and opening that cached grid again (every later call). The
notebooks and the demo load these at their start; a second or two is the aim for the
first and the last.

    python benchmarks/starter_load.py --repeats 5 --models 12
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from spectral_cvae import starter


def seconds(function, repeats: int) -> tuple[float, float]:
    """Best and median wall-clock time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return min(times), float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", type=int, default=12, help="base models to broaden")
    parser.add_argument("--draws", type=int, default=1, help="(v sin i, R) pairs per model")
    args = parser.parse_args()

    best, median = seconds(starter.load_starter_base_grid, args.repeats)
    print(f"starter base grid read:     best {best:.3f} s, median {median:.3f} s")

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        base = starter.load_starter_base_grid()
        small = starter.pack_base_grid(base.subset(np.arange(args.models)), folder / "small.h5")
        with (
            mock.patch.dict(os.environ, {"SPECTRAL_CVAE_CACHE": str(folder)}),
            mock.patch.object(starter, "starter_path", lambda: small),
        ):

            def load() -> object:
                return starter.load_starter_grid(draws_per_model=args.draws, seed=0)

            first, _ = seconds(load, 1)
            print(f"first load, {args.models} models broadened: {first:.3f} s")
            best, median = seconds(load, args.repeats)
            print(f"cached grid reopened:       best {best:.3f} s, median {median:.3f} s")


if __name__ == "__main__":
    main()
