"""Broadening: accuracy against PyAstronomy and speed over the paper's window.

Accuracy: a 40 A stretch of line spectrum (Gaussian lines of 0.03-0.15 A sigma, sampled at
0.01 A; 0.002 A for slow rotation) broadened by us and by PyAstronomy's ``rotBroad`` (exact
per-pixel Gray profile) and ``instrBroadGaussFast`` (one Gaussian width for the window, so
compared within +-5 A of the middle). Prints the largest absolute flux difference.

Speed: one base spectrum at 0.02 A over 4440-5410 A broadened to K (v sin i, R) pairs and
sampled on the paper's 19,000-point grid.

    python benchmarks/broadening_accuracy.py
"""

from __future__ import annotations

import time

import numpy as np
from PyAstronomy import pyasl

from spectral_cvae.constants import SPEED_OF_LIGHT
from spectral_cvae.grid import broaden, paper_wavelength, uniform_grid
from spectral_cvae.grid.toy import toy_spectrum


def line_spectrum(wavelength: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flux = np.ones_like(wavelength)
    for centre, depth, width in zip(
        rng.uniform(wavelength[0], wavelength[-1], 200),
        rng.uniform(0.05, 0.8, 200),
        rng.uniform(0.03, 0.15, 200),
    ):
        flux *= 1.0 - depth * np.exp(-0.5 * ((wavelength - centre) / width) ** 2)
    return flux


def main() -> None:
    print("rotation (epsilon 0.6) vs PyAstronomy rotBroad")
    for step, vsinis in ((0.002, (1.0, 3.0, 5.0)), (0.01, (10.0, 20.0, 100.0, 300.0))):
        wavelength = uniform_grid(4990.0, 5030.0, step)
        flux = line_spectrum(wavelength)
        for vsini in vsinis:
            ours = broaden(wavelength, flux, vsini=vsini)
            theirs = pyasl.rotBroad(wavelength, flux, 0.6, vsini)
            margin = int(np.ceil(vsini / SPEED_OF_LIGHT * 5030.0 / step)) + 10
            diff = np.abs(ours - theirs)[margin:-margin].max()
            print(f"  v sin i {vsini:6.1f} km/s, step {step} A: max |dF| = {diff:.1e}")
    print("instrument (Gaussian, FWHM = lambda/R) vs PyAstronomy instrBroadGaussFast")
    wavelength = uniform_grid(4990.0, 5030.0, 0.01)
    flux = line_spectrum(wavelength)
    middle = np.abs(wavelength - wavelength.mean()) < 5.0
    for resolution in (1000.0, 5000.0, 20000.0, 50000.0, 115000.0):
        ours = broaden(wavelength, flux, resolution=resolution)
        theirs = pyasl.instrBroadGaussFast(
            wavelength, flux, resolution, edgeHandling="firstlast", maxsig=7
        )
        print(f"  R {resolution:8.0f}: max |dF| = {np.abs(ours - theirs)[middle].max():.1e}")

    out = paper_wavelength()
    base_wavelength = uniform_grid(4440.0, 5410.0, 0.02)
    base = toy_spectrum(base_wavelength, 5800.0, 4.4, 0.0, 1.0)
    rng = np.random.default_rng(0)
    for k in (1, 16, 64):
        vsini, resolution = rng.uniform(0, 300, k), rng.uniform(1000, 115000, k)
        start = time.perf_counter()
        broaden(base_wavelength, base, vsini, resolution, wavelength_out=out)
        seconds = time.perf_counter() - start
        print(
            f"speed: 1 base spectrum (48,500 px) -> {k:3d} broadened spectra on the paper grid: "
            f"{1e3 * seconds / k:6.1f} ms per spectrum"
        )


if __name__ == "__main__":
    main()
