"""``spectral-cvae invert``: stellar parameters of spectra from a saved PCA inverter."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from ..files import atomic_path


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``invert``."""
    invert = commands.add_parser(
        "invert", help="stellar parameters of spectra, from a saved PCA inverter"
    )
    invert.add_argument(
        "--model", type=Path, required=True, help="inverter file (.npz, e.g. from evaluate)"
    )
    invert.add_argument(
        "--spectra",
        type=Path,
        required=True,
        help="a grid (.h5), an HDF5/NPZ with wavelength and flux, a FITS spectrum or table, "
        "or a text table of wavelength and flux; resampled onto the inverter's wavelengths",
    )
    invert.add_argument("--out", type=Path, help="CSV file to write (default: print the table)")
    invert.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inversion import PCAInverter
    from ..inversion.spectra import read_spectra

    inverter = PCAInverter.load(args.model)
    spectra = read_spectra(args.spectra)
    predicted = inverter.predict(spectra.flux, spectra.wavelength, source=spectra.source)
    space = inverter.space_
    header = ["spectrum"] + [
        f"{p.name} [{p.unit.replace(' ', '')}]" if p.unit else p.name for p in space.parameters
    ]
    lines = [",".join(header)]
    lines += [",".join([str(k), *(f"{v:.6g}" for v in row)]) for k, row in enumerate(predicted)]
    text = "\n".join(lines) + "\n"
    if args.out:
        with atomic_path(args.out) as temporary:
            temporary.write_text(text)
        print(f"parameters of {len(predicted)} spectra -> {args.out}")
    else:
        sys.stdout.write(text)
    if spectra.parameters is not None and tuple(spectra.names) == space.names:
        error = np.abs(predicted - spectra.parameters).mean(axis=0)
        summary = io.StringIO()
        summary.write("mean absolute error against the file's parameters: ")
        summary.write(
            ", ".join(
                f"{p.name} {e:.3g} {p.unit}".rstrip() for p, e in zip(space.parameters, error)
            )
        )
        print(summary.getvalue(), file=sys.stderr)
    return 0
