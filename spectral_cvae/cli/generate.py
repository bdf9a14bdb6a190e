"""``spectral-cvae generate``: spectra from a trained model at given parameters."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..parameters import PAPER_SPACE
from .options import check_output, count, real, seed

SPECTRA_PER_STEP = 1024
"""Decoded spectra per progress-bar step (points x draws), to bound memory."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``generate``."""
    generate = commands.add_parser(
        "generate",
        help="generate spectra at given stellar parameters with a trained model",
        description="Give one point with --teff ... --resolution, or many with --table.",
    )
    generate.add_argument(
        "--model",
        type=Path,
        help="model file (.keras); default the pretrained model shipped in the package",
    )
    points = generate.add_argument_group("one parameter point")
    for p in PAPER_SPACE.parameters:
        points.add_argument(f"--{p.name}", type=real(), help=p.axis_label)
    generate.add_argument(
        "--table",
        type=Path,
        help="parameter table (CSV, ECSV or FITS) with one column per parameter name; units "
        "from the file (a 'teff [K]' header, as invert writes) are converted",
    )
    generate.add_argument(
        "--out", type=Path, required=True, help="output file: .fits, .csv or .h5 (a grid file)"
    )
    generate.add_argument(
        "--n-samples",
        type=count(1),
        default=1,
        help="draws of z per point; above 1 also writes the spread (default 1: z = 0)",
    )
    generate.add_argument("--seed", type=seed, default=0, help="seed of the z draws (default 0)")
    generate.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    generate.add_argument(
        "--allow-extrapolation",
        action="store_true",
        help="generate outside the training domain (with a warning) instead of failing",
    )
    generate.set_defaults(run=run)


def read_points(args: argparse.Namespace, names: tuple[str, ...]) -> object:
    """The parameter points asked for: a table, or the single point of the options."""
    from ..errors import ParameterError

    if args.table is not None:
        from ..io import read_parameters

        return read_parameters(args.table)
    missing = [n for n in names if getattr(args, n, None) is None]
    if missing:
        raise ParameterError(
            "give every parameter (missing: "
            + ", ".join(f"--{n}" for n in missing)
            + ") or a --table"
        )
    return {n: getattr(args, n) for n in names}


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..io import FORMATS, write_spectra
    from ..model import SpectrumGenerator
    from ..pretrained import PRETRAINED_FILE, load_pretrained

    check_output(args.out, FORMATS, args.overwrite)
    generator = SpectrumGenerator.load(args.model) if args.model else load_pretrained()
    space = generator.space
    # The whole table is checked at once, so that a message gives the row of the file.
    source = str(args.table or "options")
    values = read_points(args, space.names)
    if args.allow_extrapolation:
        points = space.as_array(values, source=source)
    else:
        points = space.check(values, source=source)
    flux = np.empty((len(points), generator.n_pixels), dtype=np.float32)
    std = np.empty_like(flux) if args.n_samples > 1 else None
    step = max(1, SPECTRA_PER_STEP // args.n_samples)
    with tqdm(total=len(points), unit="spectra", desc="generating", disable=None) as bar:
        for start in range(0, len(points), step):
            rows = slice(start, start + step)
            if std is None:
                flux[rows] = generator.generate(
                    points[rows], allow_extrapolation=args.allow_extrapolation
                )
            else:
                result = generator.sample(
                    points[rows],
                    args.n_samples,
                    seed=args.seed + start,
                    allow_extrapolation=args.allow_extrapolation,
                )
                flux[rows], std[rows] = result.mean, result.std
            bar.update(len(points[rows]))
    model_name = args.model.name if args.model else f"{PRETRAINED_FILE} (shipped)"
    provenance = {"generated_by": model_name, "n_samples": args.n_samples}
    write_spectra(
        args.out, generator.wavelength, flux, points, space, std, provenance, args.overwrite
    )
    print(f"wrote {args.out}: {len(points)} spectra x {generator.n_pixels} pixels")
    return 0
