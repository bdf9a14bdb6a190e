"""``spectral-cvae invert``: stellar parameters of spectra from a saved PCA inverter."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from ..errors import OutOfDomainWarning


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
    from ..io import read_spectra
    from ..io.parameters import format_parameters, write_parameters
    from ..io.spectra import parameter_table

    inverter = PCAInverter.load(args.model)
    spectra = read_spectra(args.spectra)
    with warnings.catch_warnings():
        # Reported per spectrum in the in_domain column and once below.
        warnings.simplefilter("ignore", OutOfDomainWarning)
        predicted = inverter.predict(spectra.flux, spectra.wavelength, source=spectra.source)
    inside = inverter.in_domain(predicted)
    space = inverter.space_
    table = parameter_table(space.names, space.units, predicted)
    table.add_column(np.arange(len(predicted)), name="spectrum", index=0)
    table["in_domain"] = inside
    if args.out:
        write_parameters(args.out, table, overwrite=True)
        print(f"parameters of {len(predicted)} spectra -> {args.out}")
    else:
        sys.stdout.write(format_parameters(table))
    if not inside.all():
        print(
            f"{int((~inside).sum())} of {len(inside)} spectra have parameters outside the "
            f"inverter's training domain (in_domain False): extrapolations, not measurements",
            file=sys.stderr,
        )
    if spectra.parameters is not None and set(space.names) <= set(spectra.parameters.colnames):
        truth = space.as_array(spectra.parameters, source=spectra.source)
        error = np.abs(predicted - truth).mean(axis=0)
        print(
            "mean absolute error against the file's parameters: "
            + ", ".join(
                f"{p.name} {e:.3g} {p.unit}".rstrip() for p, e in zip(space.parameters, error)
            ),
            file=sys.stderr,
        )
    return 0
