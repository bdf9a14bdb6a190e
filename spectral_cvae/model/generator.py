"""Spectra at any stellar parameters from a trained CVAE's decoder.

As in the paper (section 3.3): the wanted parameters are normalized with the training
normalization, z is drawn from N(0, I) (or set to its mean, 0), and the decoder's output is
the continuum-normalized flux. The decoder runs through Keras's compiled prediction step
(``predict_on_batch``: a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX), on batches padded
to a power of two, so any number of points reuses a dozen compiled shapes at most and a single
spectrum costs little more than reading the weights once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import GridInputError
from ..parameters import ParameterSpace
from .config import CVAEConfig
from .cvae import CVAE

CHUNK = 1024
"""Spectra decoded per call: large enough to run at the matmul rate, small in memory."""


class ExtrapolationWarning(UserWarning):
    """Spectra were generated outside the parameter space the model was trained on."""


@dataclass(frozen=True)
class GenerationResult:
    """Spectra generated with several draws of z per parameter point.

    Attributes
    ----------
    mean, std
        Mean and standard deviation over the draws, shape ``(n, n_pixels)``,
        continuum-normalized flux (float32).
    parameters
        The physical parameters, shape ``(n, n_parameters)``.
    n_samples
        Draws of z per point.
    """

    mean: np.ndarray
    std: np.ndarray
    parameters: np.ndarray
    n_samples: int


class SpectrumGenerator:
    """A trained CVAE with its wavelengths and parameter space: physical parameters in,
    spectra out.

    Parameters
    ----------
    model
        A CVAE whose ``metadata`` holds ``wavelength`` (Angstrom) and ``space``
        (a :meth:`ParameterSpace.to_dict`); :func:`~spectral_cvae.model.train` and
        :func:`~spectral_cvae.model.load_model` make such models.

    Attributes
    ----------
    wavelength : numpy.ndarray
        Wavelengths of the generated spectra, Angstrom.
    space : ParameterSpace
        The training domain: names, units, ranges and normalization of the parameters.
    config : CVAEConfig
        How the model was built and trained.
    provenance : dict
        Grid fingerprint, split, package versions, training history.
    model : CVAE
        The Keras model; ``model.decoder`` is all that generation uses.
    source : str
        The model file it was loaded from (for messages), or ``"the model"``.
    """

    def __init__(self, model: CVAE) -> None:
        try:
            self.wavelength = np.asarray(model.metadata["wavelength"], dtype=np.float64)
            self.space = ParameterSpace.from_dict(model.metadata["space"])
        except KeyError as exc:
            raise GridInputError(f"the model's metadata lacks {exc}") from exc
        if self.wavelength.size != model.n_pixels or len(self.space) != model.n_conditions:
            raise GridInputError(
                f"the model has {model.n_pixels} pixels and {model.n_conditions} conditions, "
                f"its metadata {self.wavelength.size} wavelengths and {len(self.space)} "
                f"parameters"
            )
        self.model = model
        self.config: CVAEConfig = model.config
        self.provenance: dict = dict(model.metadata.get("provenance", {}))
        self.source = "the model"

    def __repr__(self) -> str:
        return (
            f"SpectrumGenerator({self.n_pixels} pixels, {self.wavelength[0]:.2f}-"
            f"{self.wavelength[-1]:.2f} A, latent {self.config.latent_dim}, {self.space!r})"
        )

    @property
    def n_pixels(self) -> int:
        """Length of a generated spectrum."""
        return self.wavelength.size

    def decode(self, z: np.ndarray, condition: np.ndarray) -> np.ndarray:
        """Run the decoder on latent vectors and *normalized* conditions, in chunks.

        Parameters
        ----------
        z
            Latent vectors, shape ``(n, latent_dim)``.
        condition
            Parameters min-max normalized by :attr:`space`, shape ``(n, n_parameters)``.

        Returns
        -------
        numpy.ndarray
            Flux, float32, shape ``(n, n_pixels)``.
        """
        z = np.asarray(z, dtype=np.float32)
        condition = np.asarray(condition, dtype=np.float32)
        out = np.empty((len(z), self.n_pixels), dtype=np.float32)
        for start in range(0, len(z), CHUNK):
            stop = min(start + CHUNK, len(z))
            out[start:stop] = self._finite(
                self._decode_chunk(z[start:stop], condition[start:stop]), start
            )
        return out

    def _decode_chunk(self, z: np.ndarray, condition: np.ndarray) -> np.ndarray:
        # Padding to a power of two bounds the shapes compiled (JAX compiles every new shape).
        n = len(z)
        padded = 1 << (n - 1).bit_length()
        if padded > n:
            z = np.concatenate([z, np.zeros((padded - n, z.shape[1]), np.float32)])
            condition = np.concatenate([condition, np.repeat(condition[-1:], padded - n, 0)])
        return np.asarray(self.model.decoder.predict_on_batch([z, condition]))[:n]

    def generate(
        self,
        params: object,
        n_samples: int = 1,
        latent: Literal["mean", "sample"] | None = None,
        seed: int | None = None,
        allow_extrapolation: bool = False,
        as_spectrum1d: bool = False,
    ):
        """Generate continuum-normalized spectra at the given stellar parameters.

        Parameters
        ----------
        params
            Physical parameters: an array ``(n, 6)`` or ``(6,)`` in the order of
            ``space.names`` (teff K, logg dex, vsini km/s, mh dex, vmic km/s, resolution),
            or a mapping / table with one column per name.
        n_samples
            Draws of z per point. Above 1 the result holds the mean and the standard
            deviation over the draws: the spread the model has learnt.
        latent
            ``"mean"``: z = 0, the most probable spectrum, deterministic. ``"sample"``:
            z ~ N(0, I) as in the paper. Default ``"mean"`` for one draw and ``"sample"``
            for several.
        seed
            Seed of the z draws (NumPy PCG64), so draws are repeatable.
        allow_extrapolation
            Generate outside the training domain with an :class:`ExtrapolationWarning`
            instead of raising :class:`~spectral_cvae.errors.OutOfDomainError`.
        as_spectrum1d
            Return a ``specutils`` spectrum (flux ``(n, n_pixels)``, wavelength in
            Angstrom, parameters in ``meta``; the spread as its uncertainty).

        Returns
        -------
        numpy.ndarray or GenerationResult or specutils spectrum
            Flux of shape ``(n, n_pixels)`` (float32) when ``n_samples == 1``; a
            :class:`GenerationResult` with ``.mean`` and ``.std`` otherwise.
        """
        if n_samples < 1:
            raise GridInputError(f"n_samples must be at least 1, got {n_samples}")
        latent = latent or ("mean" if n_samples == 1 else "sample")
        if latent not in ("mean", "sample"):
            raise GridInputError(f"latent must be 'mean' or 'sample', not {latent!r}")
        if latent == "mean" and n_samples > 1:
            raise GridInputError("n_samples > 1 draws z: use latent='sample'")
        physical = self._check_domain(params, allow_extrapolation)
        condition = self.space.normalize(physical).astype(np.float32)
        n, dim = len(condition), self.config.latent_dim
        if latent == "mean":
            flux = self.decode(np.zeros((n, dim), np.float32), condition)
            return self._spectrum1d(flux, physical) if as_spectrum1d else flux
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n * n_samples, dim), dtype=np.float32)
        if n_samples == 1:
            flux = self.decode(z, condition)
            return self._spectrum1d(flux, physical) if as_spectrum1d else flux
        mean, std = self._mean_and_spread(z, condition, n_samples)
        result = GenerationResult(mean, std, physical, n_samples)
        return self._spectrum1d(result.mean, physical, result.std) if as_spectrum1d else result

    def _mean_and_spread(
        self, z: np.ndarray, condition: np.ndarray, n_samples: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread (ddof 1) over the draws of each point, from running sums.

        The draws are decoded :data:`CHUNK` at a time and summed per point about a first
        draw (which keeps the sums of squares accurate), so memory stays at a few spectra per
        point whatever ``n_samples``: 20,000 draws of one point need no 20,000 spectra.
        """
        n = len(condition)
        total = np.zeros((n, self.n_pixels))
        squares = np.zeros((n, self.n_pixels))
        shift = self.decode(z[::n_samples], condition).astype(np.float64)
        for start in range(0, len(z), CHUNK):
            stop = min(start + CHUNK, len(z))
            owner = np.arange(start, stop) // n_samples
            flux = self._finite(self._decode_chunk(z[start:stop], condition[owner]), start)
            deviation = flux.astype(np.float64) - shift[owner]
            first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            total[owner[first]] += np.add.reduceat(deviation, first, axis=0)
            squares[owner[first]] += np.add.reduceat(deviation**2, first, axis=0)
        mean = total / n_samples
        variance = np.maximum(squares - n_samples * mean**2, 0.0) / (n_samples - 1)
        return (shift + mean).astype(np.float32), np.sqrt(variance).astype(np.float32)

    def _finite(self, flux: np.ndarray, first_row: int = 0) -> np.ndarray:
        """The flux, or :class:`ModelFileError` if the model made NaN or infinite values."""
        bad = ~np.isfinite(flux)
        if bad.any():
            from .artifact import ModelFileError

            row = first_row + int(np.argwhere(bad)[0][0])
            raise ModelFileError(
                f"{self.source}: the model generated non-finite flux (spectrum {row}, "
                f"{int(bad.sum())} values); its weights are damaged"
            )
        return flux

    def _check_domain(self, params: object, allow_extrapolation: bool) -> np.ndarray:
        if not allow_extrapolation:
            return self.space.check(params, source="generate")
        physical = self.space.as_array(params, source="generate")
        outside = ~self.space.contains(physical)
        if outside.any():
            warnings.warn(
                f"{int(outside.sum())} of {len(physical)} parameter points lie outside the "
                f"training domain {self.space!r}; their spectra are extrapolated",
                ExtrapolationWarning,
                stacklevel=3,
            )
        return physical

    def _spectrum1d(self, flux: np.ndarray, physical: np.ndarray, std: np.ndarray | None = None):
        import specutils
        from astropy import units as u
        from astropy.nddata import StdDevUncertainty

        spectrum_class = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
        meta = {
            f"{n} ({unit})" if unit else n: physical[:, k].tolist()
            for k, (n, unit) in enumerate(zip(self.space.names, self.space.units))
        }
        meta["generator"] = "spectral-cvae CVAE"
        squeeze = len(flux) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return spectrum_class(
                spectral_axis=self.wavelength * u.AA,
                flux=(flux[0] if squeeze else flux) * u.dimensionless_unscaled,
                uncertainty=None if std is None else StdDevUncertainty(std[0] if squeeze else std),
                meta=meta,
            )

    def save(self, path, overwrite: bool = False):
        """Save to one ``.keras`` file, atomically; see :func:`~spectral_cvae.model.save_model`."""
        from .artifact import save_model

        return save_model(self, path, overwrite=overwrite)
