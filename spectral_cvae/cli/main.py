"""Entry point of the ``spectral-cvae`` command.

Each concept adds its own sub-commands (``grid ...``, ``demo``). Errors end the command in
one place, :func:`main`: a one-line message naming the option, file, spectrum or parameter
and exit status 2 (130 after Ctrl-C), not a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import SpectralCVAEError
from . import demo, evaluate, fit, generate, grid, invert, synspec, train
from .options import Parser, fail

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as a shell reports it."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    parser = Parser(
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
    """Run the command line; returns the exit status.

    Errors raised on purpose (:class:`~spectral_cvae.errors.SpectralCVAEError`), errors of
    the file system (a missing input, an existing output, a full disk: their message names
    the file) and running out of memory end with a one-line message and status 2; Ctrl-C
    with a hint that every long command resumes where it stopped.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and option errors (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.run(args) or 0)
    except (SpectralCVAEError, OSError) as exc:
        return fail(str(exc))
    except MemoryError:
        return fail("out of memory: use fewer spectra, draws or workers at a time")
    except KeyboardInterrupt:
        return fail("interrupted; run the same command to resume", INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
