"""``spectral-cvae demo``: the main job on the embedded default."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .options import count, real, seed


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    demo = commands.add_parser(
        "demo", help="run the end-to-end demonstration: grid, CVAE training, generation"
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="folder for the demo's files (default ./demo-output)",
    )
    demo.add_argument(
        "--grid",
        choices=["toy", "starter"],
        default="starter",
        help="the shipped SYNSPEC starter grid (default) or toy spectra (seconds to build)",
    )
    demo.add_argument("--n-models", type=count(1), default=60, help="toy base models (default 60)")
    demo.add_argument(
        "--epochs", type=count(1), help="maximum training epochs (default: the preset's)"
    )
    demo.add_argument(
        "--time-limit",
        type=real(above=0),
        default=300.0,
        help="stop training after this many seconds, keeping the best epoch (default 300)",
    )
    demo.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no training progress bar")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..evaluation.breakdown import breakdown_table, format_table

    start = time.perf_counter()
    result = run_demo(
        args.out,
        n_models=args.n_models,
        seed=args.seed,
        grid_source=args.grid,
        epochs=args.epochs,
        time_limit=args.time_limit,
        verbose=0 if args.quiet else 2,
    )
    info = result["info"]
    print(
        f"grid   {result['grid']}: {info['n_spectra']} spectra x {info['n_pixels']} pixels, "
        f"{info['wavelength_range_angstrom'][0]:.2f}-{info['wavelength_range_angstrom'][1]:.2f} A"
    )
    print(f"split  {result['split']}: " + ", ".join(f"{k} {v}" for k, v in result["sizes"].items()))
    print(f"plot   {result['plot']}")
    print(
        f"model  {result['model']}: demo preset, {result['epochs_trained']} epochs in "
        f"{result['training_seconds']:.1f} s"
    )
    leaky = result["leaky_breakdown"]["rows"][0]
    print(
        f"test   median |Delta F| = {result['median_abs_residual']:.2e}, "
        f"95th percentile {result['p95_abs_residual']:.2e} on {result['sizes']['test']} "
        f"spectra of {result['test_base_models']} stars never trained on (split by base model)"
    )
    print(
        f"leaky  median |Delta F| = {leaky['median']['mean']:.2e}, 95th percentile "
        f"{leaky['p95']['mean']:.2e} on {leaky['n_spectra']} spectra of stars trained on, "
        f"fresh v sin i and R: what a split of rows at random would report"
    )
    if result["pretrained"]:
        check = result["pretrained"]
        print(
            f"pretrained physics-aware model (spectral_cvae.pretrained): median |Delta F| = "
            f"{check['median']:.2e}, 95th percentile {check['p95']:.2e} on {check['n_spectra']} "
            f"spectra of starter stars it never saw"
        )
    header, rows = breakdown_table(result["breakdown"])
    print("where the test residuals are (stars never trained on):")
    print(format_table(header, rows))
    print(f"plot   {result['comparison']}")
    print(f"report {result['report']} (residual maps, marginals, inverter accuracy)")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
