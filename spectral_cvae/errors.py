"""Exceptions raised by spectral-cvae.

Every error about data names what it is about: the file, the spectrum (row) and, where it
applies, the parameter or the wavelength, so that a user with a grid of 10^5 spectra can find
the one that is wrong.

Two families, each caught by its base, each raised only through a class that says what is
wrong:

- :class:`InputError` (a ``ValueError``): :class:`GridInputError` (with
  :class:`SpectrumIndexError`), :class:`ParameterError` (with :class:`OutOfDomainError`),
  :class:`SpectrumInputError`, :class:`ConfigError`;
- :class:`DataFileError` (an ``OSError``): :class:`GridFileError`, :class:`ModelFileError`,
  :class:`SpectrumFileError`.
"""

from __future__ import annotations


class SpectralCVAEError(Exception):
    """Base class of every error raised on purpose by spectral-cvae."""


class InputError(SpectralCVAEError, ValueError):
    """Input that cannot be used as given; catch this for any bad value, shape or setting.

    Raised only through a subclass that says what the input is.
    """


class GridInputError(InputError):
    """Spectra, wavelengths or settings that cannot enter a grid (or its split) as given."""


class SpectrumIndexError(GridInputError, IndexError):
    """An index of a spectrum that the grid or file does not have."""


class ParameterError(InputError):
    """Stellar parameters that do not fit a parameter space: missing, not numbers, in a unit
    that does not convert, or a parameter the space does not have."""


class OutOfDomainError(ParameterError):
    """Stellar parameters outside the declared parameter space."""


class SpectrumInputError(InputError):
    """Flux or wavelengths that cannot be used as given: shapes that disagree, values that are
    not finite, wavelengths that do not increase or are not those of the model."""


class ConfigError(InputError):
    """Settings that cannot be used: of a model, its training, an inverter, a fit, a split or
    a command's options and output files."""


class OutOfDomainWarning(UserWarning):
    """A result (inferred parameters) lies outside the domain a model was trained on."""


class DataFileError(SpectralCVAEError, OSError):
    """A file that is missing, truncated, corrupt or of the wrong layout.

    Raised only through a subclass that says what the file holds.
    """


class GridFileError(DataFileError):
    """A grid file (or a grid being built) that is missing, corrupt or of the wrong layout."""


class ModelFileError(DataFileError):
    """A trained model's file (generator, inverter or training checkpoint) that is missing,
    truncated, corrupt or not written by spectral-cvae."""


class SpectrumFileError(DataFileError):
    """A file of spectra or of their parameters that is missing, unreadable or of the wrong
    layout."""


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
