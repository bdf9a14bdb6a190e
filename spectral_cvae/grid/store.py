"""The spectral grid: wavelengths, continuum-normalized flux and parameters, in HDF5.

Layout of a grid file (all arrays row-aligned, one row per spectrum)::

    /wavelength   float64 (n_pixels,)              attrs: unit = "Angstrom"
    /flux         float32 (n_spectra, n_pixels)    chunked by rows, compressed
    /parameters   float64 (n_spectra, n_parameters) attrs: names, units
    /base_model   int64 (n_spectra,)               the base model of each row (-1: unknown)
    attrs         format, format_version, parameter_space (JSON), provenance (JSON),
                  n_committed, n_dropped

A file is built under ``<name>.partial`` by :class:`GridWriter`, which commits each appended
batch (data first, then the row count), so a build killed half-way keeps every finished
spectrum and resumes where it stopped. Only a finished build is renamed to ``<name>``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from ..errors import GridFileError, GridInputError, SpectrumIndexError, where
from ..files import commit
from ..parameters import PAPER_SPACE, ParameterSpace, compact_unit
from ..specutils_spectra import parameter_meta, to_specutils
from .checks import CheckedBatch, OutOfRangePolicy, check_batch
from .groups import UNKNOWN, check_base_models, infer_base_models
from .physics import check_same_physics
from .splits import GridSplit
from .wavelength import check_wavelength

FORMAT = "spectral-cvae grid"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 17
"""Target chunk size: one 19,000-pixel spectrum per chunk, so shuffled reads stay cheap."""
READ_CACHE_BYTES = 64 << 20


class SpectralGrid:
    """A grid of continuum-normalized spectra with their stellar parameters.

    Parameters
    ----------
    wavelength
        Wavelengths in Angstrom, strictly increasing, shape ``(n_pixels,)``.
    flux
        Continuum-normalized flux, shape ``(n_spectra, n_pixels)``.
    parameters
        Stellar parameters: an array ``(n_spectra, n_parameters)`` in the order of
        ``space.names``, or a mapping / table with one column per name.
    space
        The parameter space (names, units, ranges). Defaults to the paper's.
    provenance
        Free-form JSON-ready description of where the spectra came from.
    on_out_of_range
        ``"error"`` (default) or ``"drop"`` for spectra whose parameters lie outside ``space``.
    source
        Where the data came from, used in error messages.
    base_model
        Index of each spectrum's base model (the star before v sin i and R broadening),
        shape ``(n_spectra,)``; default inferred from identical Teff, log g, [M/H] and
        xi_t (:func:`~spectral_cvae.grid.groups.infer_base_models`).

    Attributes
    ----------
    base_model : numpy.ndarray
        Base-model index of each row (int64); splits keep each base model in one subset.
    base_model_source : str
        ``"recorded"`` (given or stored in the file) or ``"inferred"``.

    Notes
    -----
    A grid made from arrays lives in memory. :meth:`open` gives a grid backed by an HDF5
    file, whose flux is read only when asked for (:meth:`read_flux`, :meth:`iter_batches`),
    so a 10^5 x 19,000 grid (7.6 GB) can be used on a laptop.
    """

    def __init__(
        self,
        wavelength: object,
        flux: object,
        parameters: object,
        space: ParameterSpace = PAPER_SPACE,
        provenance: Mapping | None = None,
        on_out_of_range: OutOfRangePolicy = "error",
        source: str | None = None,
        base_model: object | None = None,
    ) -> None:
        self.wavelength = check_wavelength(wavelength, source)
        checked = check_batch(
            flux, parameters, space, self.wavelength.size, self.wavelength, on_out_of_range, source
        )
        self.flux: np.ndarray | h5py.Dataset = checked.flux
        self.parameters = checked.parameters
        self.space = space
        self.provenance = dict(provenance or {})
        if base_model is not None:
            n_given = len(checked.parameters) + len(checked.dropped_rows)
            kept = np.setdiff1d(np.arange(n_given), checked.dropped_rows)
            base_model = check_base_models(base_model, n_given, source)[kept]
        self._set_base_model(base_model)
        if len(checked.dropped_rows):
            self.provenance["n_dropped_out_of_range"] = int(len(checked.dropped_rows))
        self.path: Path | None = None
        self._file: h5py.File | None = None

    def _set_base_model(self, base_model: np.ndarray | None) -> None:
        """Keep recorded base models, or infer them when missing or partly unknown."""
        if base_model is None or (len(base_model) and np.min(base_model) == UNKNOWN):
            self.base_model = infer_base_models(self.parameters, self.space)
            self.base_model_source = "inferred"
        else:
            self.base_model = np.asarray(base_model, dtype=np.int64)
            self.base_model_source = "recorded"

    # -- opening and saving --------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> SpectralGrid:
        """Open a grid file for reading without loading its flux.

        Raises
        ------
        GridFileError
            If the file is missing, truncated, corrupt, unfinished or not a grid file.
        """
        path = Path(path)
        handle = open_hdf5(path, "r")
        try:
            _check_layout(handle, path)
            n = int(handle.attrs["n_committed"])
            grid = cls.__new__(cls)
            grid.wavelength = _stored_wavelength(handle["wavelength"][:], path)
            grid.flux = handle["flux"]
            grid.parameters = handle["parameters"][:n]
            grid.space = ParameterSpace.from_json(handle.attrs["parameter_space"])
            grid.provenance = json.loads(handle.attrs["provenance"])
            grid.path = path
            grid._file = handle
            stored = handle["base_model"][:n] if "base_model" in handle else None
            grid._set_base_model(stored)
        except (KeyError, ValueError, OSError) as exc:
            handle.close()
            if isinstance(exc, GridFileError):
                raise
            raise GridFileError(f"{path}: not a readable spectral-cvae grid ({exc})") from exc
        if grid.flux.shape[0] < n:
            handle.close()
            raise GridFileError(
                f"{path}: claims {n} spectra but stores {grid.flux.shape[0]}: the file is corrupt"
            )
        return grid

    def save(
        self,
        path: str | os.PathLike,
        compression: str | None = "gzip",
        overwrite: bool = False,
        batch_size: int = 1024,
        progress: bool | None = None,
    ) -> Path:
        """Write the grid to an HDF5 file, atomically.

        Parameters
        ----------
        path
            Destination; it appears only once complete.
        compression
            ``"gzip"``, ``"lzf"`` or None.
        overwrite
            Replace an existing file at ``path``.
        batch_size
            Spectra written per step.
        progress
            Show a tqdm progress bar; None shows it only on a terminal.
        """
        from tqdm.auto import tqdm

        writer = GridWriter(
            path,
            self.wavelength,
            self.space,
            provenance=self.provenance,
            compression=compression,
            overwrite=overwrite,
            resume=False,
        )
        with (
            writer,
            tqdm(
                total=self.n_spectra,
                unit="spectra",
                desc=f"writing {Path(path).name}",
                disable=None if progress is None else not progress,
            ) as bar,
        ):
            for rows, parameters, flux in self.iter_batches(batch_size):
                writer.append(flux, parameters, base_model=self.base_model[rows])
                bar.update(len(rows))
        return writer.path

    def close(self) -> None:
        """Close the backing file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SpectralGrid:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- description ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.parameters)

    @property
    def n_spectra(self) -> int:
        """Number of spectra."""
        return len(self.parameters)

    @property
    def n_pixels(self) -> int:
        """Number of wavelength points per spectrum."""
        return self.wavelength.size

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in column order."""
        return self.space.names

    @property
    def units(self) -> tuple[str, ...]:
        """Parameter units, in column order."""
        return self.space.units

    def __repr__(self) -> str:
        where_ = f", file={str(self.path)!r}" if self.path else ""
        return (
            f"SpectralGrid({self.n_spectra} spectra x {self.n_pixels} pixels, "
            f"{self.wavelength[0]:.2f}-{self.wavelength[-1]:.2f} A{where_})"
        )

    def info(self) -> dict:
        """A JSON-ready summary: size, window, step, parameter coverage and provenance."""
        steps = np.diff(self.wavelength)
        coverage = {}
        for k, p in enumerate(self.space.parameters):
            column = self.parameters[:, k]
            coverage[p.name] = {
                "unit": p.unit,
                "domain": [p.minimum, p.maximum],
                "grid": [float(column.min()), float(column.max())] if len(column) else None,
            }
        return {
            "file": str(self.path) if self.path else None,
            "n_spectra": self.n_spectra,
            "n_pixels": self.n_pixels,
            "wavelength_range_angstrom": [float(self.wavelength[0]), float(self.wavelength[-1])],
            "wavelength_step_angstrom": [float(steps.min()), float(steps.max())],
            "flux_bytes": self.n_spectra * self.n_pixels * 4,
            "n_base_models": int(np.unique(self.base_model).size),
            "base_models": self.base_model_source,
            "parameters": coverage,
            "provenance": self.provenance,
        }

    # -- reading flux --------------------------------------------------------------------
    def read_flux(self, indices: int | slice | np.ndarray | list | None = None) -> np.ndarray:
        """Read the flux of some spectra, touching only the rows asked for.

        Parameters
        ----------
        indices
            An index, a slice, or an array of indices in any order (duplicates allowed);
            None reads all.

        Returns
        -------
        numpy.ndarray of float32
            Shape ``(n_pixels,)`` for a single index, ``(k, n_pixels)`` otherwise.
        """
        n = self.n_spectra
        if indices is None:
            indices = slice(0, n)
        if isinstance(indices, slice):
            start, stop, step = indices.indices(n)
            if step == 1:
                with self._reading():
                    return np.asarray(self.flux[start:stop], dtype=np.float32)
            indices = np.arange(start, stop, step)
        if np.ndim(indices) == 0:
            i = int(indices)
            if not -n <= i < n:
                raise SpectrumIndexError(
                    f"{where(self.path)}spectrum {i} does not exist: the grid has {n} spectra"
                )
            with self._reading():
                return np.asarray(self.flux[i % n], dtype=np.float32)
        wanted = np.asarray(indices, dtype=np.int64)
        if wanted.size and (wanted.min() < -n or wanted.max() >= n):
            raise SpectrumIndexError(
                f"{where(self.path)}spectrum indices must lie in [0, {n}), got "
                f"{wanted.min()}..{wanted.max()}"
            )
        wanted = wanted % max(n, 1)
        if isinstance(self.flux, np.ndarray):
            return self.flux[wanted]
        # h5py's point selection is slow for many rows: read each contiguous run as a slice.
        unique, inverse = np.unique(wanted, return_inverse=True)
        out = np.empty((len(unique), self.n_pixels), dtype=np.float32)
        runs = np.split(unique, np.flatnonzero(np.diff(unique) != 1) + 1)
        position = 0
        for run in runs:
            if not len(run):
                continue
            stop = position + len(run)
            with self._reading():
                self.flux.read_direct(out, np.s_[run[0] : run[-1] + 1], np.s_[position:stop])
            position = stop
        return out[inverse]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn HDF5's read errors (a damaged chunk, a failed filter) into GridFileError."""
        try:
            yield
        except OSError as exc:
            if isinstance(exc, GridFileError):
                raise
            raise GridFileError(
                f"{self.path}: spectra cannot be read, the file is damaged ({exc})"
            ) from exc

    def spectrum(self, index: int) -> np.ndarray:
        """Flux of one spectrum, shape ``(n_pixels,)``."""
        return self.read_flux(int(index))

    def iter_batches(
        self, batch_size: int = 512, indices: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Iterate over the grid (or the given rows) in batches.

        Yields
        ------
        tuple
            ``(indices, parameters, flux)`` with shapes ``(k,)``, ``(k, n_parameters)``,
            ``(k, n_pixels)``; rows come in the order of ``indices``.
        """
        order = np.arange(self.n_spectra) if indices is None else np.asarray(indices)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            contiguous = (
                len(rows) and rows[-1] - rows[0] == len(rows) - 1 and np.all(np.diff(rows) == 1)
            )
            flux = self.read_flux(slice(rows[0], rows[-1] + 1) if contiguous else rows)
            yield rows, self.parameters[rows], flux

    def subset(self, indices: np.ndarray | list) -> SpectralGrid:
        """An in-memory grid holding the given spectra, in the given order."""
        rows = np.asarray(indices, dtype=np.int64)
        return in_memory_grid(
            self.wavelength,
            self.read_flux(rows),
            self.parameters[rows],
            self.space,
            {**self.provenance, "subset_of": str(self.path) if self.path else "in-memory grid"},
            base_model=self.base_model[rows],
        )

    # -- views for people and other packages -----------------------------------------------
    def parameter_table(self):
        """The parameters as an astropy ``QTable`` with units."""
        from astropy import units as u
        from astropy.table import QTable

        return QTable(
            {
                n: self.parameters[:, k] * u.Unit(unit)
                for k, (n, unit) in enumerate(zip(self.names, self.units))
            }
        )

    def describe(self, index: int) -> str:
        """One line naming spectrum ``index`` by its parameters."""
        values = self.parameters[index]
        return ", ".join(
            f"{p.label} = {v:.0f} {compact_unit(p.unit)}".rstrip()
            if abs(v) >= 1000
            else f"{p.label} = {v:.3g} {compact_unit(p.unit)}".rstrip()
            for p, v in zip(self.space.parameters, values)
        )

    def to_table(self, index: int):
        """Spectrum ``index`` as an astropy ``QTable`` (wavelength in Angstrom, flux).

        The stellar parameters are in ``table.meta`` with their units.
        """
        from astropy import units as u
        from astropy.table import QTable

        table = QTable(
            {
                "wavelength": self.wavelength * u.AA,
                "flux": self.spectrum(index) * u.dimensionless_unscaled,
            }
        )
        table.meta.update(self._meta(index))
        return table

    def to_spectrum(self, index: int):
        """Spectrum ``index`` as a specutils spectrum (``Spectrum``; ``Spectrum1D`` before 2.0).

        Wavelength in Angstrom, dimensionless flux, the parameters in ``meta`` as
        ``"teff (K)": value``.
        """
        return to_specutils(self.wavelength, self.spectrum(index), self._meta(index))

    def _meta(self, index: int) -> dict:
        meta = parameter_meta(self.names, self.units, self.parameters[index])
        meta["spectrum"] = int(index)
        if self.path:
            meta["grid"] = str(self.path)
        return meta

    def plot(self, index: int, ax=None, **kwargs):
        """Plot spectrum ``index`` with matplotlib and return the Axes.

        Extra keyword arguments go to ``Axes.plot``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(10, 3.5))
        ax.plot(self.wavelength, self.spectrum(index), lw=kwargs.pop("lw", 0.7), **kwargs)
        ax.set_xlabel("wavelength [Angstrom]")
        ax.set_ylabel("normalized flux")
        ax.set_title(self.describe(index), fontsize=9)
        return ax

    # -- splits --------------------------------------------------------------------------
    def split(self, test: float = 0.1, validation: float = 0.1, seed: int = 0) -> GridSplit:
        """Reproducible train / validation / test split by base model.

        No base model has rows in two subsets, so test spectra are stars never trained on.
        See :meth:`spectral_cvae.grid.splits.GridSplit.make` for the meaning of the sizes.
        """
        return GridSplit.make(
            self.n_spectra, test=test, validation=validation, seed=seed, base_model=self.base_model
        )

    def leaky_row_split(
        self, test: float = 0.1, validation: float = 0.1, seed: int = 0
    ) -> GridSplit:
        """A split of rows at random that *leaks* base models between subsets.

        Only for comparison with :meth:`split`: see
        :meth:`~spectral_cvae.grid.splits.GridSplit.make_leaky_by_row`.
        """
        return GridSplit.make_leaky_by_row(
            self.n_spectra, test=test, validation=validation, seed=seed
        )


def in_memory_grid(
    wavelength: np.ndarray,
    flux: np.ndarray,
    parameters: np.ndarray,
    space: ParameterSpace,
    provenance: Mapping,
    base_model: np.ndarray | None = None,
) -> SpectralGrid:
    """Wrap arrays that are already known to be valid (no checks, no copies) as a grid.

    ``base_model`` (one index per row) is inferred from the parameters when not given.
    """
    grid = SpectralGrid.__new__(SpectralGrid)
    grid.wavelength, grid.flux, grid.parameters = wavelength, flux, parameters
    grid.space, grid.provenance, grid.path, grid._file = space, dict(provenance), None, None
    grid._set_base_model(base_model)
    return grid


def concatenate_grids(
    grids: list[SpectralGrid],
    provenance: Mapping | None = None,
    allow_other_physics: bool = False,
) -> SpectralGrid:
    """One in-memory grid holding the spectra of several, in order.

    Parameters
    ----------
    grids
        Grids on the same wavelengths and parameter space (e.g. the starter grid and
        reference chunks of more base models).
    provenance
        Provenance of the result; default a list of the parts' provenance.
    allow_other_physics
        Join grids whose recorded physics differ (refused by default; see
        :mod:`spectral_cvae.grid.physics`).

    Returns
    -------
    SpectralGrid
        Base models are renumbered so that those of different parts stay distinct.

    Raises
    ------
    GridInputError
        If the parts differ in wavelengths, parameter space or physics, naming the first that
        does.
    """
    if not grids:
        raise GridInputError("no grids to concatenate")
    if not allow_other_physics:
        check_same_physics(
            {
                str(g.path or g.provenance.get("packed_file") or f"grid {k}"): g.provenance
                for k, g in enumerate(grids)
            },
            "cannot join grids of different physics",
        )
    first = grids[0]
    for k, grid in enumerate(grids[1:], start=1):
        if grid.space != first.space or not np.array_equal(grid.wavelength, first.wavelength):
            what = "parameter space" if grid.space != first.space else "wavelengths"
            raise GridInputError(
                f"grid {k} ({grid.path or 'in memory'}) has other {what} than grid 0 "
                f"({first.path or 'in memory'})"
            )
    offsets = np.cumsum([0] + [int(g.base_model.max()) + 1 if len(g) else 0 for g in grids])
    return in_memory_grid(
        first.wavelength,
        np.concatenate([g.read_flux() for g in grids]),
        np.concatenate([g.parameters for g in grids]),
        first.space,
        provenance or {"parts": [g.provenance for g in grids]},
        np.concatenate([g.base_model + offset for g, offset in zip(grids, offsets)]),
    )


class GridWriter:
    """Append spectra to an HDF5 grid file, resumably and atomically.

    Parameters
    ----------
    path
        Final file name. Work happens in ``<path>.partial``; :meth:`finish` renames it.
    wavelength
        Wavelengths in Angstrom shared by all spectra.
    space
        Parameter space; appended parameters are checked against it.
    provenance
        JSON-ready description of the build (command, seed, code versions...).
    compression
        ``"gzip"`` (with byte shuffle), ``"lzf"`` or None.
    chunk_rows
        Spectra per HDF5 chunk; default about 128 kB per chunk (one paper-size spectrum).
    on_out_of_range
        ``"error"`` or ``"drop"`` (dropped spectra are counted in ``n_dropped``).
    overwrite
        Allow replacing an existing finished file at ``path`` when finishing.
    resume
        If ``<path>.partial`` exists, continue it (its wavelengths and parameter space
        must match). If false, an existing partial file is discarded.

    Examples
    --------
    >>> with GridWriter("grid.h5", wavelength) as writer:      # doctest: +SKIP
    ...     for flux, parameters in batches:
    ...         writer.append(flux, parameters)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        wavelength: object,
        space: ParameterSpace = PAPER_SPACE,
        provenance: Mapping | None = None,
        compression: str | None = "gzip",
        chunk_rows: int | None = None,
        on_out_of_range: OutOfRangePolicy = "error",
        overwrite: bool = False,
        resume: bool = True,
    ) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        self.wavelength = check_wavelength(wavelength, str(self.path))
        self.space = space
        self.on_out_of_range = on_out_of_range
        self.overwrite = overwrite
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists; pass overwrite=True to replace it")
        if compression not in ("gzip", "lzf", None):
            raise ValueError(f"compression must be 'gzip', 'lzf' or None, not {compression!r}")
        if self.partial_path.exists() and resume:
            self._file = open_hdf5(self.partial_path, "r+")
            self._check_resumable()
        else:
            self.partial_path.unlink(missing_ok=True)
            self._file = self._create(provenance or {}, compression, chunk_rows)

    # -- setup ---------------------------------------------------------------------------
    def _create(self, provenance: Mapping, compression: str | None, chunk_rows: int | None):
        n_pixels = self.wavelength.size
        rows = chunk_rows or max(1, CHUNK_BYTES // (4 * n_pixels))
        handle = h5py.File(self.partial_path, "w")
        handle.attrs["format"] = FORMAT
        handle.attrs["format_version"] = FORMAT_VERSION
        handle.attrs["parameter_space"] = self.space.to_json()
        handle.attrs["provenance"] = json.dumps(
            {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **provenance}
        )
        handle.attrs["n_committed"] = 0
        handle.attrs["n_dropped"] = 0
        wavelength = handle.create_dataset("wavelength", data=self.wavelength)
        wavelength.attrs["unit"] = "Angstrom"
        options = {"compression": compression, "shuffle": compression is not None}
        if compression == "gzip":
            options["compression_opts"] = 1
        flux = handle.create_dataset(
            "flux",
            shape=(0, n_pixels),
            maxshape=(None, n_pixels),
            dtype="float32",
            chunks=(rows, n_pixels),
            **options,
        )
        flux.attrs["normalization"] = "continuum"
        parameters = handle.create_dataset(
            "parameters",
            shape=(0, len(self.space)),
            maxshape=(None, len(self.space)),
            dtype="float64",
            chunks=(max(rows, 1024), len(self.space)),
        )
        parameters.attrs["names"] = list(self.space.names)
        parameters.attrs["units"] = list(self.space.units)
        _create_base_model(handle, 0)
        handle.flush()
        return handle

    def _check_resumable(self) -> None:
        handle, path = self._file, self.partial_path
        try:
            _check_layout(handle, path)
            stored_space = ParameterSpace.from_json(handle.attrs["parameter_space"])
            same_wavelength = np.array_equal(handle["wavelength"][:], self.wavelength)
        except Exception:
            handle.close()
            raise
        if not same_wavelength or stored_space != self.space:
            handle.close()
            what = "wavelength grid" if not same_wavelength else "parameter space"
            raise GridFileError(
                f"{path}: an unfinished build with a different {what}; delete it or "
                f"write to another file"
            )
        n = self.n_spectra
        if "base_model" not in handle:  # a build begun before base models were recorded
            _create_base_model(handle, n)
        for name in ("flux", "parameters", "base_model"):
            if handle[name].shape[0] != n:
                handle[name].resize(n, axis=0)

    # -- writing -------------------------------------------------------------------------
    @property
    def n_spectra(self) -> int:
        """Spectra committed so far (including those from a resumed build)."""
        return int(self._file.attrs["n_committed"])

    @property
    def n_dropped(self) -> int:
        """Spectra dropped so far for lying outside the parameter space."""
        return int(self._file.attrs["n_dropped"])

    @property
    def parameters(self) -> np.ndarray:
        """Parameters of the committed spectra, shape ``(n_spectra, n_parameters)``."""
        return self._file["parameters"][: self.n_spectra]

    def append(
        self,
        flux: object,
        parameters: object,
        source: str | None = None,
        base_model: object | None = None,
    ) -> CheckedBatch:
        """Check and commit a batch of spectra.

        The whole batch is checked before anything is written, so a bad spectrum never
        leaves a partial batch behind and never harms what is already stored.

        Parameters
        ----------
        flux
            Shape ``(n, n_pixels)`` or ``(n_pixels,)``, continuum-normalized.
        parameters
            ``(n, n_parameters)`` array or a mapping / table of named columns.
        source
            Where the batch came from, for error messages.
        base_model
            Base-model index of each spectrum, shape ``(n,)``; None records them as unknown
            (they are then inferred from the parameters when the grid is opened).

        Returns
        -------
        CheckedBatch
            What was written, and which rows were dropped.
        """
        if self._file is None:
            raise GridFileError(f"{self.path}: the writer is closed")
        start = self.n_spectra
        checked = check_batch(
            flux,
            parameters,
            self.space,
            self.wavelength.size,
            self.wavelength,
            self.on_out_of_range,
            source or str(self.path),
            first_row=0 if source else start,
        )
        k = len(checked.flux)
        n_given = k + len(checked.dropped_rows)
        if base_model is None:
            models = np.full(k, UNKNOWN, dtype=np.int64)
        else:
            kept = np.setdiff1d(np.arange(n_given), checked.dropped_rows)
            models = check_base_models(base_model, n_given, source or str(self.path))[kept]
        handle = self._file
        if k:
            for name, data in (
                ("flux", checked.flux),
                ("parameters", checked.parameters),
                ("base_model", models),
            ):
                handle[name].resize(start + k, axis=0)
                handle[name][start:] = data
            handle.flush()
        handle.attrs["n_committed"] = start + k
        handle.attrs["n_dropped"] = self.n_dropped + len(checked.dropped_rows)
        handle.flush()
        return checked

    def close(self) -> None:
        """Flush and close without finishing: the ``.partial`` file can be resumed later."""
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None

    def finish(self) -> Path:
        """Close the file and move it to its final name atomically.

        Returns
        -------
        pathlib.Path
            The final path.
        """
        if self._file is None:
            raise GridFileError(f"{self.path}: the writer is closed")
        provenance = json.loads(self._file.attrs["provenance"])
        provenance["n_dropped_out_of_range"] = self.n_dropped
        self._file.attrs["provenance"] = json.dumps(provenance)
        self.close()
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(f"{self.path} appeared while writing; kept {self.partial_path}")
        return commit(self.partial_path, self.path)

    def __enter__(self) -> GridWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.close()


def _create_base_model(handle: h5py.File, n: int) -> None:
    """The ``base_model`` dataset, ``n`` rows of "unknown" to start with."""
    dataset = handle.create_dataset(
        "base_model",
        data=np.full(n, UNKNOWN, dtype=np.int64),
        maxshape=(None,),
        chunks=(4096,),
    )
    dataset.attrs["meaning"] = "index of the base model (Teff, log g, [M/H], xi_t); -1: unknown"


def _stored_wavelength(wavelength: np.ndarray, path: Path) -> np.ndarray:
    """The wavelengths of a grid file, refused (naming the file) unless finite, positive and
    strictly increasing: a model trained on them would write spectra in a scrambled order."""
    try:
        return check_wavelength(wavelength, str(path))
    except GridInputError as exc:
        raise GridFileError(
            f"{exc}; the grid file is damaged or was not written by spectral-cvae"
        ) from exc


def open_hdf5(path: Path, mode: str) -> h5py.File:
    """Open an HDF5 file, turning a missing or unreadable file into a GridFileError."""
    if not path.exists():
        hint = ""
        partial = path.with_name(path.name + ".partial")
        if mode == "r" and partial.exists():
            hint = f" (an unfinished build is in {partial.name}; resume it to finish the file)"
        raise GridFileError(f"{path}: no such file{hint}")
    try:
        return h5py.File(path, mode, rdcc_nbytes=READ_CACHE_BYTES)
    except BlockingIOError as exc:
        raise GridFileError(
            f"{path}: is open for writing by another process (a build still running?); "
            f"wait for it to finish or stop it"
        ) from exc
    except OSError as exc:
        raise GridFileError(
            f"{path}: cannot be read as HDF5, the file is truncated or corrupt ({exc})"
        ) from exc


def _check_layout(handle: h5py.File, path: Path) -> None:
    if handle.attrs.get("format") != FORMAT:
        raise GridFileError(
            f"{path}: not a spectral-cvae grid file (format attribute "
            f"{handle.attrs.get('format')!r}); to import other layouts use the readers in "
            f"spectral_cvae.grid.readers or `spectral-cvae grid convert`"
        )
    version = int(handle.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise GridFileError(
            f"{path}: grid format version {version} is newer than this spectral-cvae "
            f"understands ({FORMAT_VERSION}); upgrade spectral-cvae"
        )
    for name in ("wavelength", "flux", "parameters"):
        if name not in handle:
            raise GridFileError(f"{path}: dataset '{name}' is missing")
    n_pixels = handle["wavelength"].shape[0]
    if handle["flux"].ndim != 2 or handle["flux"].shape[1] != n_pixels:
        raise GridFileError(
            f"{path}: flux of shape {handle['flux'].shape} does not match {n_pixels} wavelengths"
        )
    if handle["parameters"].shape[0] < int(handle.attrs.get("n_committed", 0)):
        raise GridFileError(f"{path}: parameters are shorter than the committed spectra")
