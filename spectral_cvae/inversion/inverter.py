"""The PCA inverter: stellar parameters from a spectrum (Gebran & Bentley 2025, section 4.1).

Spectra are reduced to their leading PCA coefficients (25 in the paper) and a dense ReLU
network maps the coefficients to the six parameters, min-max normalized as for the CVAE
(the paper's Table 2: 5000-2000-1000-64 hidden units, linear output). It is trained with
Keras; once trained, the network is a handful of matrix products, so :meth:`predict` runs in
NumPy and a saved inverter loads without TensorFlow.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import (
    ConfigError,
    ModelFileError,
    OutOfDomainWarning,
    SpectralCVAEError,
    SpectrumInputError,
)
from ..files import atomic_path
from ..grid.checks import check_normalized
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid
from ..grid.wavelength import check_wavelength, resample
from ..parameters import ParameterSpace
from ..seeding import keras_seeded
from .pca import PCABasis, fit_pca

FORMAT = "spectral-cvae pca-inverter"
FORMAT_VERSION = 1
PAPER_HIDDEN = (5000, 2000, 1000, 64)
"""Hidden layer widths of the paper's inverter (its Table 2)."""


class NotFittedError(SpectralCVAEError, ValueError):
    """An inverter used before :meth:`PCAInverter.fit` or :meth:`PCAInverter.load`."""


class PCAInverter:
    """Stellar parameters from spectra: PCA coefficients into a dense ReLU network.

    Parameters
    ----------
    n_components
        PCA coefficients per spectrum (paper: 25).
    hidden
        Widths of the hidden ReLU layers (paper: 5000, 2000, 1000, 64).
    learning_rate
        Initial Adam learning rate.
    batch_size
        Training batch size.
    epochs
        Largest number of epochs; early stopping usually ends training sooner.
    patience
        Epochs without improvement of the validation loss before stopping (the best
        weights are kept).
    lr_patience, lr_factor, min_learning_rate
        ReduceLROnPlateau: after ``lr_patience`` epochs without improvement the learning
        rate is multiplied by ``lr_factor``, down to ``min_learning_rate``.
    pca_iterations
        Subspace iterations of the streaming PCA (see :func:`~.pca.fit_pca`).
    seed
        Seed of the PCA start and of the network's initialization and shuffling.
    verbose
        Keras verbosity during training (0 silent, 2 one line per epoch).

    Attributes
    ----------
    pca_ : PCABasis
        Mean spectrum and components of the training spectra.
    coefficient_scale_ : numpy.ndarray
        Standard deviation of each training coefficient; the network sees coefficients
        divided by it.
    weights_ : list of (numpy.ndarray, numpy.ndarray)
        Kernel ``(n_in, n_out)`` and bias of each dense layer.
    wavelength_ : numpy.ndarray
        Wavelengths of the training spectra, Angstrom.
    space_ : ParameterSpace
        Parameters predicted, and the ranges used to normalize them.
    n_features_in_ : int
        Pixels per spectrum.
    history_ : dict
        Loss (and validation loss, learning rate) per epoch.

    Examples
    --------
    >>> inverter = PCAInverter(n_components=25).fit(grid, split)        # doctest: +SKIP
    >>> inverter.predict(grid.read_flux(split.test))                    # doctest: +SKIP
    >>> inverter.save("inverter.npz"); PCAInverter.load("inverter.npz")  # doctest: +SKIP
    """

    def __init__(
        self,
        n_components: int = 25,
        hidden: Sequence[int] = PAPER_HIDDEN,
        learning_rate: float = 1e-3,
        batch_size: int = 512,
        epochs: int = 1000,
        patience: int = 50,
        lr_patience: int = 15,
        lr_factor: float = 0.5,
        min_learning_rate: float = 1e-6,
        pca_iterations: int = 4,
        seed: int = 0,
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.min_learning_rate = min_learning_rate
        self.pca_iterations = pca_iterations
        self.seed = seed
        self.verbose = verbose

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's argument names: the hyper-parameters, and nothing else."""
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as given (the objects themselves, not copies).

        ``type(inverter)(**inverter.get_params())`` is an unfitted inverter with the same
        hyper-parameters: the contract of scikit-learn's ``clone``.

        Parameters
        ----------
        deep
            Accepted for scikit-learn compatibility; no hyper-parameter is itself an
            estimator, so deep and shallow parameters are the same.

        Returns
        -------
        dict
            Argument name to value, for every argument of the constructor.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: object) -> PCAInverter:
        """Set hyper-parameters by name, as the constructor would; learned state is kept.

        Returns
        -------
        PCAInverter
            ``self``.

        Raises
        ------
        ConfigError
            (a ValueError) naming an argument the constructor does not have, before any
            parameter is changed.
        """
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ConfigError(
                f"PCAInverter has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are {', '.join(names)}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"PCAInverter(n_components={self.n_components}, hidden={tuple(self.hidden)})"

    @property
    def is_fitted(self) -> bool:
        """Whether the inverter has learned (or loaded) its PCA basis and network."""
        return hasattr(self, "weights_")

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        grid: SpectralGrid,
        split: GridSplit | None = None,
        read_batch_size: int = 1024,
        progress: bool | None = False,
    ) -> PCAInverter:
        """Learn the PCA basis and the network from the grid's training spectra.

        Parameters
        ----------
        grid
            The synthetic spectra, read ``read_batch_size`` at a time (the PCA makes
            ``pca_iterations + 2`` passes over the training spectra).
        split
            Which spectra train the network and which monitor it (validation); by default
            ``grid.split()`` (80 / 10 / 10 %, seed 0). The test spectra are not touched.
        read_batch_size
            Spectra read per step.
        progress
            Show a progress bar of the epochs with their rate and the time left if all
            ``epochs`` run (early stopping usually ends sooner); None shows it only on a
            terminal.

        Returns
        -------
        PCAInverter
            ``self``, fitted.

        Notes
        -----
        The PCA start uses a local generator seeded with ``seed``. The network's weights and
        shuffles are seeded by :func:`keras.utils.set_random_seed`, the only call that seeds
        everything Keras draws from; the global generators of Python and NumPy are restored
        afterwards (see :func:`~spectral_cvae.seeding.keras_seeded`).
        """
        import keras

        split = grid.split() if split is None else split
        split.check_grid_size(grid.n_spectra)
        if len(split.train) < 2:
            raise ConfigError(f"the training split has {len(split.train)} spectra; need 2")

        def train_flux():
            return (flux for _, _, flux in grid.iter_batches(read_batch_size, split.train))

        pca = fit_pca(train_flux, self.n_components, self.pca_iterations, seed=self.seed)
        scale = np.sqrt(pca.explained_variance)
        # A component with no variance carries no information; keep its coefficient at 0.
        scale = np.where(scale > 0, scale, 1.0)

        def inputs_and_targets(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            coefficients = [
                pca.transform(flux) for _, _, flux in grid.iter_batches(read_batch_size, rows)
            ]
            x = np.concatenate(coefficients) / scale
            return x.astype(np.float32), grid.space.normalize(grid.parameters[rows]).astype(
                np.float32
            )

        x_train, y_train = inputs_and_targets(split.train)
        validation = inputs_and_targets(split.validation) if len(split.validation) else None
        monitor = "val_loss" if validation is not None else "loss"

        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=self.patience, restore_best_weights=True
            ),
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=self.lr_factor,
                patience=self.lr_patience,
                min_lr=self.min_learning_rate,
            ),
            _epoch_progress(
                self.epochs, monitor, disable=None if progress is None else not progress
            ),
        ]
        with keras_seeded(self.seed), warnings.catch_warnings():
            # Keras 3.15 converts the learning rate with np.array(copy=False) every epoch.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model = _network(self.n_components, self.hidden, len(grid.space))
            model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
            history = model.fit(
                x_train,
                y_train,
                batch_size=self.batch_size,
                epochs=self.epochs,
                validation_data=validation,
                callbacks=callbacks,
                shuffle=True,
                verbose=self.verbose,
            )
        self.pca_ = pca
        self.coefficient_scale_ = scale
        self.weights_ = [
            tuple(layer.get_weights())
            for layer in model.layers
            if isinstance(layer, keras.layers.Dense)
        ]
        self.wavelength_ = np.array(grid.wavelength, dtype=float)
        self.space_ = grid.space
        self.n_features_in_ = grid.n_pixels
        self.history_ = {k: [float(v) for v in values] for k, values in history.history.items()}
        return self

    # -- inference -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "this PCAInverter is not fitted yet; call fit(grid) or PCAInverter.load(path)"
            )

    def check_flux(
        self, flux: object, wavelength: object | None = None, source: str | None = None
    ) -> np.ndarray:
        """Spectra as a float64 ``(n, n_pixels)`` array on the inverter's wavelengths.

        Parameters
        ----------
        flux
            Continuum-normalized flux, shape ``(n_pixels,)`` or ``(n, n_pixels)``.
        wavelength
            Angstrom, the spectra's own wavelengths. If given and different from the
            training wavelengths, the spectra are resampled onto them (flux-conserving).
            If None, the spectra must already be on the training wavelengths.
        source
            Where the spectra came from, for error messages.

        Raises
        ------
        SpectrumInputError
            (a ValueError) giving expected and received shapes, when the spectra do not
            cover the training window, or when the flux is not finite or not
            continuum-normalized (see :func:`~spectral_cvae.grid.checks.check_normalized`).
        """
        self._check_fitted()
        prefix = f"{source}: " if source else ""
        array = np.asarray(flux, dtype=np.float64)
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if wavelength is not None:
            own = check_wavelength(wavelength, source)
            if array.ndim != 2 or array.shape[1] != own.size:
                raise SpectrumInputError(
                    f"{prefix}flux of shape {np.shape(flux)} does not match its {own.size} "
                    f"wavelengths; expected (n, {own.size})"
                )
            if own.size != self.n_features_in_ or not np.allclose(own, self.wavelength_):
                array = resample(own, array, self.wavelength_, source=source)
        if array.ndim != 2 or array.shape[1] != self.n_features_in_:
            raise SpectrumInputError(
                f"{prefix}expected spectra of shape (n, {self.n_features_in_}) on the "
                f"inverter's wavelengths ({self.wavelength_[0]:.2f}-{self.wavelength_[-1]:.2f} "
                f"A); received shape {np.shape(flux)}. Pass wavelength= to resample."
            )
        if not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0, 0])
            raise SpectrumInputError(f"{prefix}spectrum {row} has non-finite flux")
        return check_normalized(array, source)

    def transform(self, flux: object, wavelength: object | None = None) -> np.ndarray:
        """PCA coefficients of spectra, shape ``(n, n_components)``."""
        spectra = self.check_flux(flux, wavelength)
        return self.pca_.transform(spectra)

    def predict(
        self, flux: object, wavelength: object | None = None, source: str | None = None
    ) -> np.ndarray:
        """Stellar parameters of spectra.

        Parameters
        ----------
        flux, wavelength, source
            The spectra, their own wavelengths (Angstrom) when they are not the training
            ones, and where they came from: as in :meth:`check_flux`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, n_parameters)`` in physical units, in the order of ``space_``.

        Warns
        -----
        OutOfDomainWarning
            When some predictions lie outside the parameter space the inverter was trained
            on: they are extrapolations, not measurements (see :meth:`in_domain`).
        """
        spectra = self.check_flux(flux, wavelength, source)
        activation = self.pca_.transform(spectra) / self.coefficient_scale_
        for k, (kernel, bias) in enumerate(self.weights_):
            activation = activation @ kernel + bias
            if k < len(self.weights_) - 1:
                activation = np.maximum(activation, 0.0)
        predicted = self.space_.denormalize(activation)
        outside = ~self.in_domain(predicted)
        if outside.any():
            warnings.warn(
                f"{source + ': ' if source else ''}{int(outside.sum())} of {len(predicted)} "
                f"predictions lie outside the inverter's training domain {self.space_!r}, "
                f"first spectrum {int(np.argmax(outside))}",
                OutOfDomainWarning,
                stacklevel=2,
            )
        return predicted

    def in_domain(self, predicted: object) -> np.ndarray:
        """Which predicted points lie inside the training domain, shape ``(n,)`` of bool."""
        self._check_fitted()
        return self.space_.contains(predicted)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted inverter to one ``.npz`` file, atomically.

        The file holds the hyper-parameters, PCA basis, coefficient scales, network weights,
        wavelengths (Angstrom) and parameter space: everything :meth:`predict` needs.
        """
        self._check_fitted()
        arrays = {
            "format": np.array(FORMAT),
            "format_version": np.array(FORMAT_VERSION),
            "hyperparameters": np.array(json.dumps(self._params_for_json())),
            "space": np.array(self.space_.to_json()),
            "history": np.array(json.dumps(self.history_)),
            "wavelength": self.wavelength_,
            "pca_mean": self.pca_.mean,
            "pca_components": self.pca_.components,
            "pca_explained_variance": self.pca_.explained_variance,
            "pca_total_variance": np.array(self.pca_.total_variance),
            "coefficient_scale": self.coefficient_scale_,
            "n_layers": np.array(len(self.weights_)),
        }
        for k, (kernel, bias) in enumerate(self.weights_):
            arrays[f"kernel_{k}"], arrays[f"bias_{k}"] = kernel, bias
        with atomic_path(path) as temporary:
            # Through a buffer: np.savez would add ".npz" to a path without that suffix.
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            temporary.write_bytes(buffer.getvalue())
        return Path(path)

    def _params_for_json(self) -> dict:
        """The hyper-parameters as JSON holds them (``hidden`` a list of ints)."""
        return {**self.get_params(), "hidden": [int(width) for width in self.hidden]}

    @classmethod
    def load(cls, path: str | os.PathLike) -> PCAInverter:
        """Read an inverter written by :meth:`save`.

        Raises
        ------
        ModelFileError
            If the file is missing, not an inverter file, of a newer format, or damaged.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such inverter file")
        try:
            with np.load(path, allow_pickle=False) as archive:
                data = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{path}: not a readable inverter file ({exc})") from exc
        if str(data.get("format", "")) != FORMAT:
            raise ModelFileError(f"{path}: not a spectral-cvae PCA inverter file")
        if int(data["format_version"]) > FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: inverter format version {int(data['format_version'])} is newer than "
                f"this spectral-cvae understands ({FORMAT_VERSION}); upgrade spectral-cvae"
            )
        try:
            params = json.loads(str(data["hyperparameters"]))
            # JSON has no tuples: the widths come back as the tuple the constructor is given.
            inverter = cls(**{**params, "hidden": tuple(params["hidden"])})
            inverter.pca_ = PCABasis(
                mean=data["pca_mean"],
                components=data["pca_components"],
                explained_variance=data["pca_explained_variance"],
                total_variance=float(data["pca_total_variance"]),
            )
            inverter.coefficient_scale_ = data["coefficient_scale"]
            inverter.weights_ = [
                (data[f"kernel_{k}"], data[f"bias_{k}"]) for k in range(int(data["n_layers"]))
            ]
            inverter.wavelength_ = data["wavelength"]
            inverter.space_ = ParameterSpace.from_json(str(data["space"]))
            inverter.history_ = json.loads(str(data["history"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: inverter file is incomplete or damaged ({exc})") from exc
        inverter.n_features_in_ = inverter.wavelength_.size
        inverter._check_shapes(path)
        return inverter

    def _check_shapes(self, path: Path) -> None:
        """Refuse a file whose arrays do not fit together (edited or mixed from two files)."""
        n_pixels, (k, width) = self.wavelength_.size, np.shape(self.pca_.components)
        shapes = [np.shape(self.pca_.mean), (width,), np.shape(self.coefficient_scale_)]
        expected = [(n_pixels,), (n_pixels,), (k,)]
        names = ["pca_mean", "pca_components", "coefficient_scale"]
        previous = k
        for j, (kernel, bias) in enumerate(self.weights_):
            out = np.shape(kernel)[-1] if np.ndim(kernel) == 2 else -1
            shapes += [np.shape(kernel), np.shape(bias)]
            expected += [(previous, out), (out,)]
            names += [f"kernel_{j}", f"bias_{j}"]
            previous = out
        shapes.append((previous,))
        expected.append((len(self.space_),))
        names.append("network output")
        for name, shape, wanted in zip(names, shapes, expected):
            if tuple(shape) != tuple(wanted):
                raise ModelFileError(
                    f"{path}: inverter file is inconsistent: {name} has shape {tuple(shape)}, "
                    f"expected {tuple(wanted)} ({n_pixels} wavelengths, {k} components, "
                    f"{len(self.space_)} parameters)"
                )


def _epoch_progress(epochs: int, monitor: str, disable: bool | None):
    """A Keras callback: a tqdm bar of the epochs, their rate and the time left for all.

    The time left assumes every one of ``epochs`` runs; early stopping usually ends sooner.
    """
    import keras
    from tqdm.auto import tqdm

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.bar = tqdm(
                total=epochs, unit="epoch", desc="inverter, epochs (at most)", disable=disable
            )

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs and monitor in logs:
                self.bar.set_postfix({monitor: f"{float(logs[monitor]):.3g}"}, refresh=False)
            self.bar.update(1)

        def on_train_end(self, logs: dict | None = None) -> None:
            self.bar.close()

    return EpochProgress()


def _network(n_inputs: int, hidden: Sequence[int], n_outputs: int):
    """The inverter network: ReLU hidden layers and a linear output (paper's Table 2)."""
    import keras

    inputs = keras.Input(shape=(n_inputs,), name="pca_coefficients")
    x = inputs
    for k, width in enumerate(hidden):
        x = keras.layers.Dense(int(width), activation="relu", name=f"hidden_{k}")(x)
    outputs = keras.layers.Dense(n_outputs, name="parameters")(x)
    return keras.Model(inputs, outputs, name="pca_inverter")
