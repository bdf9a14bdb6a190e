"""The spectral database: storage, splits, broadening, wavelength grids and readers."""

from .broadening import broaden
from .splits import GridSplit
from .store import GridWriter, SpectralGrid
from .wavelength import paper_wavelength, resample, uniform_grid, vacuum_to_air

__all__ = [
    "GridSplit",
    "GridWriter",
    "SpectralGrid",
    "broaden",
    "paper_wavelength",
    "resample",
    "uniform_grid",
    "vacuum_to_air",
]
