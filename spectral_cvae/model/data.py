"""Training data as Keras ``PyDataset`` batches over a grid file: streamed, shuffled, seeded.

Each epoch reads the training spectra in a fresh random order, one batch at a time, so a
grid larger than memory trains (one spectrum per HDF5 chunk keeps random reads cheap). A
small grid is read once into memory instead. A *base* grid (Teff, log g, [M/H], xi_t only)
is broadened on the fly to random (v sin i, R) pairs, a new draw every epoch.

Batch ``i`` is a pure function of the seed and ``i``: the training stream is endless and
epoch ``k`` is its batches ``k * n_batches`` to ``(k + 1) * n_batches - 1``, so the order
does not depend on when Keras calls the dataset's hooks, a resumed run sees exactly the
batches it would have seen, and batches can be read ahead in a background thread while the
model trains. ``PyDataset`` feeds every Keras backend (TensorFlow, JAX, PyTorch).

In data-parallel training each worker reads only its :class:`~.distribution.Shard` of every
global batch, and global batches hold whole multiples of the devices' count.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np

from ..errors import ConfigError, InputError, SpectrumInputError
from ..grid.augment import draw_broadening, full_parameters
from ..grid.broadening import broaden
from ..grid.store import SpectralGrid
from ..parameters import BASE_NAMES, PAPER_SPACE, ParameterSpace
from .distribution import SINGLE_DEVICE, Shard

READ_AHEAD = 2
"""Batches prepared in a background thread ahead of the one the model is training on."""


def is_base_grid(grid: SpectralGrid) -> bool:
    """True if the grid holds unbroadened spectra over (Teff, log g, [M/H], xi_t) only."""
    return tuple(grid.names) == BASE_NAMES


def augmented_space(base: ParameterSpace, full: ParameterSpace = PAPER_SPACE) -> ParameterSpace:
    """The six-parameter space of spectra broadened from a base grid over ``base``.

    Base parameters keep the base grid's ranges; v sin i and R take ``full``'s.
    """
    return ParameterSpace([base[n] if n in base.names else full[n] for n in full.names])


class SpectrumBatches(keras.utils.PyDataset):
    """``((flux, condition), flux)`` batches over some rows of a grid.

    Parameters
    ----------
    grid
        The grid (file-backed or in memory).
    rows
        Row indices of the spectra to use.
    space
        Parameter space whose min-max scaling gives the condition vector.
    batch_size
        Spectra per batch.
    flux_scale
        The model's largest representable flux; flux outside ``[0, flux_scale)`` is refused.
    seed
        Seed of the per-epoch shuffle.
    shuffle
        True (training): an endless stream, shuffled anew each epoch; pass
        ``steps_per_epoch=n_batches`` to ``fit``. False (validation): one pass in row order.
    source
        Name of the grid in error messages.
    file_rows
        File rows of an in-memory copy's rows, for error messages.
    shard
        This worker's part of every batch in data-parallel training. Training batches are
        then all full (the rows left over by an epoch's shuffle wait for a later epoch) and
        the last validation batch is cut to a multiple of the devices (at most
        ``devices - 1`` validation spectra unused).

    Attributes
    ----------
    n_batches : int
        Batches per epoch.
    first_epoch : int
        The epoch that batch 0 belongs to (a resumed ``fit`` starts at a later epoch).
    error : InputError or None
        The last data error raised while making a batch (TensorFlow re-raises errors of a
        Python data source as an opaque ``OpError``; this keeps the clear one).
    """

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
        shard: Shard = SINGLE_DEVICE,
    ) -> None:
        super().__init__()  # one worker: reading ahead is done here, in order
        self.grid, self.rows, self.space = grid, np.asarray(rows, dtype=np.int64), space
        self.batch_size, self.flux_scale = int(batch_size), flux_scale
        self.seed, self.shuffle, self.source = seed, shuffle, source
        self.file_rows, self.shard = file_rows, shard
        self.multiple = shard.unit_multiple(self.spectra_per_unit)
        if shard.parallel and self.units_per_batch % self.multiple:
            raise ConfigError(
                f"batch_size {self.batch_size} cannot be split evenly over {shard.devices} "
                f"devices and {shard.count} workers: make it a multiple of "
                f"{self.multiple * self.spectra_per_unit}"
            )
        full_batches_only = shard.parallel and shuffle
        batches = len(self.rows) / self.units_per_batch
        self.n_batches = math.floor(batches) if full_batches_only else math.ceil(batches)
        if shard.parallel and not shuffle and len(self.rows) % self.units_per_batch:
            last = len(self.rows) % self.units_per_batch
            self.n_batches -= last < self.multiple  # cut to nothing: no last batch
        if shard.parallel and self.n_batches == 0:
            raise ConfigError(
                f"{source}: {len(self.rows)} spectra make no batch of {self.batch_size} "
                f"split over {shard.devices} devices"
            )
        self.first_epoch = 0
        self.error: InputError | None = None
        self._ahead: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(1, "spectrum-batches")

    @property
    def units_per_batch(self) -> int:
        """Rows of ``rows`` that make one (global) batch."""
        return self.batch_size

    @property
    def spectra_per_unit(self) -> int:
        """Spectra made from each row of ``rows``."""
        return 1

    @property
    def num_batches(self) -> int | None:
        return None if self.shuffle else self.n_batches

    def __len__(self) -> int:
        return self.n_batches

    def epoch_and_batch(self, index: int) -> tuple[int, int]:
        """The epoch and the batch within it of stream position ``index``."""
        if not self.shuffle and not 0 <= index < self.n_batches:
            raise IndexError(f"batch {index} of {self.n_batches}")
        return self.first_epoch + index // self.n_batches, index % self.n_batches

    def order(self, epoch: int) -> np.ndarray:
        """The rows in the order that ``epoch`` reads them."""
        if not self.shuffle:
            return self.rows
        return np.random.default_rng([self.seed, epoch]).permutation(self.rows)

    def __getitem__(self, index: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        self.epoch_and_batch(index)  # IndexError past the end of a validation pass
        try:
            if self._pool is None:  # closed: a late read-ahead of the backend's own
                flux, condition = self.batch(index)
            else:
                flux, condition = self._read_ahead(index).result()
        except InputError as exc:
            self.error = exc
            raise
        # The target is a copy, not the input array again: TensorFlow may wrap both in
        # tensors sharing that memory, each believed its only owner, and an op may then
        # write its result over the input in place (under MirroredStrategy the encoder's
        # 1 - flux overwrote a replica's target, and its validation loss came out ~1).
        return (flux, condition), flux.copy()

    def _read_ahead(self, index: int) -> Future:
        for ahead in range(index, index + READ_AHEAD + 1):
            if ahead not in self._ahead and (self.shuffle or ahead < self.n_batches):
                self._ahead[ahead] = self._pool.submit(self.batch, ahead)
        for stale in [k for k in self._ahead if k < index]:
            self._ahead.pop(stale).cancel()
        return self._ahead.pop(index)

    def global_batch(self, index: int) -> np.ndarray:
        """The rows of ``rows`` in the global batch at stream position ``index``.

        All workers' parts of it together; cut to a multiple of the devices.
        """
        epoch, k = self.epoch_and_batch(index)
        step = self.units_per_batch
        units = self.order(epoch)[k * step : (k + 1) * step]
        return units[: len(units) - len(units) % self.multiple]

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """This worker's (flux, normalized condition) of stream position ``index``, float32."""
        rows = self.global_batch(index)
        rows = rows[self.shard.part(len(rows))]
        flux, parameters = self.grid.read_flux(rows), self.grid.parameters[rows]
        return self.check(flux, rows), self.space.normalize(parameters).astype(np.float32)

    def check(self, flux: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Refuse flux the sigmoid cannot reach, naming the spectrum and the pixel."""
        bad = ~np.isfinite(flux) | (flux < 0) | (flux >= self.flux_scale)
        if bad.any():
            row, pixel = np.argwhere(bad)[0]
            shown = rows[row] if self.file_rows is None else self.file_rows[rows[row]]
            raise SpectrumInputError(
                f"{self.source}, spectrum {shown}: flux {flux[row, pixel]:g} at pixel "
                f"{pixel} lies outside [0, flux_scale = {self.flux_scale:g}); the model's "
                f"sigmoid cannot reach it (raise CVAEConfig.flux_scale or renormalize)"
            )
        return flux

    def close(self) -> None:
        """Stop reading ahead."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._ahead = None, {}


class BroadenedBatches(SpectrumBatches):
    """Batches broadened from base spectra: ``draws_per_model`` (v sin i, R) pairs each.

    ``rows`` are base models; each batch holds ``batch_size // draws_per_model`` of them.
    Training draws new pairs every epoch; validation (``shuffle=False``) draws the same
    pairs every epoch, so its loss compares across epochs.
    """

    def __init__(self, *args, wavelength: np.ndarray, draws_per_model: int, **kwargs) -> None:
        self.wavelength, self.draws = np.asarray(wavelength), int(draws_per_model)
        super().__init__(*args, **kwargs)

    @property
    def units_per_batch(self) -> int:
        return max(1, self.batch_size // self.draws)

    @property
    def spectra_per_unit(self) -> int:
        return self.draws

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, k = self.epoch_and_batch(index)
        models = self.global_batch(index)
        entropy = [self.seed, 2, epoch, k] if self.shuffle else [self.seed, 1, k]
        rng = np.random.default_rng(entropy)
        # Drawn for the whole global batch, so each worker gets the pairs of its models.
        vsini, resolution = draw_broadening(len(models) * self.draws, rng, self.space)
        part = self.shard.part(len(models))
        models = models[part]
        drawn = slice(part.start * self.draws, part.stop * self.draws)
        vsini, resolution = vsini[drawn], resolution[drawn]
        flux = np.concatenate(
            [
                broaden(
                    self.grid.wavelength,
                    self.grid.spectrum(m),
                    vsini[j * self.draws : (j + 1) * self.draws],
                    resolution[j * self.draws : (j + 1) * self.draws],
                    wavelength_out=self.wavelength,
                    source=self.source,
                )
                for j, m in enumerate(models)
            ]
        ).astype(np.float32)
        base = np.repeat(self.grid.parameters[models], self.draws, axis=0)
        parameters = full_parameters(base, vsini, resolution, self.space)
        rows = np.repeat(models, self.draws)
        return self.check(flux, rows), self.space.normalize(parameters).astype(np.float32)


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
    shard: Shard = SINGLE_DEVICE,
) -> SpectrumBatches:
    """Batches of ``((flux, condition), flux)`` over some rows of a grid, for ``fit``.

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
        Training (an endless stream shuffled every epoch) or validation (one pass in order).
    in_memory_bytes
        If the rows' flux fits in this many bytes it is read once into memory.
    wavelength
        Output wavelengths, Angstrom, for a base grid.
    draws_per_model
        (v sin i, R) pairs per base model per epoch, for a base grid.
    shard
        This worker's part of every batch (data-parallel training); default all of it.

    Returns
    -------
    SpectrumBatches
        A ``keras.utils.PyDataset``; see :class:`SpectrumBatches` for ``n_batches``,
        ``first_epoch`` and ``error``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    name = str(grid.path) if grid.path else "the grid"
    settings = (space, batch_size, flux_scale, seed, shuffle, name)
    if is_base_grid(grid):
        if wavelength is None:
            raise ConfigError("a base grid needs the output wavelengths to broaden onto")
        return BroadenedBatches(
            grid,
            rows,
            *settings,
            wavelength=wavelength,
            draws_per_model=draws_per_model,
            shard=shard,
        )
    file_rows = None
    if len(rows) * grid.n_pixels * 4 <= in_memory_bytes and grid.path is not None:
        grid, file_rows, rows = grid.subset(rows), rows, np.arange(len(rows))
    return SpectrumBatches(grid, rows, *settings, file_rows, shard=shard)
