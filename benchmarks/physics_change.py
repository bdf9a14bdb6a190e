"""How much the optional physics changes the spectra: |Delta F| by Teff, default vs each option.

    python benchmarks/physics_change.py --json docs/physics-change.json     # ~10 CPU min
    python benchmarks/physics_change.py --figure docs/he-i-lines.png        # ~30 CPU s

Needs `spectral-cvae synspec install`. Base models are Sobol draws (``sample_base_parameters``)
over the grid's Teff, log g, [M/H] and microturbulence ranges, plus draws over the hot end
(Teff >= 9000 K) where He I matters, plus draws inside the band where the atmosphere networks
are blended (``--blend``). Each is computed over the base-grid window at the base-grid step
with the default physics and with each option; the table gives, per Teff bin, the median over
models of each model's median and max |Delta F| (unbroadened; rotation and low resolution
spread a line's change over more pixels and lower its peak). ``--figure`` draws He I 4471,
4922 and 5016 A in a 10,500 K dwarf with and without the He I option.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spectral_cvae.grid.synthesis.builder import sample_base_parameters
from spectral_cvae.grid.synthesis.run import synthesize
from spectral_cvae.grid.wavelength import BASE_STEP, MARGIN, PAPER_WINDOW
from spectral_cvae.parameters import BASE_SPACE

WINDOW = (PAPER_WINDOW[0] - MARGIN, PAPER_WINDOW[1] + MARGIN)
TEFF_BINS = (4000.0, 6000.0, 8000.0, 9500.0, 10250.0, 11000.0)
HE_I_CORES = {"4471": 4471.479, "4922": 4921.931, "5016": 5015.678}


def draws(n_all: int, n_hot: int, n_band: int, blend: float, seed: int) -> np.ndarray:
    """(Teff, log g, [M/H], xi_t) rows: over the whole space, its hot end and the blend band."""
    parts = [sample_base_parameters(n_all, "sobol", seed, BASE_SPACE)]
    if n_hot:
        hot = BASE_SPACE.with_ranges(teff=(9000.0, BASE_SPACE["teff"].maximum))
        parts.append(sample_base_parameters(n_hot, "sobol", seed + 1, hot))
    if n_band and blend > 0:
        band = BASE_SPACE.with_ranges(teff=(8000.0 - blend, 8000.0 + blend))
        parts.append(sample_base_parameters(n_band, "sobol", seed + 2, band))
    return np.round(np.concatenate(parts), 3)


def options(blend: float) -> dict[str, dict]:
    """Name -> keyword arguments of :func:`synthesize`, the default physics first."""
    chosen = {"default": {}, "helium": {"helium": True}}
    if blend > 0:
        chosen["blend"] = {"atmosphere_blend": blend}
    return chosen


def compute(rows: np.ndarray, chosen: dict[str, dict], workers: int) -> list[dict]:
    """Per model: its parameters, CPU-free timing aside, and |Delta F| stats per option."""
    jobs = [(i, name) for i in range(len(rows)) for name in chosen]

    def one(job):
        i, name = job
        teff, logg, mh, vmic = rows[i]
        kwargs = chosen[name]
        if (
            name == "blend"
            and not 8000.0 - kwargs["atmosphere_blend"] < teff < 8000.0 + kwargs["atmosphere_blend"]
        ):
            return None  # outside the band the blended networks are the plain ones
        return synthesize(teff, logg, mh, vmic, WINDOW, BASE_STEP, **kwargs)

    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = dict(zip(jobs, pool.map(one, jobs)))
    runs = sum(result is not None for result in results.values())
    print(f"{runs} SYNSPEC runs in {time.perf_counter() - began:.0f} s wall on {workers} workers")
    models = []
    for i, row in enumerate(rows):
        wavelength, default = results[i, "default"]
        entry = dict(zip(("teff", "logg", "mh", "vmic"), map(float, row)))
        for name in list(chosen)[1:]:
            if results[i, name] is None:
                continue
            delta = np.abs(results[i, name][1] - default)
            entry[name] = {
                "median": float(np.median(delta)),
                "max": float(delta.max()),
                "at": float(wavelength[np.argmax(delta)]),
            }
        models.append(entry)
    return models


def table(models: list[dict], names: list[str]) -> None:
    """Print, per Teff bin and option, the median over models of median and max |Delta F|."""
    print(
        f"{'Teff bin (K)':>14} {'option':>7} {'models':>6} {'median |dF|':>12} "
        f"{'median max':>11} {'largest max':>12} {'at (A)':>8}"
    )
    for low, high in zip(TEFF_BINS[:-1], TEFF_BINS[1:]):
        for name in names:
            inside = [m[name] for m in models if low <= m["teff"] < high + 1e-9 and name in m]
            if not inside:
                continue
            medians = np.array([m["median"] for m in inside])
            peaks = np.array([m["max"] for m in inside])
            worst = inside[int(np.argmax(peaks))]
            print(
                f"{low:6.0f}-{high:<7.0f} {name:>7} {len(inside):6d} {np.median(medians):12.1e} "
                f"{np.median(peaks):11.1e} {peaks.max():12.4f} {worst['at']:8.1f}"
            )


def figure(path: Path) -> None:
    """He I 4471, 4922, 5016 A at 10,500 K, log g 4, [M/H] 0, xi_t 2 km/s, without and with."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    for axis, (name, centre) in zip(axes, HE_I_CORES.items()):
        window = (centre - 5.0, centre + 5.0)
        for helium, style in ((True, dict(color="C0", lw=1.6)), (False, dict(color="k", lw=0.7))):
            wavelength, flux = synthesize(10500.0, 4.0, 0.0, 2.0, window, 0.01, helium=helium)
            axis.plot(wavelength, flux, label="He I option" if helium else "default", **style)
        axis.axvline(centre, color="0.6", lw=0.5, ls=":")
        axis.set_xlabel("air wavelength (A)")
        axis.set_title(f"He I {name}", fontsize=10)
    axes[0].set_ylim(0.8, 1.01)
    axes[0].set_ylabel("normalized flux")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(
        "SYNSPEC, Teff 10,500 K, log g 4.0, [M/H] 0, xi_t 2 km/s, unbroadened "
        "(dotted: He I line centre)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-all", type=int, default=12, help="Sobol draws over the whole space")
    parser.add_argument("--n-hot", type=int, default=12, help="Sobol draws at Teff >= 9000 K")
    parser.add_argument("--n-band", type=int, default=4, help="draws in the blending band")
    parser.add_argument(
        "--blend",
        type=float,
        default=0.0,
        metavar="K",
        help="also compare networks blended over 8000 +- K (default: not)",
    )
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the per-model numbers here")
    parser.add_argument("--figure", type=Path, help="only draw the He I figure, to this PNG")
    args = parser.parse_args()
    if args.figure:
        figure(args.figure)
        return
    rows = draws(args.n_all, args.n_hot, args.n_band, args.blend, args.seed)
    chosen = options(args.blend)
    models = compute(rows, chosen, args.workers)
    table(models, list(chosen)[1:])
    if args.json:
        command = "python benchmarks/physics_change.py " + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k not in ("json", "figure", "workers")
        )
        args.json.write_text(json.dumps({"command": command, "models": models}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
