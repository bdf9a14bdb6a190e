"""Readers that turn spectra in other formats into a :class:`~spectral_cvae.grid.SpectralGrid`.

- :func:`read_synspec`: SYNSPEC ``fort.7`` / ``fort.17`` files listed in a CSV index;
- :func:`read_phoenix`: PHOENIX HiRes FITS spectra (Husser et al. 2013);
- :func:`read_table`: the generic layout of ``docs/grid_formats.md`` in HDF5, FITS or NPZ;
- :func:`read_grid`: any of these, chosen by ``format`` or by the path.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ...errors import GridFileError, GridInputError
from ..store import SpectralGrid
from .phoenix import read_phoenix, read_phoenix_spectrum
from .synspec import read_synspec, read_synspec_spectrum
from .table import CONTAINERS, read_table

FORMATS = ("synspec", "phoenix", "table")
"""Values accepted by the ``format`` argument of :func:`read_grid`."""

__all__ = [
    "FORMATS",
    "guess_format",
    "read_grid",
    "read_phoenix",
    "read_phoenix_spectrum",
    "read_synspec",
    "read_synspec_spectrum",
    "read_table",
]


def read_grid(path: str | os.PathLike, format: str | None = None, **kwargs) -> SpectralGrid:
    """Read a grid in any supported format.

    Parameters
    ----------
    path
        - ``"synspec"``: the CSV index of SYNSPEC files (see :func:`read_synspec`);
        - ``"phoenix"``: a folder holding ``lte*.fits`` files, or a glob pattern matching
          them (``WAVE_*`` files are skipped);
        - ``"table"``: a ``.h5``/``.hdf5``, ``.fits``/``.fit`` or ``.npz`` file.
    format
        One of :data:`FORMATS`. By default a folder or a glob pattern is PHOENIX, a ``.csv``
        file a SYNSPEC index and the other suffixes a table.
    **kwargs
        Passed to the reader (``wavelength`` in Angstrom is required for SYNSPEC and PHOENIX).
        For PHOENIX, ``wavelength_file`` defaults to the single ``WAVE_PHOENIX*.fits`` file
        in the folder of the spectra.

    Returns
    -------
    SpectralGrid

    Raises
    ------
    GridInputError
        If ``format`` is unknown.
    GridFileError
        If the format cannot be told from ``path``, no PHOENIX file matches, or the
        PHOENIX wavelength file is not found or not unique; and whatever the reader raises.
    """
    format = format or guess_format(path)
    if format == "synspec":
        return read_synspec(path, **kwargs)
    if format == "table":
        return read_table(path, **kwargs)
    if format == "phoenix":
        files, folder = _phoenix_files(path)
        wavelength_file = kwargs.pop("wavelength_file", None) or _phoenix_wavelength_file(folder)
        return read_phoenix(files, wavelength_file, **kwargs)
    raise GridInputError(f"unknown grid format {format!r}; expected one of {', '.join(FORMATS)}")


def guess_format(path: str | os.PathLike) -> str:
    """The reader for ``path``: "phoenix" (folder or glob), "synspec" (.csv) or "table"."""
    # An existing file whose name has glob characters ("grid[1].h5") is not a pattern.
    if Path(path).is_dir() or (not Path(path).exists() and glob.has_magic(str(path))):
        return "phoenix"
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "synspec"
    if suffix in CONTAINERS:
        return "table"
    raise GridFileError(
        f"{path}: cannot tell the grid format from the suffix {suffix!r}; pass format= one "
        f"of {', '.join(FORMATS)}"
    )


def _phoenix_files(path: str | os.PathLike) -> tuple[list[Path], Path]:
    """The PHOENIX flux files named by a folder or a glob pattern, and the first one's folder."""
    if Path(path).is_dir():
        files = sorted(Path(path).glob("lte*.fits"))
    else:
        files = sorted(Path(name) for name in glob.glob(str(path)))
    files = [f for f in files if not f.name.startswith("WAVE_")]
    if not files:
        raise GridFileError(f"{path}: no PHOENIX flux files (lte*.fits) found")
    return files, files[0].parent


def _phoenix_wavelength_file(folder: Path) -> Path:
    candidates = sorted(folder.glob("WAVE_PHOENIX*.fits"))
    if len(candidates) != 1:
        found = ", ".join(c.name for c in candidates) or "none"
        raise GridFileError(
            f"{folder}: expected one WAVE_PHOENIX*.fits wavelength file, found {found}; "
            f"pass wavelength_file="
        )
    return candidates[0]
