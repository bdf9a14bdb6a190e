"""The physics-aware generator: a CVAE of base spectra, broadened exactly.

Only Teff, log g, [M/H] and xi_t need a radiative-transfer run; v sin i and R are exact
convolutions of its result (Gebran & Bentley 2025, section 2). So the network here learns only
the *base spectrum*: a conditional VAE on the four base parameters, whose decoder writes the
unbroadened spectrum on a grid uniform in ln(lambda) (1.1 km/s, finer than 0.02 A everywhere)
through a sigmoid after a fixed PCA basis of the training base spectra (in logit space, so the
flux stays in (0, flux_scale) as the paper's sigmoid layer keeps it). The differentiable
:class:`~spectral_cvae.model.broadening_layers.Broadening` layer then applies rotation and the
instrument, exactly, and samples the paper's 19,000 pixels.

:attr:`PhysicsCVAE.decoder` takes ``[z, six normalized parameters]`` like the paper's decoder,
so :class:`~spectral_cvae.model.SpectrumGenerator`, the evaluation, the inverter and the fit use
it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import keras
import numpy as np
from keras import layers, ops

from ..errors import ConfigError
from ..parameters import BASE_NAMES, PAPER_SPACE, ParameterSpace
from .broadening_layers import BASE_VELOCITY_STEP, BASE_WINDOW, Broadening
from .config import CVAEConfig
from .cvae import PACKAGE, ClipLogVariance, Sampling, SpectrumModel, kl_divergence
from .distribution import per_replica

LOGIT_FLOOR = 1e-5
"""Flux / flux_scale is clipped to [floor, 1 - floor] before the logit of the PCA basis."""


@dataclass(frozen=True)
class PhysicsConfig(CVAEConfig):
    """Settings of the physics-aware CVAE: those of :class:`CVAEConfig`, plus the basis.

    Attributes
    ----------
    n_components
        PCA components of the base spectra (logit space) the decoder writes.
    velocity_step
        Step of the base grid uniform in ln(lambda), km/s.
    activation
        Activation of the hidden layers (the paper's is ReLU; a smooth one interpolates
        between base models more gently).
    basis_dtype
        Storage type of the basis components (``"float16"`` halves the file; the mean stays
        float32).
    """

    n_components: int = 128
    velocity_step: float = BASE_VELOCITY_STEP
    activation: str = "silu"
    basis_dtype: str = "float16"

    @classmethod
    def preset(cls, name: str = "physics", **overrides: object) -> PhysicsConfig:
        """A named configuration (``"physics"``), with any field overridden."""
        if name not in PHYSICS_PRESETS:
            raise KeyError(f"no preset {name!r}; choose from {', '.join(PHYSICS_PRESETS)}")
        return PHYSICS_PRESETS[name].replace(**overrides)

    @classmethod
    def from_dict(cls, data) -> PhysicsConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"not a PhysicsConfig description: unknown {unknown}")
        return cls(**dict(data))


PHYSICS_PRESETS: dict[str, PhysicsConfig] = {
    "physics": PhysicsConfig(
        encoder_units=(256, 128),
        decoder_units=(256, 256, 256),
        latent_dim=8,
        beta=1e-2,
        batch_size=64,
        epochs=3000,
        patience=200,
        lr_patience=50,
        learning_rate=1e-3,
    ),
}
"""Named configurations of the physics-aware CVAE."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpectralBasis(layers.Layer):
    """Flux from standardized PCA coefficients u: flux_scale * sigmoid(mean + (u * scale) @ V).

    The basis (``mean``, ``scale``, ``components``) is fixed, learned from the training base
    spectra by :func:`fit_basis` and stored with the model's weights.

    Parameters
    ----------
    n_components, n_pixels
        Shape of the basis.
    flux_scale
        The largest flux the sigmoid can reach.
    basis_dtype
        Storage type of ``components``.
    """

    def __init__(
        self,
        n_components: int,
        n_pixels: int,
        flux_scale: float = 1.1,
        basis_dtype: str = "float16",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.n_components, self.n_pixels = int(n_components), int(n_pixels)
        self.flux_scale, self.basis_dtype = float(flux_scale), str(basis_dtype)
        zeros = keras.initializers.Zeros()
        self.mean = self.add_weight(
            shape=(self.n_pixels,), initializer=zeros, trainable=False, name="mean"
        )
        self.scale = self.add_weight(
            shape=(self.n_components,), initializer="ones", trainable=False, name="scale"
        )
        self.components = self.add_weight(
            shape=(self.n_components, self.n_pixels),
            initializer=zeros,
            trainable=False,
            dtype=self.basis_dtype,
            name="components",
        )

    def set_basis(self, mean: np.ndarray, scale: np.ndarray, components: np.ndarray) -> None:
        """Load a basis from :func:`fit_basis`."""
        self.mean.assign(np.asarray(mean, dtype=np.float32))
        self.scale.assign(np.asarray(scale, dtype=np.float32))
        self.components.assign(np.asarray(components, dtype=self.basis_dtype))

    def call(self, coefficients):
        logit = self.mean + ops.matmul(
            coefficients * self.scale, ops.cast(self.components, "float32")
        )
        return self.flux_scale * ops.sigmoid(logit)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_components": self.n_components,
            "n_pixels": self.n_pixels,
            "flux_scale": self.flux_scale,
            "basis_dtype": self.basis_dtype,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitConditions(layers.Layer):
    """Six normalized parameters -> (four normalized base parameters, v sin i km/s, R).

    Parameters
    ----------
    space
        The six-parameter space (its ``to_dict()``); its min-max ranges undo the
        normalization of v sin i and R.
    """

    def __init__(self, space: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.space = dict(space)
        parsed = ParameterSpace.from_dict(self.space)
        self.base_columns = [parsed.names.index(name) for name in BASE_NAMES]
        self.vsini_column = parsed.names.index("vsini")
        self.resolution_column = parsed.names.index("resolution")
        self.vsini = parsed["vsini"]
        self.resolution = parsed["resolution"]

    @staticmethod
    def _physical(normalized, parameter):
        """Undo the min-max normalization (of the logarithm, for a log scale)."""
        if parameter.scale == "log":
            low, high = np.log(parameter.minimum), np.log(parameter.maximum)
            return ops.exp(low + (high - low) * normalized)
        return parameter.minimum + parameter.span * normalized

    def call(self, condition):
        base = ops.take(condition, self.base_columns, axis=1)
        vsini = self._physical(condition[:, self.vsini_column], self.vsini)
        resolution = self._physical(condition[:, self.resolution_column], self.resolution)
        return base, ops.maximum(vsini, 0.0), resolution

    def get_config(self) -> dict:
        return {**super().get_config(), "space": self.space}


def build_base_encoder(
    config: PhysicsConfig, n_conditions: int = 4, seed: int | None = None
) -> keras.Model:
    """q(z | base spectrum, c): [standardized PCA coefficients, condition] -> (mean, log var, z)."""
    coefficients = keras.Input(shape=(config.n_components,), name="coefficients")
    condition = keras.Input(shape=(n_conditions,), name="condition")
    x = layers.Concatenate(name="coefficients_and_condition")([coefficients, condition])
    for k, units in enumerate(config.encoder_units):
        x = layers.Dense(units, activation=config.activation, name=f"encoder_dense_{k}")(x)
    z_mean = layers.Dense(config.latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(config.latent_dim, name="z_log_var_raw")(x)
    z_log_var = ClipLogVariance(config.log_var_limit, name="z_log_var")(z_log_var)
    z = Sampling(seed=seed, name="z")([z_mean, z_log_var])
    return keras.Model([coefficients, condition], [z_mean, z_log_var, z], name="encoder")


def build_coefficient_decoder(config: PhysicsConfig, n_conditions: int = 4) -> keras.Model:
    """p(base spectrum | z, c) in the basis: [z, condition] -> standardized coefficients."""
    z = keras.Input(shape=(config.latent_dim,), name="z")
    condition = keras.Input(shape=(n_conditions,), name="condition")
    x = layers.Concatenate(name="z_and_condition")([z, condition])
    for k, units in enumerate(config.decoder_units):
        x = layers.Dense(units, activation=config.activation, name=f"decoder_dense_{k}")(x)
    coefficients = layers.Dense(config.n_components, name="coefficients")(x)
    return keras.Model([z, condition], coefficients, name="coefficient_decoder")


def build_base_decoder(
    config: PhysicsConfig, coefficient_decoder: keras.Model, n_pixels: int
) -> keras.Model:
    """[z, condition] -> base flux on the log grid: the coefficients through the basis."""
    z, condition = coefficient_decoder.inputs
    flux = SpectralBasis(
        config.n_components, n_pixels, config.flux_scale, config.basis_dtype, name="basis"
    )(coefficient_decoder([z, condition]))
    return keras.Model([z, condition], flux, name="base_decoder")


@keras.saving.register_keras_serializable(package=PACKAGE)
class PhysicsCVAE(SpectrumModel):
    """A CVAE of base spectra over (Teff, log g, [M/H], xi_t), broadened exactly to six.

    Parameters
    ----------
    config
        A :class:`PhysicsConfig` or its dictionary.
    n_pixels
        Length of the *output* spectrum (the wavelengths in ``metadata``).
    n_conditions
        Length of the six-parameter condition of :attr:`decoder` (6).
    seed
        Seed of the reparameterization noise.
    metadata
        ``wavelength`` (output, Angstrom), ``space`` (the six-parameter space) and
        ``provenance``; read by :class:`~spectral_cvae.model.SpectrumGenerator`.

    Attributes
    ----------
    encoder, coefficient_decoder
        The CVAE proper, on base spectra in the basis: trained with :meth:`fit` on
        ``((coefficients, base condition), coefficients)``.
    base_decoder
        ``[z, base condition] -> base flux``: the coefficient decoder through the basis.
    decoder
        ``[z, six normalized parameters] -> flux`` at the output wavelengths: the base
        decoder followed by :class:`~spectral_cvae.model.broadening_layers.Broadening`.
    """

    def __init__(
        self,
        config: PhysicsConfig | dict,
        n_pixels: int,
        n_conditions: int = 6,
        seed: int | None = None,
        metadata: dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = (
            config if isinstance(config, PhysicsConfig) else PhysicsConfig.from_dict(config)
        )
        self.n_pixels, self.n_conditions, self.seed = int(n_pixels), int(n_conditions), seed
        self.metadata = dict(metadata or {})
        space = self.metadata.get("space", PAPER_SPACE.to_dict())
        wavelength = np.asarray(self.metadata["wavelength"], dtype=np.float64)
        self.broadening = Broadening(
            BASE_WINDOW[0],
            BASE_WINDOW[1],
            self.config.velocity_step,
            wavelength_out=wavelength,
            max_vsini=ParameterSpace.from_dict(space)["vsini"].maximum,
            min_resolution=ParameterSpace.from_dict(space)["resolution"].minimum,
            name="broadening",
        )
        self.n_base_pixels = self.broadening.log_wavelength.size
        self.encoder = build_base_encoder(self.config, len(BASE_NAMES), seed)
        self.coefficient_decoder = build_coefficient_decoder(self.config, len(BASE_NAMES))
        self.base_decoder = build_base_decoder(
            self.config, self.coefficient_decoder, self.n_base_pixels
        )
        self.decoder = self._six_parameter_decoder(space)
        # XLA fuses the broadening's elementwise work: 2.5x less CPU per batched spectrum.
        self.decoder.compile(jit_compile=True)
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.generation_loss_tracker = keras.metrics.Mean(name="generation_loss")

    def _six_parameter_decoder(self, space: dict) -> keras.Model:
        z = keras.Input(shape=(self.config.latent_dim,), name="z")
        condition = keras.Input(shape=(self.n_conditions,), name="condition")
        base_condition, vsini, resolution = SplitConditions(space, name="split_conditions")(
            condition
        )
        base_flux = self.base_decoder([z, base_condition])
        flux = self.broadening(base_flux, vsini, resolution)
        return keras.Model([z, condition], flux, name="decoder")

    @property
    def basis(self) -> SpectralBasis:
        """The fixed PCA basis layer of the base decoder."""
        return self.base_decoder.get_layer("basis")

    def call(self, inputs, training: bool = False):
        """Return (coefficients, z_mean, z_log_var) for ``[coefficients, base condition]``."""
        coefficients, condition = inputs
        z_mean, z_log_var, z = self.encoder([coefficients, condition], training=training)
        return self.coefficient_decoder([z, condition], training=training), z_mean, z_log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Reconstruction + beta * KL for one batch, with both terms tracked by name.

        Reconstruction: the squared error of the base spectrum in logit(flux / flux_scale),
        averaged over pixels and spectra, computed in the orthonormal basis (where it is the
        squared coefficient error over the number of pixels): the cost of K numbers per
        spectrum instead of 53,853, so training to convergence fits a CPU. KL: summed over
        the latent dimensions, averaged over spectra.
        """
        reconstruction, z_mean, z_log_var = y_pred
        reconstruction_loss = self._logit_mse(y, reconstruction)
        kl_loss = kl_divergence(z_mean, z_log_var)
        n_spectra = ops.shape(y)[0]
        self.reconstruction_loss_tracker.update_state(reconstruction_loss, n_spectra)
        self.kl_loss_tracker.update_state(kl_loss, n_spectra)
        # What generation does: z = 0, no encoder. A CVAE's reconstruction borrows z from the
        # encoder, which has seen the spectrum; this is the error users get.
        z = ops.zeros((n_spectra, self.config.latent_dim))
        generated = self.coefficient_decoder([z, x[1]], training=training)
        self.generation_loss_tracker.update_state(self._logit_mse(y, generated), n_spectra)
        return per_replica(reconstruction_loss + self.config.beta * kl_loss)

    def _logit_mse(self, coefficients, predicted):
        """Squared logit error per pixel, from standardized coefficients."""
        scaled = (coefficients - predicted) * self.basis.scale
        return ops.sum(ops.mean(ops.square(scaled), axis=0)) / self.n_base_pixels

    def build_all(self) -> None:
        """Create every weight (and the optimizer's, if compiled) without data."""
        self([ops.zeros((1, self.config.n_components)), ops.zeros((1, len(BASE_NAMES)))])
        self.decoder([ops.zeros((1, self.config.latent_dim)), ops.zeros((1, self.n_conditions))])
        self.build_optimizer()


def to_logit(flux: np.ndarray, flux_scale: float) -> np.ndarray:
    """logit(flux / flux_scale), clipped so saturated cores stay finite."""
    x = np.clip(np.asarray(flux, dtype=np.float64) / flux_scale, LOGIT_FLOOR, 1 - LOGIT_FLOOR)
    return np.log(x / (1.0 - x))


@dataclass(frozen=True)
class Basis:
    """A PCA basis of base spectra in logit space.

    Attributes
    ----------
    mean
        Mean logit spectrum, shape ``(n_pixels,)``.
    components
        Orthonormal components, shape ``(n_components, n_pixels)``.
    scale
        Standard deviation of each coefficient over the training spectra: coefficients are
        divided by it, so the network predicts numbers of order one.
    explained
        Fraction of the logit variance kept.
    """

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray
    explained: float

    def coefficients(self, flux: np.ndarray, flux_scale: float) -> np.ndarray:
        """Standardized coefficients of spectra ``(n, n_pixels)``."""
        logit = to_logit(flux, flux_scale) - self.mean
        return ((logit @ self.components.T) / self.scale).astype(np.float32)


def fit_basis(flux: np.ndarray, n_components: int, flux_scale: float) -> Basis:
    """PCA of base spectra in logit space, through the Gram matrix (fewer spectra than pixels).

    Parameters
    ----------
    flux
        Training base spectra, shape ``(n, n_pixels)``, continuum-normalized.
    n_components
        Components to keep (at most ``n - 1``).
    flux_scale
        The sigmoid's largest flux.
    """
    if n_components >= len(flux):
        raise ConfigError(
            f"{n_components} components need more than {len(flux)} training base spectra"
        )
    logit = to_logit(flux, flux_scale)
    mean = logit.mean(axis=0)
    centred = logit - mean
    eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
    keep = np.argsort(eigenvalues)[::-1][:n_components]
    singular = np.sqrt(np.maximum(eigenvalues[keep], 1e-30))
    components = (vectors[:, keep].T @ centred) / singular[:, np.newaxis]
    coefficients = centred @ components.T
    scale = coefficients.std(axis=0)
    explained = float(eigenvalues[keep].sum() / max(eigenvalues.sum(), 1e-30))
    return Basis(
        mean.astype(np.float32),
        components.astype(np.float32),
        np.where(scale > 0, scale, 1.0).astype(np.float32),
        explained,
    )


__all__ = [
    "Basis",
    "PHYSICS_PRESETS",
    "PhysicsCVAE",
    "PhysicsConfig",
    "SpectralBasis",
    "SplitConditions",
    "build_base_decoder",
    "build_base_encoder",
    "build_coefficient_decoder",
    "fit_basis",
]
