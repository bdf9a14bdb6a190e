"""The conditional VAE of Gebran & Bentley (2025), in the style of Keras's VAE example.

The encoder sees a spectrum together with its six normalized parameters and returns the
mean and log-variance of q(z | x, c); the decoder turns [z, c] back into a spectrum through
a sigmoid layer. Training minimizes MSE(x, x_hat) + beta * KL(q(z | x, c) || N(0, I)), and
both terms are reported as metrics, so callbacks can monitor ``val_reconstruction_loss``.
Generation needs only :attr:`CVAE.decoder`. Only ``keras`` and ``keras.ops`` are used, so the
model trains and generates on any Keras backend.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .config import CVAEConfig
from .distribution import per_replica

PACKAGE = "spectral_cvae"


def kl_divergence(z_mean, z_log_var):
    """KL(q(z | x, c) || N(0, I)) of a diagonal Gaussian, summed over z, averaged over spectra."""
    kl = -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
    return ops.mean(ops.sum(kl, axis=1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class Sampling(layers.Layer):
    """Draw z = mean + exp(log_var / 2) * epsilon, epsilon ~ N(0, I) (reparameterization)."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var = inputs
        epsilon = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * epsilon

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}

    # The draws' position is saved with the weights, so a resumed run goes on drawing the
    # z of an uninterrupted one (Keras does not save a SeedGenerator's state by itself).
    def save_own_variables(self, store) -> None:
        store["0"] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store) -> None:
        if "0" in store.keys():  # files saved before the state was kept have none
            self.seed_generator.state.assign(store["0"][...])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipLogVariance(layers.Layer):
    """Bound the latent log-variance to (-limit, limit), so exp(log_var) stays finite.

    A smooth clip, limit * tanh(log_var / limit): a hard clip has zero gradient outside the
    range and can leave a latent dimension stuck at the bound for the rest of training.
    """

    def __init__(self, limit: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, log_var):
        return self.limit * ops.tanh(log_var / self.limit)

    def get_config(self) -> dict:
        return {**super().get_config(), "limit": self.limit}


def build_encoder(
    config: CVAEConfig, n_pixels: int, n_conditions: int = 6, seed: int | None = None
) -> keras.Model:
    """q(z | x, c): [spectrum, condition] -> (z_mean, z_log_var, z)."""
    flux = keras.Input(shape=(n_pixels,), name="flux")
    condition = keras.Input(shape=(n_conditions,), name="condition")
    # Line depths 1 - F are near 0 over most pixels, so the first layer starts well scaled.
    depth = layers.Rescaling(-1.0, offset=1.0, name="line_depth")(flux)
    x = layers.Concatenate(name="depth_and_condition")([depth, condition])
    for k, units in enumerate(config.encoder_units):
        x = layers.Dense(units, activation="relu", name=f"encoder_dense_{k}")(x)
    z_mean = layers.Dense(config.latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(config.latent_dim, name="z_log_var_raw")(x)
    z_log_var = ClipLogVariance(config.log_var_limit, name="z_log_var")(z_log_var)
    z = Sampling(seed=seed, name="z")([z_mean, z_log_var])
    return keras.Model([flux, condition], [z_mean, z_log_var, z], name="encoder")


def build_decoder(config: CVAEConfig, n_pixels: int, n_conditions: int = 6) -> keras.Model:
    """p(x | z, c): [z, condition] -> flux in (0, flux_scale), continuum-normalized."""
    z = keras.Input(shape=(config.latent_dim,), name="z")
    condition = keras.Input(shape=(n_conditions,), name="condition")
    x = layers.Concatenate(name="z_and_condition")([z, condition])
    for k, units in enumerate(config.decoder_units):
        x = layers.Dense(units, activation="relu", name=f"decoder_dense_{k}")(x)
    # Start every pixel at the continuum: sigmoid(bias) * flux_scale = 1.
    continuum = math.log(1.0 / (config.flux_scale - 1.0))
    x = layers.Dense(
        n_pixels,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(continuum),
        name="sigmoid",
    )(x)
    flux = layers.Rescaling(config.flux_scale, name="flux")(x)
    return keras.Model([z, condition], flux, name="decoder")


class SpectrumModel(keras.Model):
    """What every spectral-cvae Keras model shares: its constructor record and its optimizer.

    Subclasses take ``(config, n_pixels, n_conditions, seed, metadata)`` and set those
    attributes; :meth:`get_config` records them, so saving and loading need nothing more.
    """

    def build_optimizer(self) -> None:
        """Create the optimizer's variables, if the model is compiled, without data."""
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.trainable_variables)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "config": self.config.to_dict(),
            "n_pixels": self.n_pixels,
            "n_conditions": self.n_conditions,
            "seed": self.seed,
            "metadata": self.metadata,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class CVAE(SpectrumModel):
    """Conditional VAE over spectra of ``n_pixels`` conditioned on ``n_conditions`` values.

    Parameters
    ----------
    config
        Architecture and training settings (a :class:`CVAEConfig` or its dictionary).
    n_pixels
        Spectrum length.
    n_conditions
        Length of the condition vector (the parameters, min-max normalized to [0, 1]).
    seed
        Seed of the reparameterization noise.
    metadata
        JSON-ready description saved with the model: wavelengths, parameter space,
        provenance. Read by :class:`~spectral_cvae.model.SpectrumGenerator`.

    Notes
    -----
    Data are ``((flux, condition), flux)``: the inputs are the spectrum and its condition,
    the target is the spectrum. The loss is computed in :meth:`compute_loss`, so Keras's own
    training step runs it on any backend (TensorFlow, JAX, PyTorch).
    """

    def __init__(
        self,
        config: CVAEConfig | dict,
        n_pixels: int,
        n_conditions: int = 6,
        seed: int | None = None,
        metadata: dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config if isinstance(config, CVAEConfig) else CVAEConfig.from_dict(config)
        self.n_pixels, self.n_conditions, self.seed = int(n_pixels), int(n_conditions), seed
        self.metadata = dict(metadata or {})
        self.encoder = build_encoder(self.config, self.n_pixels, self.n_conditions, seed)
        self.decoder = build_decoder(self.config, self.n_pixels, self.n_conditions)
        # Keras reports the total as "loss"; these two trackers report its terms by name.
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    def call(self, inputs, training: bool = False):
        """Return (reconstructed flux, z_mean, z_log_var) for ``[flux, condition]``."""
        flux, condition = inputs
        z_mean, z_log_var, z = self.encoder([flux, condition], training=training)
        return self.decoder([z, condition], training=training), z_mean, z_log_var

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Reconstruction + beta * KL for one batch, with both terms tracked by name.

        Reconstruction: squared flux error averaged over pixels and spectra (flux units^2),
        so it reads directly as the square of an rms flux error. KL: summed over the latent
        dimensions, averaged over spectra. Each term enters its epoch mean weighted by the
        batch's number of spectra, as Keras weights the total.
        """
        reconstruction, z_mean, z_log_var = y_pred
        reconstruction_loss = ops.mean(ops.square(y - reconstruction))
        kl_loss = kl_divergence(z_mean, z_log_var)
        n_spectra = ops.shape(y)[0]
        self.reconstruction_loss_tracker.update_state(reconstruction_loss, n_spectra)
        self.kl_loss_tracker.update_state(kl_loss, n_spectra)
        return per_replica(reconstruction_loss + self.config.beta * kl_loss)

    def build_all(self) -> None:
        """Create every weight (and the optimizer's, if compiled) without data."""
        flux = ops.zeros((1, self.n_pixels))
        condition = ops.zeros((1, self.n_conditions))
        self([flux, condition])
        self.build_optimizer()
