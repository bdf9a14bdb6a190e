"""The spectral database: storage, splits, broadening, wavelength grids and readers."""

from .augment import augment, draw_broadening, seen_stars, unseen_stars
from .broadening import broaden
from .splits import GridSplit
from .store import GridWriter, SpectralGrid
from .wavelength import paper_wavelength, resample, uniform_grid, vacuum_to_air

__all__ = [
    "augment",
    "draw_broadening",
    "seen_stars",
    "unseen_stars",
    "GridSplit",
    "GridWriter",
    "SpectralGrid",
    "broaden",
    "paper_wavelength",
    "resample",
    "uniform_grid",
    "vacuum_to_air",
]
