"""HDF5 grid throughput: write, sequential read and random single-spectrum reads.

Writes a grid of N x 19,000 realistic spectra (toy line spectra broadened to random
(v sin i, R), so compression sees real structure) with GridWriter, then reads it back.
Prints spectra per second and MB/s for each step, and the file size.

    python benchmarks/grid_io.py --n-spectra 10000 --compression gzip
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from spectral_cvae.grid import GridWriter, SpectralGrid, broaden, paper_wavelength, uniform_grid
from spectral_cvae.grid.augment import draw_broadening
from spectral_cvae.grid.toy import toy_base_parameters, toy_spectrum
from spectral_cvae.grid.wavelength import BASE_STEP, MARGIN


def distinct_spectra(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n broadened toy spectra on the paper's grid and their parameters."""
    wavelength = paper_wavelength()
    base_wavelength = uniform_grid(wavelength[0] - MARGIN, wavelength[-1] + MARGIN, BASE_STEP)
    base = toy_base_parameters(n, seed)
    vsini, resolution = draw_broadening(n, np.random.default_rng(seed))
    flux = (
        np.stack(
            [
                broaden(
                    base_wavelength,
                    toy_spectrum(base_wavelength, *base[i]),
                    vsini[i],
                    resolution[i],
                    wavelength_out=wavelength,
                )
                for i in range(n)
            ]
        )
        .clip(0.0, None)
        .astype(np.float32)
    )
    parameters = np.column_stack(
        [base[:, 0], base[:, 1], vsini, base[:, 2], base[:, 3], resolution]
    )
    return flux, parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spectra", type=int, default=10_000)
    parser.add_argument(
        "--n-distinct",
        type=int,
        default=200,
        help="distinct spectra made, then cycled with small noise",
    )
    parser.add_argument("--compression", choices=["gzip", "lzf", "none"], default="gzip")
    parser.add_argument("--batch", type=int, default=500, help="spectra per append")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="spectra per HDF5 chunk (default: the writer's)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    compression = None if args.compression == "none" else args.compression

    flux, parameters = distinct_spectra(args.n_distinct, seed=1)
    wavelength = paper_wavelength()
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "bench.h5"
        start = time.perf_counter()
        with GridWriter(
            path, wavelength, compression=compression, chunk_rows=args.chunk_rows
        ) as writer:
            for first in range(0, args.n_spectra, args.batch):
                rows = np.arange(first, min(first + args.batch, args.n_spectra)) % args.n_distinct
                noisy = flux[rows] * (1 + 1e-4 * rng.standard_normal((len(rows), flux.shape[1])))
                writer.append(noisy.astype(np.float32), parameters[rows])
        write_s = time.perf_counter() - start
        size = path.stat().st_size
        raw = args.n_spectra * wavelength.size * 4

        start = time.perf_counter()
        with SpectralGrid.open(path) as grid:
            for _ in grid.iter_batches(512):
                pass
        read_s = time.perf_counter() - start

        picks = rng.integers(0, args.n_spectra, 500)
        start = time.perf_counter()
        with SpectralGrid.open(path) as grid:
            for i in picks:
                grid.spectrum(int(i))
        random_s = time.perf_counter() - start

        start = time.perf_counter()
        with SpectralGrid.open(path) as grid:
            for _ in range(20):
                grid.read_flux(np.sort(rng.choice(args.n_spectra, 512, replace=False)))
        shuffled_s = time.perf_counter() - start

    n = args.n_spectra
    print(
        f"grid {n} x {wavelength.size} float32 ({raw / 1e6:.0f} MB raw), "
        f"compression={args.compression}"
    )
    print(f"file size               {size / 1e6:9.1f} MB  (ratio {raw / size:.2f})")
    print(
        f"write (append {args.batch:>4})      {n / write_s:9.0f} spectra/s  {raw / 1e6 / write_s:7.1f} MB/s  ({write_s:.1f} s)"
    )
    print(
        f"read sequential (512)   {n / read_s:9.0f} spectra/s  {raw / 1e6 / read_s:7.1f} MB/s  ({read_s:.1f} s)"
    )
    print(f"read random batch (512) {20 * 512 / shuffled_s:9.0f} spectra/s")
    print(
        f"read random single      {500 / random_s:9.0f} spectra/s  ({1e3 * random_s / 500:.2f} ms each)"
    )


if __name__ == "__main__":
    main()
