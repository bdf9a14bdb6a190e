"""SYNSPEC output (Hubeny & Lanz): ``fort.7`` spectra and ``fort.17`` continua.

SYNSPEC writes each synthetic spectrum as two whitespace columns, wavelength (Angstrom) and
flux, on its own adaptive wavelength grid (``fort.7``), and the continuum on a coarse grid
(``fort.17``). Its output is not broadened: :func:`read_synspec` broadens each spectrum
to the v sin i and resolving power that the grid should hold, and samples it on the grid's
wavelengths.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table
from tqdm.auto import tqdm

from ...errors import GridFileError, GridInputError, where
from ...parameters import PAPER_SPACE, ParameterSpace
from ..broadening import broaden
from ..checks import OutOfRangePolicy
from ..store import SpectralGrid
from ..wavelength import check_wavelength

_FORTRAN_EXPONENT = str.maketrans("Dd", "Ee")


def read_synspec_spectrum(
    flux_file: str | os.PathLike, continuum_file: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read one SYNSPEC spectrum and normalize it by its continuum.

    Parameters
    ----------
    flux_file
        ``fort.7``: wavelength (Angstrom) and flux, two whitespace columns (more columns are
        ignored); Fortran ``D`` exponents are accepted. Wavelengths repeated where SYNSPEC
        joins segments are kept once (the first occurrence).
    continuum_file
        ``fort.17``: wavelength (Angstrom) and continuum flux on a coarse grid, which is
        linearly interpolated to the wavelengths of ``flux_file``. If None, ``flux_file`` is
        taken as already continuum-normalized.

    Returns
    -------
    wavelength : numpy.ndarray
        Strictly increasing wavelengths in Angstrom.
    flux : numpy.ndarray
        Continuum-normalized flux.

    Raises
    ------
    GridFileError
        If a file is missing or unreadable.
    GridInputError
        Naming the file and line: an unparsable line, fewer than 2 columns, a non-finite
        or negative value, decreasing wavelengths, a zero or negative continuum, or a
        continuum that does not cover the spectrum's wavelengths.
    """
    wavelength, flux = _read_columns(flux_file)
    if continuum_file is None:
        return wavelength, flux
    continuum_wavelength, continuum = _read_columns(continuum_file, positive=True)
    if continuum_wavelength[0] > wavelength[0] or continuum_wavelength[-1] < wavelength[-1]:
        raise GridInputError(
            f"{continuum_file}: the continuum covers {continuum_wavelength[0]:.3f}-"
            f"{continuum_wavelength[-1]:.3f} A, which does not cover the spectrum of "
            f"{flux_file} ({wavelength[0]:.3f}-{wavelength[-1]:.3f} A)"
        )
    return wavelength, flux / np.interp(wavelength, continuum_wavelength, continuum)


def read_synspec(
    index: str | os.PathLike | Table,
    wavelength: np.ndarray,
    *,
    vsini: float = 0.0,
    resolution: float = 115000.0,
    space: ParameterSpace = PAPER_SPACE,
    on_out_of_range: OutOfRangePolicy = "error",
    limb_darkening: float = 0.6,
) -> SpectralGrid:
    """Build a grid from SYNSPEC spectra listed in an index table.

    Parameters
    ----------
    index
        A CSV file, or an astropy Table, with one row per spectrum and columns
        ``flux_file``, optionally ``continuum_file`` (an empty cell means the flux is
        already normalized), and one column per parameter of ``space`` (``teff``, ``logg``,
        ``mh``, ``vmic``; ``vsini`` and ``resolution`` may be columns too). Column names
        are case-insensitive. Relative file paths are relative to the CSV file's folder
        (to the working directory for a Table).
    wavelength
        The grid's wavelengths in Angstrom. Every spectrum must cover them, ideally with a
        margin of v sin i + 7 instrumental sigma beyond each end, where broadening is
        exact.
    vsini
        Projected rotation velocity, km/s, applied to every spectrum unless ``index`` has a
        ``vsini`` column.
    resolution
        Resolving power R (FWHM = lambda / R), unless ``index`` has a ``resolution`` column.
    space
        Parameter space of the grid.
    on_out_of_range
        ``"error"`` raises before any spectrum is read if a row lies outside ``space``;
        ``"drop"`` skips such rows (counted in the provenance).
    limb_darkening
        Linear limb-darkening coefficient of the rotational profile.

    Returns
    -------
    SpectralGrid
        In memory; its ``vsini`` and ``resolution`` are those the spectra were broadened to.

    Raises
    ------
    GridFileError
        If the index or a spectrum file is missing or unreadable, or a column is missing.
    GridInputError
        For bad values, naming the file and row.
    """
    table, source, folder = _read_index(index)
    target = check_wavelength(wavelength, source)
    values = _parameter_values(table, space, source, vsini=vsini, resolution=resolution)
    if on_out_of_range == "error":
        space.check(values, source=source)
        rows = np.arange(len(values))
    elif on_out_of_range == "drop":
        rows = np.flatnonzero(space.contains(values))
    else:
        raise ValueError(f"on_out_of_range must be 'error' or 'drop', not {on_out_of_range!r}")
    vsinis = _broadening(values, space, "vsini", vsini)
    resolutions = _broadening(values, space, "resolution", resolution)
    flux = np.empty((len(rows), target.size), dtype=np.float32)
    for k, row in enumerate(tqdm(rows, desc="SYNSPEC spectra", unit="spectrum", disable=None)):
        flux_file, continuum_file = _spectrum_files(table, int(row), folder, source)
        native_wavelength, native_flux = read_synspec_spectrum(flux_file, continuum_file)
        flux[k] = broaden(
            native_wavelength, native_flux, vsinis[row], resolutions[row], wavelength_out=target,
            limb_darkening=limb_darkening, source=f"{where(source, int(row))}{flux_file}",
        )
    provenance = {
        "reader": "synspec",
        "index": source,
        "broadening": {"limb_darkening": limb_darkening},
        "n_dropped_out_of_range": int(len(values) - len(rows)),
    }
    return SpectralGrid(target, flux, values[rows], space, provenance, on_out_of_range, source)


def _read_columns(
    path: str | os.PathLike, positive: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """First two columns of a SYNSPEC text file, first of repeated wavelengths kept.

    ``positive`` requires the second column to be > 0 (a continuum), not only >= 0.
    """
    text = _read_text(path)
    try:
        with warnings.catch_warnings():
            # An empty file is reported below, with its name.
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(io.StringIO(text), usecols=(0, 1), ndmin=2, comments=None)
    except ValueError:
        raise _bad_line(path, text) from None
    if len(table) < 2:
        raise GridInputError(f"{path}: holds {len(table)} data line(s); at least 2 are needed")
    bad = ~np.isfinite(table) | (table < 0)
    if positive:
        bad[:, 1] |= table[:, 1] == 0
    if bad.any():
        row, column = np.argwhere(bad)[0]
        what = ("wavelength", "continuum flux" if positive else "flux")[column]
        expected = "> 0" if positive and column == 1 else ">= 0"
        raise GridInputError(
            f"{path}, line {_line_number(path, int(row), text)}: {what} is {table[row, column]}"
            f"; expected a finite value {expected}"
        )
    wavelength, flux = table[:, 0], table[:, 1]
    steps = np.diff(wavelength)
    if (steps < 0).any():
        row = int(np.argmax(steps < 0)) + 1
        raise GridInputError(
            f"{path}, line {_line_number(path, row, text)}: wavelength decreases "
            f"({wavelength[row - 1]} A followed by {wavelength[row]} A)"
        )
    first = np.append(True, steps > 0)
    return check_wavelength(wavelength[first], str(path)), flux[first]


MAX_FILE_BYTES = 256 * 2**20
"""Largest SYNSPEC output read: a fort.7 of the whole optical at 0.001 A is a tenth of it."""


def _read_text(path: str | os.PathLike) -> str:
    """A SYNSPEC output file as text, Fortran exponents (``1.0D-03``) made readable."""
    return _read_regular(path).translate(_FORTRAN_EXPONENT)


def _read_regular(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> str:
    """A text file, read only if it is a regular file of at most ``limit`` bytes.

    A device (``/dev/zero``), a FIFO or a huge file listed in an index would otherwise be
    read forever or into all the memory.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise GridFileError(f"{path}: no such SYNSPEC file") from None
    except OSError as exc:
        raise GridFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise GridFileError(f"{path}: not a regular file (a device, FIFO or folder)")
    if info.st_size > limit:
        raise GridFileError(
            f"{path}: {info.st_size / 2**20:.0f} MiB, larger than any SYNSPEC output "
            f"({limit / 2**20:.0f} MiB at most)"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        return data.decode()
    except OSError as exc:
        raise GridFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise GridFileError(f"{path}: not a text file") from None


def _bad_line(path: str | os.PathLike, text: str) -> GridInputError:
    """The error for the first line that is not two numbers."""
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            # The file's content is never quoted: an index may name any file.
            return GridInputError(
                f"{path}, line {number}: expected 2 columns (wavelength, flux), found "
                f"{len(fields)}"
            )
        try:
            float(fields[0]), float(fields[1])
        except ValueError:
            return GridInputError(
                f"{path}, line {number}: cannot read numbers (expected wavelength and flux)"
            )
    return GridInputError(f"{path}: not a two-column table of numbers")


def _line_number(path: str | os.PathLike, row: int, text: str | None = None) -> int:
    """1-based line number of data row ``row`` (blank lines are not data)."""
    lines = (text if text is not None else _read_text(path)).splitlines()
    return [number for number, line in enumerate(lines, start=1) if line.strip()][row]


def _read_index(index: str | os.PathLike | Table) -> tuple[Table, str, Path]:
    """The index table with lower-case column names, its name for messages, its folder."""
    if isinstance(index, Table):
        table, source, folder = index.copy(copy_data=False), "SYNSPEC index table", Path.cwd()
    else:
        path = Path(index)
        if not path.is_file():
            raise GridFileError(f"{path}: no such SYNSPEC index file")
        try:
            table = Table.read(_read_regular(path).splitlines(), format="ascii.csv")
        except Exception as exc:  # astropy raises many types for unreadable text
            raise GridFileError(f"{path}: cannot be read as a CSV table ({exc})") from exc
        source, folder = str(path), path.parent
    table.rename_columns(table.colnames, [name.strip().lower() for name in table.colnames])
    if "flux_file" not in table.colnames:
        raise GridFileError(
            f"{source}: no 'flux_file' column (found: {', '.join(table.colnames) or 'none'})"
        )
    return table, source, folder


def _parameter_values(
    table: Table, space: ParameterSpace, source: str, **keywords: float
) -> np.ndarray:
    """Parameters per row, ``(n, n_parameters)``: columns, else the broadening keywords."""
    columns = {}
    for name in space.names:
        if name in table.colnames:
            columns[name] = _numeric_column(table, name, source)
        elif name in keywords:
            columns[name] = np.full(len(table), float(keywords[name]))
        else:
            raise GridFileError(
                f"{source}: no column for parameter {name!r} "
                f"(found: {', '.join(table.colnames)})"
            )
    return space.as_array(columns, source=source)


def _numeric_column(table: Table, name: str, source: str) -> np.ndarray:
    column = table[name]
    mask = np.ma.getmaskarray(column)
    if mask.any():
        raise GridInputError(f"{where(source, int(np.argmax(mask)))}parameter {name!r} is empty")
    values = np.empty(len(column))
    for row, value in enumerate(np.asarray(column)):
        try:
            values[row] = float(value)
        except ValueError:
            raise GridInputError(
                f"{where(source, row)}parameter {name!r} is {str(value)!r}, not a number"
            ) from None
    return values


def _broadening(
    values: np.ndarray, space: ParameterSpace, name: str, default: float
) -> np.ndarray:
    """Per-row v sin i or R: the parameter column when the space has it, else ``default``."""
    if name in space.names:
        return values[:, space.names.index(name)]
    return np.full(len(values), float(default))


def _spectrum_files(
    table: Table, row: int, folder: Path, source: str
) -> tuple[Path, Path | None]:
    """Paths of the flux and continuum files of ``row``, relative ones taken from ``folder``."""
    paths = []
    for name in ("flux_file", "continuum_file"):
        if name not in table.colnames or np.ma.is_masked(table[name][row]):
            paths.append(None)
            continue
        value = str(table[name][row]).strip()
        paths.append(folder / value if value else None)
    if paths[0] is None:
        raise GridInputError(f"{where(source, row)}'flux_file' is empty")
    return paths[0], paths[1]
