"""Learning curve of the physics-aware CVAE: accuracy on unseen stars against grid size.

The base grids are split by star once (the split ``spectral-cvae train-physics`` uses: same
seed and sizes); the model is trained on random subsets of N training stars (same validation
stars) and measured on the same held-out stars, each broadened to ``--draws`` fixed
(v sin i, R) pairs. A power law, median = a N^-b, fitted to the points says how many base
models a target accuracy needs::

    python benchmarks/learning_curve.py --base-grid reference-sobol101.h5 \
        --sizes 150 300 600 1000 --time-limit 420 --json curve.json --png curve.png

It tells users how big their own grid must be.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from spectral_cvae.evaluation.breakdown import residual_breakdown
from spectral_cvae.grid import GridSplit, augment
from spectral_cvae.model import PhysicsConfig, TimeLimit, load_base_grids, train_physics

TARGETS = (1.8e-3, 1e-3)
"""Median |Delta F| targets: the paper's, and 1e-3."""


def power_law(sizes: np.ndarray, medians: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of log(median) = log(a) - b log(N); returns (a, b)."""
    slope, intercept = np.polyfit(np.log(sizes), np.log(medians), 1)
    return float(np.exp(intercept)), float(-slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-grid", type=Path, action="append", default=[])
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 300, 600, 1000])
    parser.add_argument("--draws", type=int, default=2, help="(v sin i, R) pairs per test star")
    parser.add_argument("--time-limit", type=float, default=420.0, help="seconds per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--add",
        type=float,
        nargs=3,
        action="append",
        default=[],
        metavar=("N", "MEDIAN", "P95"),
        help="a point measured elsewhere (e.g. the pretrained model on all training stars)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()

    base = load_base_grids(args.base_grid)
    config = PhysicsConfig.preset("physics")
    stars = base.split(test=config.test, validation=config.validation, seed=args.seed)
    held_out = augment(base.subset(stars.test), args.draws, seed=args.seed + 17)
    rng = np.random.default_rng(args.seed)
    points = []
    for size in sorted(args.sizes):
        train_rows = np.sort(rng.permutation(stars.train)[: min(size, len(stars.train))])
        split = GridSplit(train_rows, stars.validation, stars.test, base.n_spectra, args.seed)
        start = time.perf_counter()
        generator = train_physics(
            base, config, split=split, seed=args.seed, callbacks=[TimeLimit(args.time_limit)]
        )
        seconds = time.perf_counter() - start
        row = residual_breakdown(generator, held_out, latents=("mean",))["rows"][0]
        point = {
            "n_training_stars": len(train_rows),
            "median": row["median"]["mean"],
            "p95": row["p95"]["mean"],
            "epochs": generator.provenance["epochs_trained"],
            "best_epoch": generator.provenance["best_epoch"],
            "training_seconds": seconds,
        }
        points.append(point)
        print(json.dumps(point), flush=True)
    for size, median, p95 in args.add:
        points.append({"n_training_stars": int(size), "median": median, "p95": p95})
    points.sort(key=lambda p: p["n_training_stars"])
    sizes = np.array([p["n_training_stars"] for p in points], dtype=float)
    medians = np.array([p["median"] for p in points])
    a, b = power_law(sizes, medians)
    needed = {f"{t:g}": float((a / t) ** (1.0 / b)) if b > 0 else None for t in TARGETS}
    print(f"median |Delta F| = {a:.3g} N^-{b:.3f}; stars needed: {needed}")
    result = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_grids": base.provenance["base_grids"],
        "test_stars": len(stars.test),
        "test_spectra": held_out.n_spectra,
        "points": points,
        "power_law": {"a": a, "b": b},
        "stars_needed": needed,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.png:
        plot(result, args.png)


def plot(result: dict, path: Path) -> None:
    """The learning curve with its power law and the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result["points"]
    sizes = np.array([p["n_training_stars"] for p in points])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.loglog(sizes, [p["median"] for p in points], "o-", label="median |Delta F|")
    ax.loglog(sizes, [p["p95"] for p in points], "s--", label="95th percentile")
    a, b = result["power_law"]["a"], result["power_law"]["b"]
    grid = np.geomspace(sizes.min(), max(sizes.max(), 1e4), 50)
    ax.loglog(grid, a * grid**-b, ":", color="C0", label=f"{a:.2g} N^-{b:.2f}")
    for target, style in zip(TARGETS, ("-", "-.")):
        ax.axhline(target, color="grey", ls=style, lw=0.8)
        ax.text(grid[0], target * 1.05, f"{target:g}", color="grey", fontsize=8)
    ax.set_xlabel("training stars (base models)")
    ax.set_ylabel("|Delta F| on unseen stars (flux)")
    ax.set_title(f"physics-aware CVAE, {result['test_spectra']} test spectra", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
