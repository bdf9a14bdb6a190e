"""Training a CVAE on a grid: Adam, learning-rate schedule, early stopping, resumable.

Both callbacks of the paper monitor the *validation reconstruction loss*: ReduceLROnPlateau
(the paper's "dynamical learning rate") and EarlyStopping (paper: patience 50), with the
best epoch's weights kept. After every epoch a checkpoint (weights with the optimizer state,
the callbacks' counters and the history) is written atomically, so an interrupted run
started again with the same arguments continues from the last finished epoch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Literal

import keras
import numpy as np

from ..errors import ConfigError, ModelFileError
from ..files import atomic_path, exclusive
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid
from ..grid.wavelength import paper_wavelength
from ..parameters import ParameterSpace
from ..provenance import describe_training
from ..seeding import keras_seeded
from .config import CVAEConfig
from .cvae import CVAE
from .data import SpectrumBatches, augmented_space, is_base_grid, make_dataset
from .distribution import Shard, data_parallel, worker_input
from .generator import SpectrumGenerator

STATE_FILE = "state.json"


class TrainingCheckpoint(keras.callbacks.Callback):
    """Save everything needed to resume after each epoch; keep the best weights.

    Parameters
    ----------
    directory
        Folder of the checkpoint: ``state.json``, ``epoch-NNNNN.weights.h5`` (weights and
        optimizer state) and ``best.npz`` (the best epoch's weights). None: write nothing,
        keep the best weights in memory only.
    monitor
        Quantity whose minimum defines the best epoch.
    identity
        JSON-ready description of the run (config, grid, split); a checkpoint made by a
        different run is refused instead of resumed.
    stateful
        Callbacks whose counters (``wait``, ``best``, ...) are saved and restored.
    history_path
        If given, the history is also written there as JSON with each checkpoint.
    every
        Write the checkpoint every this many epochs (and when training ends); an
        interruption loses at most this many epochs. None: never write.
    """

    COUNTERS = ("wait", "best", "best_epoch", "cooldown_counter", "stopped_epoch")

    def __init__(
        self,
        directory: Path | None,
        monitor: str,
        identity: dict,
        stateful: list[keras.callbacks.Callback],
        history_path: Path | None = None,
        every: int | None = 1,
    ) -> None:
        super().__init__()
        self.directory, self.monitor, self.identity = directory, monitor, identity
        self.stateful, self.history_path = stateful, history_path
        self.history: list[dict] = []
        self.best, self.best_epoch = math.inf, None
        self.every = None if every is None or directory is None else max(1, int(every))
        self._saved_epoch = 0
        self._best_weights: list[np.ndarray] | None = None
        self._restored_counters: list[dict] | None = None

    # -- resuming --------------------------------------------------------------------------
    def resume(self, model: CVAE) -> int:
        """Load a checkpoint into ``model`` if one exists; return the epoch to start at."""
        if self.directory is None:
            return 0
        state_path = self.directory / STATE_FILE
        if not state_path.exists():
            return 0
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{state_path}: unreadable training checkpoint ({exc})") from exc
        if state.get("identity") != json.loads(json.dumps(self.identity)):
            raise ModelFileError(
                f"{self.directory}: a checkpoint of a different run (other grid, split or "
                f"config); delete it to start afresh, or pass --restart (resume=False)"
            )
        model.build_all()
        model.load_weights(self.directory / state["weights"])
        model.optimizer.learning_rate.assign(state["learning_rate"])
        self.history = state["history"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self._restored_counters = state["counters"]
        self._saved_epoch = int(state["epoch"]) + 1
        return self._saved_epoch

    def on_train_begin(self, logs=None) -> None:
        # Runs after the other callbacks' on_train_begin, which reset their counters.
        if self._restored_counters is not None:
            for callback, counters in zip(self.stateful, self._restored_counters):
                for name, value in counters.items():
                    setattr(callback, name, value)

    # -- saving ----------------------------------------------------------------------------
    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.history.append({"epoch": epoch, **logs, "learning_rate": learning_rate})
        value = logs.get(self.monitor, math.inf)
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self._best_weights = self.model.get_weights()
        if self.every is None:
            return
        if epoch + 1 - self._saved_epoch >= self.every or self.model.stop_training:
            self.save(epoch, learning_rate)

    def on_train_end(self, logs=None) -> None:
        if (
            self.every is not None
            and self.history
            and self._saved_epoch <= self.history[-1]["epoch"]
        ):
            self.save(self.history[-1]["epoch"], self.history[-1]["learning_rate"])

    def save(self, epoch: int, learning_rate: float) -> None:
        """Write the checkpoint of the end of ``epoch``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._best_weights is not None:
            with atomic_path(self.directory / "best.npz", suffix=".tmp.npz") as temporary:
                np.savez(temporary, *self._best_weights)
        # Each epoch's weights get their own name and state.json is replaced last, so a
        # crash at any moment leaves a consistent (weights, state) pair.
        weights = f"epoch-{epoch:05d}.weights.h5"
        with atomic_path(self.directory / weights, suffix=".tmp.weights.h5") as temporary:
            self.model.save_weights(temporary)
        state = {
            "identity": self.identity,
            "epoch": epoch,
            "weights": weights,
            "learning_rate": learning_rate,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "counters": [
                {n: _plain(getattr(c, n)) for n in self.COUNTERS if hasattr(c, n)}
                for c in self.stateful
            ],
        }
        with atomic_path(self.directory / STATE_FILE) as temporary:
            temporary.write_text(json.dumps(state))
        for old in self.directory.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()
        if self.history_path is not None:
            with atomic_path(self.history_path) as temporary:
                temporary.write_text(json.dumps(self.history, indent=1))
        self._saved_epoch = epoch + 1

    def best_weights(self) -> list[np.ndarray] | None:
        """The best epoch's weights, if any epoch finished."""
        if self._best_weights is not None or self.directory is None:
            return self._best_weights
        path = self.directory / "best.npz"
        if not path.exists():
            return None
        with np.load(path) as data:
            return [data[f"arr_{k}"] for k in range(len(data.files))]


class TimeLimit(keras.callbacks.Callback):
    """Stop training at the end of the first epoch that ends after ``seconds`` of training.

    The best epoch's weights are still the ones kept, so a time-boxed run (a demo, a
    tutorial on a small machine) ends with a usable model.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = float(seconds)
        self.start = time.monotonic()

    def on_train_begin(self, logs=None) -> None:
        self.start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True


def _plain(value: object) -> object:
    value = keras.ops.convert_to_numpy(value) if hasattr(value, "shape") else value
    return float(value) if isinstance(value, (np.floating, np.ndarray)) else value


def _open(grid: SpectralGrid | str | os.PathLike) -> tuple[SpectralGrid, bool]:
    if isinstance(grid, SpectralGrid):
        return grid, False
    return SpectralGrid.open(grid), True


def _split(grid: SpectralGrid, split: object, config: CVAEConfig, seed: int) -> GridSplit:
    if split is None:
        return grid.split(test=config.test, validation=config.validation, seed=seed)
    if isinstance(split, GridSplit):
        split.check_grid_size(grid.n_spectra)
        return split
    return GridSplit.load(split, n_spectra=grid.n_spectra)


def paper_callbacks(
    config: CVAEConfig, monitor: str
) -> tuple[keras.callbacks.ReduceLROnPlateau, keras.callbacks.EarlyStopping]:
    """The paper's "dynamical learning rate" and early stopping, both watching ``monitor``."""
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor=monitor,
        factor=config.lr_factor,
        patience=config.lr_patience,
        min_lr=config.min_learning_rate,
        mode="min",
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor, patience=config.patience, mode="min"
    )
    return reduce_lr, early_stopping


def checkpoint_path(
    out: Path | None, checkpoint_dir: str | os.PathLike | None, resume: bool, worker: int = 0
) -> Path | None:
    """The run's checkpoint folder (default ``<out>.checkpoint``), emptied unless resuming.

    Worker ``k > 0`` of a multi-process run keeps its own, ``<checkpoint>.worker-k``.
    """
    if checkpoint_dir is None and out is not None:
        checkpoint_dir = out.with_name(out.name + ".checkpoint")
    if checkpoint_dir is not None and worker:
        checkpoint_dir = Path(f"{checkpoint_dir}.worker-{worker}")
    if checkpoint_dir is not None and not resume:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return None if checkpoint_dir is None else Path(checkpoint_dir)


def start_checkpoint(
    model: keras.Model,
    config: CVAEConfig,
    provenance: dict,
    seed: int,
    monitor: str,
    out: Path | None,
    checkpoint_dir: Path | None,
    every: int | None,
) -> tuple[TrainingCheckpoint, int, list[keras.callbacks.Callback]]:
    """The paper's callbacks and a resumable checkpoint of this run (config, grid, split, seed).

    Returns
    -------
    checkpoint, initial_epoch, callbacks
        The checkpoint (resumed into ``model`` if one of this run exists), the epoch to start
        at, and ``[ReduceLROnPlateau, EarlyStopping, checkpoint]`` for ``fit``.
    """
    reduce_lr, early_stopping = paper_callbacks(config, monitor)
    identity = {
        "config": config.to_dict(),
        "grid": provenance["grid"],
        "split": provenance["split"],
        "seed": seed,
    }
    checkpoint = TrainingCheckpoint(
        checkpoint_dir,
        monitor,
        identity,
        [reduce_lr, early_stopping],
        out.with_name(out.stem + ".history.json") if out is not None else None,
        every=every,
    )
    initial_epoch = checkpoint.resume(model)
    return checkpoint, initial_epoch, [reduce_lr, early_stopping, checkpoint]


def finish(
    model: keras.Model,
    checkpoint: TrainingCheckpoint,
    metadata: dict,
    provenance: dict,
    out: Path | None,
    checkpoint_dir: str | os.PathLike | None,
) -> SpectrumGenerator:
    """Keep the best epoch's weights, record the history, save the model, drop the checkpoint."""
    best = checkpoint.best_weights()
    if best is not None:
        model.set_weights(best)
    provenance.update(
        {
            "epochs_trained": len(checkpoint.history),
            "best_epoch": checkpoint.best_epoch,
            "monitor": checkpoint.monitor,
            "history": checkpoint.history,
        }
    )
    model.metadata = {**metadata, "provenance": provenance}
    generator = SpectrumGenerator(model)
    if out is not None:
        generator.save(out, overwrite=True)
        if checkpoint_dir is not None:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return generator


def train(
    grid: SpectralGrid | str | os.PathLike,
    config: CVAEConfig | None = None,
    split: GridSplit | str | os.PathLike | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    checkpoint_every: int = 1,
    wavelength: np.ndarray | None = None,
    callbacks: list[keras.callbacks.Callback] | tuple = (),
    verbose: int | str = "auto",
    overwrite: bool = True,
    devices: Literal["auto"] | list[str] | None = "auto",
) -> SpectrumGenerator:
    """Train a conditional VAE on a grid of spectra.

    Parameters
    ----------
    grid
        A :class:`SpectralGrid` or the path of a grid file. A *base* grid (parameters
        teff, logg, mh, vmic only) is broadened on the fly to ``config.draws_per_model``
        random (v sin i, R) pairs per model and epoch.
    config
        Hyper-parameters; default ``CVAEConfig.preset("paper")``.
    split
        Train / validation / test rows (a :class:`GridSplit` or its JSON file); default a
        split drawn with ``config.test``, ``config.validation`` and ``seed``. Test rows are
        never read. For a base grid the split is over base models.
    seed
        Seeds weights, shuffling, z draws and (for a default split) the split.
    out
        If given, the trained model is saved there (``.keras``), with its history beside it
        (``<name>.history.csv`` and ``.history.json``).
    checkpoint_dir
        Folder for the per-epoch checkpoint; default ``<out>.checkpoint`` when ``out`` is
        given (deleted once the model is saved). Without either, nothing is written: the
        best weights are kept in memory and an interrupted run cannot be resumed.
    resume
        Continue from a checkpoint found in ``checkpoint_dir`` (the default), or discard it.
    checkpoint_every
        Epochs between checkpoints: an interruption loses at most this many epochs. Raise
        it when epochs take less time than writing the weights and optimizer state.
    wavelength
        Output wavelengths, Angstrom, for a base grid (default the paper's 4450-5400 A).
    callbacks
        Extra Keras callbacks, called after the built-in ones.
    verbose
        Keras verbosity: ``"auto"`` (a progress bar), 0 (silent), 1 or 2.
    overwrite
        Replace an existing ``out``; if False an existing file is refused before training.
    devices
        Data-parallel training: ``"auto"`` splits every batch over all the devices Keras
        lists (JAX backend, :class:`keras.distribution.DataParallel`; with TensorFlow an
        active ``tf.distribute`` strategy is used), a list of devices (``["gpu:0",
        "gpu:1"]``), or None for one device. Each worker reads only its part of each batch;
        ``config.batch_size`` is the global batch and must divide evenly over the devices.
        With several worker processes (``keras.distribution.initialize``) worker 0 writes
        ``out``; worker k keeps its own checkpoint in ``<checkpoint>.worker-k``.

    Returns
    -------
    SpectrumGenerator
        The trained model with the best epoch's weights; its ``provenance`` holds the
        history, the grid fingerprint and the package versions.
    """
    config = config or CVAEConfig.preset("paper")
    out = _check_output(out, overwrite)
    grid, opened = _open(grid)
    distribution, shard = data_parallel(devices)
    # Several workers train one network: worker 0 writes the model; the others save in step
    # with it (saving is collective), their checkpoints beside and their models discarded.
    writer = shard.index == 0
    # One run per output: a second would take over the first's live checkpoint.
    lock = exclusive(out, "training run") if out and writer else contextlib.nullcontext()
    discarded = contextlib.nullcontext(None) if writer else tempfile.TemporaryDirectory()
    # keras_seeded: Keras's weights and shuffles are seeded; the caller's generators are not.
    with (
        lock,
        discarded as scratch,
        contextlib.closing(grid) if opened else contextlib.nullcontext(),
        keras_seeded(seed),
        distribution.scope() if distribution is not None else contextlib.nullcontext(),
    ):
        split = _split(grid, split, config, seed)
        space, wavelength = _output_space(grid, wavelength)
        checkpoint_dir = checkpoint_path(out, checkpoint_dir, resume, shard.index)
        if scratch is not None and out is not None:
            out = Path(scratch) / out.name

        provenance = describe_training(grid, split, seed)
        model = _build_model(config, wavelength, space, seed)
        train_data, validation_data = _datasets(grid, split, config, space, wavelength, seed, shard)
        monitor = "reconstruction_loss" if validation_data is None else "val_reconstruction_loss"
        checkpoint, initial_epoch, built_in = start_checkpoint(
            model,
            config,
            provenance,
            seed,
            monitor,
            out,
            checkpoint_dir,
            checkpoint_every,
        )
        if out is not None:
            history_csv = out.with_name(out.stem + ".history.csv")
            built_in.append(keras.callbacks.CSVLogger(str(history_csv), append=initial_epoch > 0))
        train_data.first_epoch = initial_epoch
        _fit(model, train_data, validation_data, initial_epoch, [*built_in, *callbacks], verbose)
        return finish(model, checkpoint, model.metadata, provenance, out, checkpoint_dir)


def _check_output(out: str | os.PathLike | None, overwrite: bool) -> Path | None:
    """Refuse a model file name that cannot be written, before any training."""
    if out is None:
        return None
    out = Path(out)
    if out.suffix != ".keras":
        raise ConfigError(f"{out}: a model file name must end in .keras")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: the folder {out.parent} does not exist")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    return out


def _output_space(
    grid: SpectralGrid, wavelength: np.ndarray | None
) -> tuple[ParameterSpace, np.ndarray]:
    """The parameters and wavelengths (Angstrom) the model generates: the grid's own, or for
    a base grid its space with v sin i and R and ``wavelength`` (default the paper's)."""
    if not is_base_grid(grid):
        return grid.space, grid.wavelength
    wavelength = paper_wavelength() if wavelength is None else np.asarray(wavelength)
    return augmented_space(grid.space), wavelength


def _build_model(
    config: CVAEConfig, wavelength: np.ndarray, space: ParameterSpace, seed: int
) -> CVAE:
    """A compiled, built CVAE generating ``wavelength`` (Angstrom) from ``space``, which its
    metadata records."""
    metadata = {"wavelength": wavelength.tolist(), "space": space.to_dict()}
    model = CVAE(config, len(wavelength), len(space), seed=seed, metadata=metadata)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    model.build_all()
    return model


def _datasets(
    grid: SpectralGrid,
    split: GridSplit,
    config: CVAEConfig,
    space: ParameterSpace,
    wavelength: np.ndarray,
    seed: int,
    shard: Shard,
) -> tuple[SpectrumBatches, SpectrumBatches | None]:
    """This worker's training stream and validation pass (None without validation rows)."""
    common = {
        "space": space,
        "batch_size": config.batch_size,
        "flux_scale": config.flux_scale,
        "seed": seed,
        "in_memory_bytes": config.in_memory_mb * 2**20,
        "wavelength": wavelength,
        "draws_per_model": config.draws_per_model,
        "shard": shard,
    }
    train_data = make_dataset(grid, split.train, shuffle=True, **common)
    if not len(split.validation):
        return train_data, None
    return train_data, make_dataset(grid, split.validation, shuffle=False, **common)


def _fit(
    model: CVAE,
    train_data: SpectrumBatches,
    validation_data: SpectrumBatches | None,
    initial_epoch: int,
    callbacks: list[keras.callbacks.Callback],
    verbose: int | str,
) -> None:
    """Run Keras's fit from ``initial_epoch``; a data error raised while reading a batch is
    raised as itself, not as the backend's opaque error, and the readers are closed."""
    if initial_epoch >= model.config.epochs:
        return
    sources = [source for source in (train_data, validation_data) if source is not None]
    try:
        model.fit(
            worker_input(train_data),
            steps_per_epoch=train_data.n_batches,  # an endless stream, seeded per epoch
            shuffle=False,
            validation_data=worker_input(validation_data),
            epochs=model.config.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    except Exception as exc:
        for source in sources:
            if source.error is not None:
                raise source.error from exc
        raise
    finally:
        for source in sources:
            source.close()
