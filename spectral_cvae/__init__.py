"""spectral-cvae: conditional variational autoencoders for stellar spectra.

From a grid of synthetic spectra to a fast generator of spectra at any stellar parameters
(Gebran & Bentley 2025) and back to parameters.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    ConfigError,
    DataFileError,
    GridFileError,
    GridInputError,
    InputError,
    ModelFileError,
    OutOfDomainError,
    ParameterError,
    SpectralCVAEError,
    SpectrumFileError,
    SpectrumInputError,
)
from .grid import GridSplit, GridWriter, SpectralGrid
from .parameters import PAPER_SPACE, Parameter, ParameterSpace

try:
    __version__ = version("spectral-cvae")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "ConfigError",
    "DataFileError",
    "GridFileError",
    "GridInputError",
    "GridSplit",
    "GridWriter",
    "InputError",
    "ModelFileError",
    "OutOfDomainError",
    "PAPER_SPACE",
    "Parameter",
    "ParameterError",
    "ParameterSpace",
    "SpectralCVAEError",
    "SpectralGrid",
    "SpectrumFileError",
    "SpectrumInputError",
]
