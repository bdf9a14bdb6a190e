"""``spectral-cvae grid ...``: inspect, split and convert spectral grids."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..grid import SpectralGrid
from ..grid.checks import check_plausible
from ..grid.wavelength import PAPER_STEP, PAPER_WINDOW, uniform_grid
from . import synspec
from .options import check_output, count, real, seed


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``grid info``, ``grid split``, ``grid convert``, ``grid plot``, ``grid build``."""
    parser = commands.add_parser("grid", help="inspect, split and convert spectral grids")
    grid_commands = parser.add_subparsers(dest="grid_command", required=True, metavar="ACTION")

    info = grid_commands.add_parser("info", help="summarize a grid file")
    info.add_argument("grid", type=Path, help="grid file (HDF5)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(run=run_info)

    split = grid_commands.add_parser(
        "split", help="draw a reproducible train/validation/test split and save it as JSON"
    )
    split.add_argument("grid", type=Path, help="grid file (HDF5)")
    split.add_argument(
        "--test",
        type=real(minimum=0),
        default=0.1,
        help="test size: fraction of the base models if < 1, else a count of spectra "
        "(paper: 10000)",
    )
    split.add_argument(
        "--validation",
        type=real(minimum=0),
        default=0.1,
        help="validation size: fraction if < 1, else a count",
    )
    split.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    split.add_argument("--out", type=Path, help="split file (default <grid>.split.json)")
    split.add_argument(
        "--leaky-by-row",
        action="store_true",
        help="split rows at random, letting one base model (star) fall in training and test: "
        "only to measure how much such a split flatters a model",
    )
    split.set_defaults(run=run_split)

    convert = grid_commands.add_parser(
        "convert", help="read SYNSPEC, PHOENIX or table files into a grid file"
    )
    convert.add_argument(
        "source",
        type=Path,
        help="a SYNSPEC index CSV, a folder of PHOENIX lte*.fits files, or an "
        "HDF5 / FITS table / NPZ file in the layout of docs/grid_formats.md",
    )
    convert.add_argument("--out", type=Path, required=True, help="grid file to write (HDF5)")
    convert.add_argument(
        "--format",
        choices=["synspec", "phoenix", "table"],
        help="input format (default: guessed from the name)",
    )
    convert.add_argument(
        "--wavelength",
        nargs=3,
        type=real(above=0),
        metavar=("START", "STOP", "STEP"),
        help="output grid in Angstrom (default: the paper's 4450 5400 0.05; "
        "tables keep their own grid unless given)",
    )
    convert.add_argument(
        "--vsini",
        type=real(minimum=0),
        default=0.0,
        help="rotation applied to unbroadened input, km/s (default 0)",
    )
    convert.add_argument(
        "--resolution",
        type=real(above=0),
        default=115000.0,
        help="resolving power applied to unbroadened input (default 115000)",
    )
    convert.add_argument(
        "--wavelength-file",
        type=Path,
        help="PHOENIX WAVE_*.fits file (default: found beside the spectra)",
    )
    convert.add_argument(
        "--on-out-of-range",
        choices=["error", "drop"],
        default="error",
        help="what to do with spectra outside the parameter ranges",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    convert.set_defaults(run=run_convert)

    plot = grid_commands.add_parser("plot", help="plot spectra of a grid to a PNG")
    plot.add_argument("grid", type=Path, help="grid file (HDF5)")
    plot.add_argument("indices", type=count(0), nargs="+", help="spectrum indices")
    plot.add_argument("--out", type=Path, required=True, help="PNG file to write")
    plot.set_defaults(run=run_plot)

    synspec.add_build_command(grid_commands)


def run_info(args: argparse.Namespace) -> int:
    with SpectralGrid.open(args.grid) as grid:
        summary = grid.info()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    low, high = summary["wavelength_range_angstrom"]
    step_min, step_max = summary["wavelength_step_angstrom"]
    step = (
        f"{step_min:.4g} A"
        if np.isclose(step_min, step_max)
        else f"{step_min:.4g}-{step_max:.4g} A"
    )
    print(f"{summary['file']}")
    print(f"  spectra      {summary['n_spectra']}")
    print(f"  pixels       {summary['n_pixels']} ({low:.2f}-{high:.2f} A, step {step})")
    print(f"  flux         {summary['flux_bytes'] / 1e9:.3g} GB as float32")
    print("  parameter    grid range                 domain")
    for name, entry in summary["parameters"].items():
        covered = entry["grid"] or [np.nan, np.nan]
        print(
            f"  {name:<12} {covered[0]:>10.4g} .. {covered[1]:<10.4g}   "
            f"{entry['domain'][0]:g} .. {entry['domain'][1]:g} {entry['unit']}"
        )
    for key, value in summary["provenance"].items():
        print(f"  {key}: {value}")
    return 0


def run_split(args: argparse.Namespace) -> int:
    with SpectralGrid.open(args.grid) as grid:
        draw = grid.leaky_row_split if args.leaky_by_row else grid.split
        split = draw(test=args.test, validation=args.validation, seed=args.seed)
        shared = split.overlapping_base_models(grid.base_model)
        n_models = len(set(grid.base_model.tolist()))
    out = args.out or args.grid.with_suffix(".split.json")
    split.save(out)
    sizes = ", ".join(f"{k} {v}" for k, v in split.sizes().items())
    print(f"wrote {out}: {sizes} spectra (seed {args.seed}), split by {split.by}")
    print(
        f"{n_models} base models; {shared['base_models']} of them in more than one subset, "
        f"{shared['test_spectra']} test spectra of stars seen in training or validation"
    )
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..grid.readers import guess_format, read_grid

    options: dict = {"on_out_of_range": args.on_out_of_range}
    fmt = args.format or guess_format(args.source)
    if args.wavelength:
        options["wavelength"] = uniform_grid(*args.wavelength)
    elif fmt != "table":
        options["wavelength"] = uniform_grid(*PAPER_WINDOW, PAPER_STEP)
    if fmt in ("synspec", "phoenix"):
        options.update(vsini=args.vsini, resolution=args.resolution)
    if fmt == "phoenix" and args.wavelength_file:
        options["wavelength_file"] = args.wavelength_file
    check_output(args.out, (".h5", ".hdf5"), args.overwrite)
    grid = read_grid(args.source, format=fmt, **options)
    check_plausible(grid, str(args.source))
    grid.provenance.update({"converted_from": str(args.source), "format": fmt})
    path = grid.save(args.out, overwrite=args.overwrite)
    dropped = grid.provenance.get("n_dropped_out_of_range", 0)
    print(
        f"wrote {path}: {len(grid)} spectra x {grid.n_pixels} pixels"
        + (f" ({dropped} outside the parameter ranges dropped)" if dropped else "")
    )
    return 0


def run_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_output(args.out, (".png", ".pdf", ".svg", ".jpg", ".jpeg"), overwrite=True)
    with SpectralGrid.open(args.grid) as grid:
        fig, axes = plt.subplots(
            len(args.indices), 1, figsize=(11, 2.6 * len(args.indices)), sharex=True, squeeze=False
        )
        for ax, index in zip(axes[:, 0], args.indices):
            grid.plot(index, ax=ax)
            if ax is not axes[-1, 0]:
                ax.set_xlabel("")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0
