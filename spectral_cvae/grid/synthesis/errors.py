"""Exceptions of the radiative-transfer layer."""

from __future__ import annotations

from ...errors import SpectralCVAEError


class SynthesisError(SpectralCVAEError, RuntimeError):
    """A SYNSPEC run, an atmosphere or a line list that failed; the message says why."""


class NotInstalledError(SynthesisError):
    """SYNSPEC, its data or the line list and atmosphere networks are not installed yet."""


class CompilerMissingError(SynthesisError):
    """No Fortran compiler to build SYNSPEC with."""


def log_tail(text: str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log, indented, for an error message."""
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in tail) if tail else "    (empty log)"
