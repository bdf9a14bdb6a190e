"""``spectral-cvae invert``: stellar parameters of spectra from a saved PCA inverter."""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from pathlib import Path

import numpy as np

from ..errors import OutOfDomainWarning
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
    with warnings.catch_warnings():
        # Reported per spectrum in the in_domain column and once below.
        warnings.simplefilter("ignore", OutOfDomainWarning)
        predicted = inverter.predict(spectra.flux, spectra.wavelength, source=spectra.source)
    inside = inverter.in_domain(predicted)
    space = inverter.space_
    header = ["spectrum"] + [
        f"{p.name} [{p.unit.replace(' ', '')}]" if p.unit else p.name for p in space.parameters
    ]
    lines = [",".join([*header, "in_domain"])]
    lines += [
        ",".join([str(k), *(f"{v:.6g}" for v in row), str(bool(ok))])
        for k, (row, ok) in enumerate(zip(predicted, inside))
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        with atomic_path(args.out) as temporary:
            temporary.write_text(text)
        print(f"parameters of {len(predicted)} spectra -> {args.out}")
    else:
        sys.stdout.write(text)
    if not inside.all():
        print(
            f"{int((~inside).sum())} of {len(inside)} spectra have parameters outside the "
            f"inverter's training domain (in_domain False): extrapolations, not measurements",
            file=sys.stderr,
        )
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
