"""Training data as ``tf.data`` pipelines over a grid file: streamed, shuffled, seeded.

Each epoch reads the training spectra in a fresh random order, one batch at a time, so a
grid larger than memory trains (one spectrum per HDF5 chunk keeps random reads cheap). A
small grid is read once into memory instead. A *base* grid (Teff, log g, [M/H], xi_t only)
is broadened on the fly to random (v sin i, R) pairs, a new draw every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from ..errors import GridInputError
from ..grid.augment import BASE_NAMES, draw_broadening, full_parameters
from ..grid.broadening import broaden
from ..grid.store import SpectralGrid
from ..parameters import PAPER_SPACE, ParameterSpace


def is_base_grid(grid: SpectralGrid) -> bool:
    """True if the grid holds unbroadened spectra over (Teff, log g, [M/H], xi_t) only."""
    return tuple(grid.names) == BASE_NAMES


def augmented_space(base: ParameterSpace, full: ParameterSpace = PAPER_SPACE) -> ParameterSpace:
    """The six-parameter space of spectra broadened from a base grid over ``base``.

    Base parameters keep the base grid's ranges; v sin i and R take ``full``'s.
    """
    return ParameterSpace([base[n] if n in base.names else full[n] for n in full.names])


class _Batches:
    """Callable that yields one epoch of (flux, normalized condition) batches per call."""

    def __init__(
        self,
        grid: SpectralGrid,
        rows: np.ndarray,
        space: ParameterSpace,
        batch_size: int,
        flux_scale: float,
        seed: int,
        shuffle: bool,
        source: str,
        file_rows: np.ndarray | None = None,
    ) -> None:
        self.grid, self.rows, self.space = grid, np.asarray(rows, dtype=np.int64), space
        self.batch_size, self.flux_scale = batch_size, flux_scale
        self.seed, self.shuffle = seed, shuffle
        self.epoch = 0
        self.error: Exception | None = None
        self.source = source
        # Rows of an in-memory copy map back to the file's rows for error messages.
        self.file_rows = file_rows

    def order(self) -> np.ndarray:
        if not self.shuffle:
            return self.rows
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.rows)

    def __call__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self.order()
        self.epoch += 1
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            flux, parameters = self.read(rows)
            yield self.check(flux, rows), self.space.normalize(parameters).astype(np.float32)

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.grid.read_flux(rows), self.grid.parameters[rows]

    def check(self, flux: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # An error raised inside tf.data arrives as an opaque OpError; keep the clear one.
        bad = ~np.isfinite(flux) | (flux < 0) | (flux >= self.flux_scale)
        if bad.any():
            row, pixel = np.argwhere(bad)[0]
            shown = rows[row] if self.file_rows is None else self.file_rows[rows[row]]
            self.error = GridInputError(
                f"{self.source}, spectrum {shown}: flux {flux[row, pixel]:g} at pixel "
                f"{pixel} lies outside [0, flux_scale = {self.flux_scale:g}); the model's "
                f"sigmoid cannot reach it (raise CVAEConfig.flux_scale or renormalize)"
            )
            raise self.error
        return flux


class _AugmentedBatches(_Batches):
    """Batches broadened from base spectra: ``draws_per_model`` (v sin i, R) pairs each."""

    def __init__(self, *args, wavelength: np.ndarray, draws_per_model: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.wavelength, self.draws = wavelength, int(draws_per_model)

    def __call__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = self.order()
        # Validation (shuffle=False) draws the same pairs every epoch, so its loss compares.
        entropy = [self.seed, 2, self.epoch] if self.shuffle else [self.seed, 1]
        rng = np.random.default_rng(entropy)
        self.epoch += 1
        models_per_batch = max(1, self.batch_size // self.draws)
        for start in range(0, len(order), models_per_batch):
            models = order[start : start + models_per_batch]
            vsini, resolution = draw_broadening(len(models) * self.draws, rng, self.space)
            flux = np.concatenate(
                [
                    broaden(
                        self.grid.wavelength,
                        self.grid.spectrum(m),
                        vsini[k * self.draws : (k + 1) * self.draws],
                        resolution[k * self.draws : (k + 1) * self.draws],
                        wavelength_out=self.wavelength,
                        source=self.source,
                    )
                    for k, m in enumerate(models)
                ]
            ).astype(np.float32)
            base = np.repeat(self.grid.parameters[models], self.draws, axis=0)
            parameters = full_parameters(base, vsini, resolution, self.space)
            rows = np.repeat(models, self.draws)
            yield self.check(flux, rows), self.space.normalize(parameters).astype(np.float32)


def make_dataset(
    grid: SpectralGrid,
    rows: np.ndarray,
    space: ParameterSpace,
    batch_size: int,
    flux_scale: float,
    seed: int = 0,
    shuffle: bool = True,
    in_memory_bytes: float = 0,
    wavelength: np.ndarray | None = None,
    draws_per_model: int = 8,
) -> tuple[tf.data.Dataset, _Batches]:
    """A dataset of ``(flux, condition)`` batches over some rows of a grid.

    Parameters
    ----------
    grid
        The grid (file-backed or in memory). A base grid is broadened on the fly.
    rows
        Row indices of the spectra (or base models) to use.
    space
        Parameter space whose min-max scaling gives the condition vector.
    batch_size
        Spectra per batch.
    flux_scale
        The model's largest representable flux; flux outside ``[0, flux_scale)`` is refused.
    seed
        Seed of the per-epoch shuffle (and of the broadening draws); epoch k of a run
        always sees the same order, also after a resume.
    shuffle
        Shuffle every epoch (training) or keep the order (validation).
    in_memory_bytes
        If the rows' flux fits in this many bytes it is read once into memory.
    wavelength
        Output wavelengths, Angstrom, for a base grid.
    draws_per_model
        (v sin i, R) pairs per base model per epoch, for a base grid.

    Returns
    -------
    dataset, source
        The prefetched dataset, and the callable feeding it (its ``epoch`` attribute sets
        the epoch the next pass is drawn for; its ``error`` holds a data error raised inside
        the pipeline).
    """
    rows = np.asarray(rows, dtype=np.int64)
    name = str(grid.path) if grid.path else "the grid"
    if is_base_grid(grid):
        if wavelength is None:
            raise GridInputError("a base grid needs the output wavelengths to broaden onto")
        source = _AugmentedBatches(
            grid,
            rows,
            space,
            batch_size,
            flux_scale,
            seed,
            shuffle,
            name,
            wavelength=wavelength,
            draws_per_model=draws_per_model,
        )
        n_pixels = len(wavelength)
        n_batches = math.ceil(len(rows) / max(1, batch_size // int(draws_per_model)))
    else:
        file_rows = None
        if len(rows) * grid.n_pixels * 4 <= in_memory_bytes and grid.path is not None:
            grid, file_rows, rows = grid.subset(rows), rows, np.arange(len(rows))
        source = _Batches(grid, rows, space, batch_size, flux_scale, seed, shuffle, name, file_rows)
        n_pixels = grid.n_pixels
        n_batches = math.ceil(len(rows) / batch_size)
    dataset = tf.data.Dataset.from_generator(
        source,
        output_signature=(
            tf.TensorSpec((None, n_pixels), tf.float32),
            tf.TensorSpec((None, len(space)), tf.float32),
        ),
    )
    # A known length lets Keras's progress bar show the epoch's end from the first epoch.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches))
    return dataset.prefetch(2), source
