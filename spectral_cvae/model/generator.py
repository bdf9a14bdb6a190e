"""Spectra at any stellar parameters from a trained CVAE's decoder.

As in the paper (section 3.3): the wanted parameters are normalized with the training
normalization, z is drawn from N(0, I) (or set to its mean, 0), and the decoder's output is
the continuum-normalized flux. The decoder runs through Keras's compiled prediction step
(``predict_on_batch``: a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX), on batches padded
to a power of two, so any number of points reuses a dozen compiled shapes at most and a single
spectrum costs little more than reading the weights once.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, ModelFileError, SpectrumInputError
from ..parameters import ParameterSpace
from ..specutils_spectra import parameter_meta, to_specutils
from .archive import read_archive, write_archive
from .config import CVAEConfig
from .cvae import CVAE

CHUNK = 1024
"""Spectra decoded per call: large enough to run at the matmul rate, small in memory."""


class ExtrapolationWarning(UserWarning):
    """Spectra were generated outside the parameter space the model was trained on."""


@dataclass(frozen=True)
class GenerationResult:
    """What :meth:`SpectrumGenerator.sample` returns: several draws of z per parameter point.

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
        A CVAE (or PhysicsCVAE) whose ``metadata`` holds ``wavelength`` (Angstrom) and
        ``space`` (a :meth:`ParameterSpace.to_dict`); :func:`~spectral_cvae.model.train`
        makes such models and :meth:`load` reads them from a file.

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
            raise ConfigError(f"the model's metadata lacks {exc}") from exc
        if self.wavelength.size != model.n_pixels or len(self.space) != model.n_conditions:
            raise ConfigError(
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
        latent: Literal["mean", "sample"] = "mean",
        seed: int | None = None,
        allow_extrapolation: bool = False,
    ) -> np.ndarray:
        """Generate one continuum-normalized spectrum per parameter point.

        Parameters
        ----------
        params
            Physical parameters: an array ``(n, 6)`` or ``(6,)`` in the order of
            ``space.names`` (teff K, logg dex, vsini km/s, mh dex, vmic km/s, resolution),
            or a mapping / table with one column per name.
        latent
            ``"mean"``: z = 0, the most probable spectrum, deterministic. ``"sample"``:
            one draw of z ~ N(0, I) per point, as in the paper.
        seed
            Seed of the z draws (NumPy PCG64), so draws are repeatable.
        allow_extrapolation
            Generate outside the training domain with an :class:`ExtrapolationWarning`
            instead of raising :class:`~spectral_cvae.errors.OutOfDomainError`.

        Returns
        -------
        numpy.ndarray
            Flux, float32, shape ``(n, n_pixels)``, also for a single point.

        See Also
        --------
        sample : the mean and spread over many draws of z.
        to_spectrum : the flux as a specutils spectrum.
        """
        if latent not in ("mean", "sample"):
            raise ConfigError(f"latent must be 'mean' or 'sample', not {latent!r}")
        physical = self._check_domain(params, allow_extrapolation)
        condition = self.space.normalize(physical).astype(np.float32)
        n, dim = len(condition), self.config.latent_dim
        if latent == "mean":
            return self.decode(np.zeros((n, dim), np.float32), condition)
        z = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
        return self.decode(z, condition)

    def sample(
        self,
        params: object,
        n_samples: int,
        seed: int | None = None,
        allow_extrapolation: bool = False,
    ) -> GenerationResult:
        """Mean and spread of the spectra over ``n_samples`` draws of z per point.

        Parameters
        ----------
        params
            Physical parameters, as for :meth:`generate`.
        n_samples
            Draws of z ~ N(0, I) per point, at least 2.
        seed
            Seed of the z draws (NumPy PCG64), so draws are repeatable.
        allow_extrapolation
            As for :meth:`generate`.

        Returns
        -------
        GenerationResult
            ``.mean`` and ``.std`` (ddof 1), float32, shape ``(n, n_pixels)``: the spread
            the model has learnt at each point.
        """
        if n_samples < 2:
            raise ConfigError(
                f"n_samples must be at least 2 for a spread, got {n_samples}; "
                f"generate() gives one spectrum per point"
            )
        physical = self._check_domain(params, allow_extrapolation)
        condition = self.space.normalize(physical).astype(np.float32)
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((len(condition) * n_samples, self.config.latent_dim), np.float32)
        mean, std = self._mean_and_spread(z, condition, n_samples)
        return GenerationResult(mean, std, physical, n_samples)

    def to_spectrum(self, flux: np.ndarray, params: object, std: np.ndarray | None = None):
        """Generated spectra as a specutils spectrum.

        Parameters
        ----------
        flux
            What :meth:`generate` returned (or a :class:`GenerationResult`'s ``mean``),
            shape ``(n, n_pixels)``.
        params
            The parameters they were generated at, as for :meth:`generate`.
        std
            Their spread (``GenerationResult.std``), stored as the uncertainty; or None.

        Returns
        -------
        specutils.Spectrum or specutils.Spectrum1D
            Wavelength in Angstrom, dimensionless flux (1-D for one spectrum), the
            parameters in ``meta`` as ``"teff (K)": value`` (a list for several spectra).
        """
        physical = self.space.as_array(params, source="to_spectrum")
        flux = np.atleast_2d(flux)
        if flux.shape != (len(physical), self.n_pixels):
            raise SpectrumInputError(
                f"flux of shape {flux.shape} for {len(physical)} parameter points; expected "
                f"({len(physical)}, {self.n_pixels})"
            )
        values = physical[0] if len(physical) == 1 else physical
        meta = parameter_meta(self.space.names, self.space.units, values)
        meta["generator"] = "spectral-cvae CVAE"
        return to_specutils(self.wavelength, flux, meta, std)

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

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the model to one ``.keras`` file, atomically, without optimizer state.

        Parameters
        ----------
        path
            Destination; must end in ``.keras``. It appears only once complete.
        overwrite
            Replace an existing file; otherwise an existing file is refused.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is False.
        """
        return write_archive(self.model, path, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpectrumGenerator:
        """Read a model file written by :meth:`save` (Keras safe mode: no stored code runs).

        Raises
        ------
        ModelFileError
            If the file is missing, truncated, corrupt, changed after saving, or not a
            spectral-cvae model.
        """
        model = read_archive(path)
        try:
            generator = cls(model)
        except ConfigError as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
        generator.source = str(path)
        return generator
