"""spectral-cvae: conditional variational autoencoders for stellar spectra.

From a grid of synthetic spectra to a fast generator of spectra at any stellar parameters
(Gebran & Bentley 2025) and back to parameters.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import GridFileError, GridInputError, OutOfDomainError, SpectralCVAEError
from .grid import GridSplit, GridWriter, SpectralGrid
from .parameters import PAPER_SPACE, Parameter, ParameterSpace

try:
    __version__ = version("spectral-cvae")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "GridFileError",
    "GridInputError",
    "GridSplit",
    "GridWriter",
    "OutOfDomainError",
    "PAPER_SPACE",
    "Parameter",
    "ParameterSpace",
    "SpectralCVAEError",
    "SpectralGrid",
]
