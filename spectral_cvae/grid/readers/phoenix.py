"""PHOENIX HiRes spectra (Husser et al. 2013, A&A 553, A6).

Each model is a FITS file such as ``lte05800-4.50-0.0.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits``
whose primary HDU is the 1-D flux (erg/s/cm^2/cm) with the parameters in header keywords
(``PHXTEFF``, ``PHXLOGG``, ``PHXM_H``, ``PHXXI_L``). All models share one wavelength file,
``WAVE_PHOENIX-ACES-AGSS-COND-2011.fits``, whose primary HDU holds vacuum wavelengths in
Angstrom. The spectra come without a continuum: they are normalized by an upper-envelope
pseudo-continuum (:func:`spectral_cvae.grid.continuum.pseudo_continuum`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from astropy.io import fits
from tqdm.auto import tqdm

from ...errors import GridFileError, GridInputError
from ...parameters import PAPER_SPACE, ParameterSpace
from ..broadening import broaden, broadening_reach
from ..checks import OutOfRangePolicy
from ..continuum import pseudo_continuum
from ..store import SpectralGrid
from ..wavelength import check_wavelength, vacuum_to_air

HEADER_KEYWORDS = {"teff": "PHXTEFF", "logg": "PHXLOGG", "mh": "PHXM_H", "vmic": "PHXXI_L"}
"""Grid parameter -> PHOENIX header keyword. All but ``vmic`` are required."""
AIR_LIMIT = 2000.0
"""Shortest vacuum wavelength (Angstrom) converted to air: the IAU formula holds above it."""
MAX_AIR_SHIFT = 1e-3
"""Bound on (vacuum - air) / air above 2000 Angstrom (about 3e-4), to find pixels quickly."""
CONTINUUM_MARGIN = 20.0
"""Angstrom read beyond what broadening needs, so the pseudo-continuum is anchored at the
window's edges rather than extrapolated."""


def read_phoenix_spectrum(
    flux_file: str | os.PathLike,
    wavelength_file: str | os.PathLike,
    air: bool = True,
    window: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Read one PHOENIX HiRes spectrum with its parameters.

    Parameters
    ----------
    flux_file
        A PHOENIX HiRes flux file (primary HDU: 1-D flux in erg/s/cm^2/cm).
    wavelength_file
        The matching ``WAVE_PHOENIX-*.fits`` file (vacuum wavelengths in Angstrom).
    air
        Convert the wavelengths to air (:func:`~spectral_cvae.grid.wavelength.vacuum_to_air`);
        pixels below 2000 Angstrom (vacuum), where air wavelengths are not defined by the
        IAU convention, are then left out.
    window
        ``(start, stop)`` in Angstrom (air if ``air``): read only the pixels from the last
        one at or before ``start`` to the first one at or after ``stop``. None reads all.

    Returns
    -------
    wavelength : numpy.ndarray
        Wavelengths in Angstrom (air or vacuum).
    flux : numpy.ndarray
        Flux in erg/s/cm^2/cm, not normalized.
    parameters : dict
        ``teff`` (K), ``logg`` (dex), ``mh`` (dex) and, when the header has ``PHXXI_L``,
        ``vmic`` (km/s).

    Raises
    ------
    GridFileError
        If a file is missing, corrupt or truncated, a required header keyword is missing, or
        the flux and wavelength files differ in length.
    GridInputError
        If the wavelengths are not increasing or the flux is not finite or negative.
    """
    wavelength, pixels, n_wavelength = _read_wavelength(wavelength_file, air, window)
    with _open_fits(flux_file, "flux") as hdul:
        parameters = _header_parameters(hdul[0].header, flux_file)
        flux = _read_flux(hdul, flux_file, (wavelength_file, n_wavelength), pixels, wavelength)
    return wavelength, flux, parameters


def read_phoenix(
    flux_files: Iterable[str | os.PathLike],
    wavelength_file: str | os.PathLike,
    wavelength: np.ndarray,
    *,
    vsini: float = 0.0,
    resolution: float = 115000.0,
    vmic: float | None = None,
    air: bool = True,
    space: ParameterSpace = PAPER_SPACE,
    on_out_of_range: OutOfRangePolicy = "error",
) -> SpectralGrid:
    """Build a grid from PHOENIX HiRes spectra.

    Each spectrum is cut to ``wavelength`` plus a margin (only that part of the files is
    read), divided by its pseudo-continuum, broadened to (``vsini``, ``resolution``) and
    sampled at ``wavelength``.

    Parameters
    ----------
    flux_files
        PHOENIX HiRes flux files, one per spectrum.
    wavelength_file
        The ``WAVE_PHOENIX-*.fits`` file shared by the flux files.
    wavelength
        The grid's wavelengths in Angstrom (air if ``air``).
    vsini
        Projected rotation velocity, km/s, given to every spectrum.
    resolution
        Resolving power R (FWHM = lambda / R) given to every spectrum.
    vmic
        Microturbulence in km/s for every spectrum, overriding the header's ``PHXXI_L``.
    air
        Whether ``wavelength`` is in air (the PHOENIX files are in vacuum).
    space
        Parameter space of the grid.
    on_out_of_range
        ``"error"`` or ``"drop"`` (dropped files are counted in the provenance) for files
        whose parameters lie outside ``space``; decided from the header, before the flux
        is read.

    Returns
    -------
    SpectralGrid
        In memory, one spectrum per file in the given order.

    Raises
    ------
    GridFileError
        As for :func:`read_phoenix_spectrum`, or when a parameter has neither a header
        keyword nor a keyword argument.
    GridInputError
        If the files do not cover ``wavelength`` or hold bad values, naming the file.
    """
    if on_out_of_range not in ("error", "drop"):
        raise ValueError(f"on_out_of_range must be 'error' or 'drop', not {on_out_of_range!r}")
    if isinstance(flux_files, (str, os.PathLike)):
        flux_files = [flux_files]
    files = [Path(f) for f in flux_files]
    if not files:
        raise GridInputError("no PHOENIX flux files were given")
    target = check_wavelength(wavelength)
    margin = broadening_reach(target[-1], vsini, resolution) + CONTINUUM_MARGIN
    window = (target[0] - margin, target[-1] + margin)
    native, pixels, n_wavelength = _read_wavelength(wavelength_file, air, window)
    if native[0] > target[0] or native[-1] < target[-1]:
        raise GridInputError(
            f"{wavelength_file}: PHOENIX wavelengths cover {native[0]:.3f}-{native[-1]:.3f} A "
            f"({'air' if air else 'vacuum'}), not the requested {target[0]:.3f}-"
            f"{target[-1]:.3f} A"
        )
    fixed = {"vsini": vsini, "resolution": resolution}
    if vmic is not None:
        fixed["vmic"] = vmic
    kept, parameters, flux = [], [], []
    for path in tqdm(files, desc="PHOENIX spectra", unit="spectrum", disable=None):
        with _open_fits(path, "flux") as hdul:
            values = _point(space, {**_header_parameters(hdul[0].header, path), **fixed}, path)
            if not space.contains(values)[0]:
                if on_out_of_range == "error":
                    space.check(values, source=str(path))
                continue
            raw = _read_flux(hdul, path, (wavelength_file, n_wavelength), pixels, native)
        normalized = raw / pseudo_continuum(native, raw, source=str(path))
        flux.append(
            broaden(native, normalized, vsini, resolution, wavelength_out=target, source=str(path))
        )
        parameters.append(values[0])
        kept.append(path.name)
    provenance = {
        "reader": "phoenix",
        "wavelength_file": str(wavelength_file),
        "air": air,
        "continuum": "upper-envelope pseudo-continuum",
        "files": kept,
        "n_dropped_out_of_range": len(files) - len(kept),
    }
    return SpectralGrid(
        target,
        np.asarray(flux, dtype=np.float32).reshape(len(kept), target.size),
        np.asarray(parameters).reshape(len(kept), len(space)),
        space,
        provenance,
        on_out_of_range,
        source=f"PHOENIX files in {files[0].parent}",
    )


def _point(space: ParameterSpace, values: dict[str, float], path: Path) -> np.ndarray:
    """The parameters of one file as a ``(1, n_parameters)`` array."""
    for name in space.names:
        if name not in values:
            keyword = HEADER_KEYWORDS.get(name)
            from_header = f"header keyword {keyword} is missing; " if keyword else ""
            raise GridFileError(
                f"{path}: no value for parameter {name!r}: {from_header}pass {name}= to "
                f"read_phoenix"
            )
    return space.as_array(values, source=str(path))


def _open_fits(path: str | os.PathLike, what: str) -> fits.HDUList:
    if not Path(path).is_file():
        raise GridFileError(f"{path}: no such PHOENIX {what} file")
    try:
        return fits.open(path, memmap=True)
    except (OSError, ValueError, TypeError) as exc:
        raise GridFileError(f"{path}: cannot be read as FITS ({exc})") from exc


def _image(hdul: fits.HDUList, path: str | os.PathLike, what: str) -> np.ndarray:
    """The primary HDU's 1-D data, memory-mapped so that slicing reads only the slice."""
    try:
        data = hdul[0].data
    except (OSError, ValueError, TypeError) as exc:
        raise GridFileError(f"{path}: the file is truncated or corrupt ({exc})") from exc
    if data is None or data.ndim != 1:
        shape = None if data is None else data.shape
        raise GridFileError(f"{path}: the primary HDU should hold 1-D {what}, not {shape}")
    return data


def _read_wavelength(
    path: str | os.PathLike, air: bool, window: tuple[float, float] | None
) -> tuple[np.ndarray, slice, int]:
    """Wavelengths (Angstrom) of the pixels to read, those pixels, and the file's length."""
    with _open_fits(path, "wavelength") as hdul:
        vacuum = _image(hdul, path, "wavelengths")
        # Air wavelengths are shorter than vacuum ones by < MAX_AIR_SHIFT: search the vacuum
        # values with bounds that certainly enclose the window, then trim in the final frame.
        start, stop = 0, vacuum.size
        if air:
            start = int(np.searchsorted(vacuum, AIR_LIMIT))
        if window is not None:
            low, high = window
            start = max(start, int(np.searchsorted(vacuum, low, side="right")) - 1)
            stop = int(np.searchsorted(vacuum, high * (1 + MAX_AIR_SHIFT))) + 1
        wavelength = np.array(vacuum[start:stop], dtype=float)
    if air:
        wavelength = vacuum_to_air(wavelength)
    wavelength = check_wavelength(wavelength, str(path))
    if window is not None:
        first = max(int(np.searchsorted(wavelength, window[0], side="right")) - 1, 0)
        last = int(np.searchsorted(wavelength, window[1])) + 1
        wavelength, start, stop = wavelength[first:last], start + first, start + last
    return wavelength, slice(start, stop), vacuum.size


def _read_flux(
    hdul: fits.HDUList,
    path: str | os.PathLike,
    wavelength_file: tuple[str | os.PathLike, int],
    pixels: slice,
    wavelength: np.ndarray,
) -> np.ndarray:
    """The flux of ``pixels``, after checking it matches the wavelength file.

    ``wavelength_file`` is the wavelength file's name and its number of pixels.
    """
    data = _image(hdul, path, "flux")
    wavelength_file, n_wavelength = wavelength_file
    if data.size != n_wavelength:
        raise GridFileError(
            f"{path} holds {data.size} flux values but {wavelength_file} holds {n_wavelength} "
            f"wavelengths: they do not belong together"
        )
    try:
        flux = np.array(data[pixels], dtype=float)
    except (OSError, ValueError, TypeError) as exc:
        raise GridFileError(f"{path}: the file is truncated or corrupt ({exc})") from exc
    bad = ~np.isfinite(flux) | (flux < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise GridInputError(
            f"{path}: flux is {flux[i]} at {wavelength[i]:.3f} A (pixel {pixels.start + i}); "
            f"expected a finite value >= 0"
        )
    return flux


def _header_parameters(header: fits.Header, path: str | os.PathLike) -> dict[str, float]:
    """Parameters from the PHOENIX header keywords; ``vmic`` only when present."""
    values = {}
    for name, keyword in HEADER_KEYWORDS.items():
        if keyword not in header:
            if name == "vmic":
                continue
            raise GridFileError(f"{path}: header keyword {keyword} ({name}) is missing")
        try:
            values[name] = float(header[keyword])
        except (TypeError, ValueError):
            raise GridInputError(
                f"{path}: header keyword {keyword} ({name}) is {header[keyword]!r}, not a number"
            ) from None
    return values
