"""Entry point of the ``spectral-cvae`` command.

Each concept adds its own sub-commands (``grid ...``, ``demo``); errors about the user's
data end the command with a one-line message naming the file, spectrum or parameter, not
a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import SpectralCVAEError
from . import demo, evaluate, fit, generate, grid, invert, synspec, train


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="spectral-cvae",
        description="Stellar spectra from a grid, a conditional VAE and a PCA inverter.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    grid.add_commands(commands)
    train.add_commands(commands)
    train.add_physics_command(commands)
    generate.add_commands(commands)
    demo.add_commands(commands)
    evaluate.add_commands(commands)
    invert.add_commands(commands)
    fit.add_commands(commands)
    synspec.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SpectralCVAEError, FileExistsError, FileNotFoundError) as exc:
        print(f"spectral-cvae: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
