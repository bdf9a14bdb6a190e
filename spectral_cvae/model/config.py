"""Hyper-parameters of the conditional VAE, with the paper's values and a small demo preset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from ..errors import ConfigError


@dataclass(frozen=True)
class CVAEConfig:
    """Architecture and training settings of a :class:`~spectral_cvae.model.cvae.CVAE`.

    Stored in every saved model, so a model always says how it was made.

    Attributes
    ----------
    encoder_units
        Widths of the encoder's ReLU Dense layers (paper: 4000, 2000, 1000).
    decoder_units
        Widths of the decoder's ReLU Dense layers (paper: 1000, 2000, 4000).
    latent_dim
        Dimension of z (paper: 100).
    beta
        Weight of the KL term: loss = reconstruction + beta * KL (paper: 1). The
        reconstruction term is the mean squared flux error *averaged over pixels*; the KL term
        is *summed over latent dimensions*. Keras's VAE example sums over pixels instead,
        which is ``beta = 1 / n_pixels`` here.
    log_var_limit
        The latent log-variance is clipped to ``[-log_var_limit, log_var_limit]`` so that
        ``exp(log_var)`` can neither overflow nor underflow during training.
    flux_scale
        The sigmoid output is multiplied by this, so generated flux lies in
        ``(0, flux_scale)``: the continuum (1) sits at sigmoid 0.91, inside the range a
        sigmoid reaches with finite weights, and slightly super-continuum flux stays
        representable. Training flux above it is refused.
    learning_rate
        Initial Adam learning rate.
    batch_size
        Spectra per training step (paper: 512).
    epochs
        Upper bound on epochs; early stopping usually ends training first.
    patience
        EarlyStopping patience in epochs on the validation reconstruction loss (paper: 50).
    lr_patience, lr_factor, min_learning_rate
        ReduceLROnPlateau: after ``lr_patience`` epochs without improvement of the
        validation reconstruction loss, multiply the learning rate by ``lr_factor``, never
        going below ``min_learning_rate``.
    validation, test
        Split sizes used when :func:`~spectral_cvae.model.train` is given no split: a
        fraction if below 1, else a number of spectra (paper: 10,000 test spectra).
    draws_per_model
        With a base grid (Teff, log g, [M/H], xi_t only), each base spectrum is broadened on
        the fly to this many random (v sin i, R) pairs per epoch.
    in_memory_mb
        Training spectra up to this size (MB of float32 flux) are read once into memory;
        larger grids are streamed from the HDF5 file batch by batch every epoch.
    """

    encoder_units: tuple[int, ...] = (4000, 2000, 1000)
    decoder_units: tuple[int, ...] = (1000, 2000, 4000)
    latent_dim: int = 100
    beta: float = 1.0
    log_var_limit: float = 10.0
    flux_scale: float = 1.1
    learning_rate: float = 1e-3
    batch_size: int = 512
    epochs: int = 2000
    patience: int = 50
    lr_patience: int = 15
    lr_factor: float = 0.5
    min_learning_rate: float = 1e-6
    validation: float = 0.1
    test: float = 0.1
    draws_per_model: int = 8
    in_memory_mb: float = 2048.0

    def __post_init__(self) -> None:
        for name in ("encoder_units", "decoder_units"):
            units = tuple(int(u) for u in getattr(self, name))
            if not units or min(units) < 1:
                raise ConfigError(f"CVAEConfig.{name} must be positive widths, got {units}")
            object.__setattr__(self, name, units)
        positive = ("latent_dim", "batch_size", "epochs", "flux_scale", "learning_rate")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"CVAEConfig.{name} must be positive, got {getattr(self, name)}")
        if self.beta < 0:
            raise ConfigError(f"CVAEConfig.beta must not be negative, got {self.beta}")
        if self.flux_scale <= 1.0:
            raise ConfigError(
                f"CVAEConfig.flux_scale must exceed 1 so the sigmoid can reach the continuum, "
                f"got {self.flux_scale}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: object) -> CVAEConfig:
        """A named configuration, with any field overridden.

        Parameters
        ----------
        name
            ``"paper"``: Gebran & Bentley (2025), sections 3.1-3.3 (about 172 M parameters
            at 19,000 pixels). ``"demo"``: the same design, small enough to train in a few
            minutes on a 2-core CPU.
        **overrides
            Field values replacing the preset's, e.g. ``epochs=5``.
        """
        if name not in PRESETS:
            raise KeyError(f"no preset {name!r}; choose from {', '.join(PRESETS)}")
        return PRESETS[name].replace(**overrides)

    def replace(self, **overrides: object) -> CVAEConfig:
        """A copy with some fields changed (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"CVAEConfig has no field(s) {unknown}; fields: {sorted(known)}")
        return replace(self, **overrides)

    def to_dict(self) -> dict:
        """JSON-ready dictionary of every field."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: Mapping) -> CVAEConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are refused."""
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"not a CVAEConfig description: {exc}") from exc

    def n_parameters(self, n_pixels: int, n_conditions: int = 6) -> int:
        """Number of trainable weights of the encoder plus decoder.

        Parameters
        ----------
        n_pixels
            Spectrum length.
        n_conditions
            Length of the condition vector (six stellar and instrumental parameters).
        """

        def dense(widths: list[int]) -> int:
            return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))

        encoder = dense([n_pixels + n_conditions, *self.encoder_units])
        encoder += 2 * (self.encoder_units[-1] + 1) * self.latent_dim
        decoder = dense([self.latent_dim + n_conditions, *self.decoder_units, n_pixels])
        return encoder + decoder


PRESETS: dict[str, CVAEConfig] = {
    "paper": CVAEConfig(),
    "demo": CVAEConfig(
        encoder_units=(512, 256, 128),
        decoder_units=(128, 256, 512),
        latent_dim=16,
        batch_size=32,
        epochs=150,
        patience=30,
        lr_patience=10,
    ),
}
"""Named configurations: ``paper`` (Gebran & Bentley 2025) and ``demo`` (2-core CPU)."""
