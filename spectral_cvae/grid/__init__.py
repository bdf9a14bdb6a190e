"""The spectral database: storage, splits, broadening, wavelength grids and readers."""

from .augment import BASE_SPACE, augment, draw_broadening
from .broadening import broaden
from .splits import GridSplit
from .store import GridWriter, SpectralGrid
from .wavelength import paper_wavelength, resample, uniform_grid, vacuum_to_air

__all__ = [
    "BASE_SPACE",
    "augment",
    "draw_broadening",
    "GridSplit",
    "GridWriter",
    "SpectralGrid",
    "broaden",
    "paper_wavelength",
    "resample",
    "uniform_grid",
    "vacuum_to_air",
]
