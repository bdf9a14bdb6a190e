"""Spectrum files: reading and writing spectra and parameter tables.

One layout per container, written atomically and read back with units and parameters:
FITS (a ``SPECTRA`` table and a ``WAVELENGTH`` HDU), CSV (an ECSV header over plain
columns) and HDF5 (a spectral-cvae grid file). The readers also take observed spectra:
FITS images with a wavelength WCS, tables, text files, specutils objects.

>>> from spectral_cvae.io import read_spectrum, read_spectra, write_spectra  # doctest: +SKIP
>>> star = read_spectrum("star.fits")           # one spectrum: .wavelength, .flux, .error
>>> spectra = read_spectra("generated.csv")     # many: .flux (n, n_pixels), .parameters
"""

from .formats import FORMATS, read_spectra, write_spectra
from .observed import ObservedSpectrum, from_specutils, read_spectrum
from .parameters import read_parameters, write_parameters
from .spectra import Spectra

__all__ = [
    "FORMATS",
    "ObservedSpectrum",
    "Spectra",
    "from_specutils",
    "read_parameters",
    "read_spectra",
    "read_spectrum",
    "write_parameters",
    "write_spectra",
]
