"""Exceptions raised by spectral-cvae.

Every error about data names what it is about: the file, the spectrum (row) and, where it
applies, the parameter or the wavelength, so that a user with a grid of 10^5 spectra can find
the one that is wrong.
"""

from __future__ import annotations


class SpectralCVAEError(Exception):
    """Base class of every error raised on purpose by spectral-cvae."""


class GridInputError(SpectralCVAEError, ValueError):
    """Spectra, wavelengths or parameters that cannot enter a grid as given."""


class OutOfDomainError(GridInputError):
    """Stellar parameters outside the declared parameter space."""


class SpectrumIndexError(GridInputError, IndexError):
    """An index of a spectrum that the grid or file does not have."""


class OutOfDomainWarning(UserWarning):
    """A result (inferred parameters) lies outside the domain a model was trained on."""


class GridFileError(SpectralCVAEError, OSError):
    """A grid file that is missing, truncated, corrupt or of the wrong layout."""


def where(source: str | None = None, row: int | None = None) -> str:
    """Describe the origin of a spectrum for an error message.

    Parameters
    ----------
    source
        File name or other description of where the data came from.
    row
        Index of the spectrum within that source.

    Returns
    -------
    str
        For example ``"grid.h5, spectrum 12: "``, or ``""`` when nothing is known.
    """
    parts = []
    if source:
        parts.append(str(source))
    if row is not None:
        parts.append(f"spectrum {row}")
    return ", ".join(parts) + ": " if parts else ""
