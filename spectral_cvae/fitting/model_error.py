"""The generator's own error, as a noise term of the fit: honest error bars at high S/N.

A generator is not exact: on stars it never saw, generated minus true flux has a spread that
depends on the pixel (line cores err more than the continuum), on the star (cool stars, rich
in lines, err most) and on the broadening. Left out of the likelihood, this error makes the
parameter uncertainties too small once the photon noise is below it: pulls of 4-5 at S/N 100.

:class:`ModelError` describes it as a Gaussian error of per-pixel standard deviation

    sigma_model(lambda; Teff, v sin i) = f * rms_Teff(lambda) * scale(v sin i)

(``rms_Teff``: the RMS of generated minus true flux per pixel, in Teff bins, interpolated
linearly between the bins' centres; ``scale``: the RMS of a v sin i bin over the mean), and of
correlation ``rho(|lambda - lambda'|)`` along the spectrum: an error in a line profile or a
Balmer wing spans many pixels, so it does not average out over pixels as photon noise does.
A stationary correlation still misses part of the error's likeness to a change of the
parameters, so ``f`` (``factor``, 1 unless calibrated) is set from fits of validation stars
at high S/N, where the model error dominates: the spread of their pulls (see
``benchmarks/model_error.py --pull-spectra``).
The fit weights each pixel by ``1 / (sigma_noise^2 + sigma_model^2)`` and its covariance
counts both terms, the model error with its correlation (:func:`model_covariance`).

:func:`calibrate` measures these from a generator and spectra of stars it was validated on,
never its test stars; ``benchmarks/model_error.py`` writes the file shipped beside the
pretrained model (``spectral_cvae/data/pretrained.model-error.npz``), and can write one
beside a model of your own (``<model>.model-error.npz``), where ``model_error="auto"`` finds
it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SpectrumInputError
from ..files import atomic_path

SUFFIX = ".model-error.npz"
"""A model's error file is the model file's name with this suffix (``model.keras`` ->
``model.model-error.npz``)."""
TEFF_EDGES = (4000.0, 5000.0, 6000.0, 7500.0, 9000.0, 11000.0)
"""Default Teff bins of the per-pixel RMS, K."""
VSINI_EDGES = (0.0, 20.0, 60.0, 150.0, 300.0)
"""Default v sin i bins of the RMS scale and the correlation, km/s."""
MAX_LAG = 50.0
"""Longest correlation kept, Angstrom (beyond it the measured correlation is noise)."""
NO_MODEL_ERROR = "none: the uncertainties count the noise only, not the generator's own error"


def provenance_digest(provenance: dict | None) -> str:
    """sha256 of a model's provenance (its training run: grid, split, history), as JSON."""
    text = json.dumps(provenance or {}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ModelError:
    """A generator's own error: per-pixel RMS by Teff, scale by v sin i, correlation.

    Attributes
    ----------
    wavelength : numpy.ndarray
        The generator's wavelengths, Angstrom, shape ``(n_pixels,)``.
    teff : numpy.ndarray
        Centres of the Teff bins, K, shape ``(n_teff,)``.
    rms : numpy.ndarray
        RMS of generated minus true continuum-normalized flux per pixel in each Teff bin,
        shape ``(n_teff, n_pixels)``.
    vsini : numpy.ndarray
        Centres of the v sin i bins, km/s, shape ``(n_vsini,)``.
    scale : numpy.ndarray
        RMS in each v sin i bin over the RMS of all spectra, shape ``(n_vsini,)``.
    correlation : numpy.ndarray
        Correlation of the error with itself at lags ``0, lag_step, 2 lag_step, ...``
        (Angstrom) in each v sin i bin, shape ``(n_vsini, n_lags)``; 1 at lag 0, tapered to
        0 at the last lag so that it stays a valid correlation function.
    lag_step : float
        Angstrom.
    factor : float
        Multiplies the RMS: 1, or the spread of the pulls of validation fits made with 1.
    provenance : dict
        How it was measured: the model's ``model_provenance_sha256`` (see
        :func:`provenance_digest`), grids and their sha256, the stars and draws, the command.
    """

    wavelength: np.ndarray
    teff: np.ndarray
    rms: np.ndarray
    vsini: np.ndarray
    scale: np.ndarray
    correlation: np.ndarray
    lag_step: float
    factor: float = 1.0
    provenance: dict = field(default_factory=dict)

    # -- evaluation ------------------------------------------------------------------------
    def sigma(self, teff: float, vsini: float) -> np.ndarray:
        """Standard deviation of the generator's error per pixel at a star, flux units of
        the continuum-normalized spectrum, shape ``(n_pixels,)``.

        Parameters
        ----------
        teff
            Effective temperature, K (clamped to the outer bins' centres).
        vsini
            Projected rotational velocity, km/s (likewise).
        """
        return self.factor * _between(self.teff, self.rms, teff) * float(
            _between(self.vsini, self.scale[:, None], vsini)[0]
        )

    def correlation_at(self, vsini: float, lags: np.ndarray) -> np.ndarray:
        """Correlation of the error between pixels ``lags`` Angstrom apart (0 beyond the
        longest lag), at a star of this v sin i (km/s)."""
        rho = _between(self.vsini, self.correlation, vsini)
        position = np.abs(np.asarray(lags, dtype=float)) / self.lag_step
        return np.interp(position, np.arange(rho.size), rho, right=0.0)

    def matches(self, generator: object) -> bool:
        """Whether this was measured on ``generator`` (same provenance digest, same pixels)."""
        recorded = self.provenance.get("model_provenance_sha256")
        wavelength = np.asarray(getattr(generator, "wavelength", []), dtype=float)
        return (
            recorded == provenance_digest(getattr(generator, "provenance", None))
            and wavelength.shape == self.wavelength.shape
            and np.allclose(wavelength, self.wavelength, rtol=0.0, atol=1e-6)
        )

    def describe(self) -> str:
        """One line for results and reports."""
        record = self.provenance
        stars = record.get("stars", "?")
        return (
            f"the generator's own error (RMS per pixel by Teff, scaled by v sin i, correlated "
            f"along the spectrum) measured on {stars} validation stars of its training split"
        )

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write to a compressed ``.npz`` (float16 RMS and correlation), atomically."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(
                    handle,
                    wavelength_start=np.float64(self.wavelength[0]),
                    wavelength_step=np.float64(np.median(np.diff(self.wavelength))),
                    n_pixels=np.int64(self.wavelength.size),
                    teff=self.teff.astype(np.float64),
                    rms=self.rms.astype(np.float16),
                    vsini=self.vsini.astype(np.float64),
                    scale=self.scale.astype(np.float64),
                    correlation=self.correlation.astype(np.float16),
                    lag_step=np.float64(self.lag_step),
                    factor=np.float64(self.factor),
                    provenance=json.dumps(self.provenance, sort_keys=True),
                )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelError:
        """Read a file written by :meth:`save`."""
        with np.load(path) as data:
            n = int(data["n_pixels"])
            wavelength = float(data["wavelength_start"]) + float(
                data["wavelength_step"]
            ) * np.arange(n)
            return cls(
                wavelength=wavelength,
                teff=data["teff"],
                rms=data["rms"].astype(np.float64),
                vsini=data["vsini"],
                scale=data["scale"],
                correlation=data["correlation"].astype(np.float64),
                lag_step=float(data["lag_step"]),
                factor=float(data["factor"]),
                provenance=json.loads(str(data["provenance"])),
            )

    @classmethod
    def for_generator(cls, generator: object) -> ModelError | None:
        """The error file of a generator, if one lies beside its model file and matches it.

        Looks for ``<model>.model-error.npz`` next to the file the generator was loaded from
        (``generator.source``); for the shipped pretrained model that is the shipped
        ``pretrained.model-error.npz``. None when there is none, or when it was measured
        on another model.
        """
        source = getattr(generator, "source", None)
        if not source:
            return None
        path = Path(str(source))
        candidate = path.with_name(path.stem + SUFFIX)
        if not candidate.is_file():
            return None
        error = cls.load(candidate)
        return error if error.matches(generator) else None


def resolve(generator: object, model_error: object) -> tuple[ModelError | None, str]:
    """The model error a fit uses, and a sentence saying what it is.

    Parameters
    ----------
    generator
        The fit's generator.
    model_error
        ``"auto"`` (the generator's own file, see :meth:`ModelError.for_generator`; none
        when it has none), ``"none"``/None, or a :class:`ModelError`.
    """
    if isinstance(model_error, ModelError):
        if model_error.wavelength.size != np.asarray(generator.wavelength).size:
            raise SpectrumInputError(
                f"the model error covers {model_error.wavelength.size} pixels, the generator "
                f"{np.asarray(generator.wavelength).size}"
            )
        return model_error, model_error.describe()
    if model_error is None or model_error == "none":
        return None, NO_MODEL_ERROR
    if model_error != "auto":
        raise ConfigError(
            f"model_error must be 'auto', 'none' or a ModelError, not {model_error!r}"
        )
    found = ModelError.for_generator(generator)
    if found is None:
        return None, (
            NO_MODEL_ERROR + " (this generator has no model-error file; "
            "benchmarks/model_error.py measures one)"
        )
    return found, found.describe()


def model_covariance(
    error: ModelError,
    vsini: float,
    wavelength: np.ndarray,
    sigma: np.ndarray,
    columns: np.ndarray,
) -> np.ndarray:
    """``U^T C U`` for the correlated model error ``C_ij = sigma_i sigma_j rho(|l_i - l_j|)``.

    Computed as a convolution on a uniform grid of the pixels' median spacing (pixels
    falling on one grid point are summed), so it costs a few FFTs, never an n x n matrix.

    Parameters
    ----------
    error
        The model error (its correlation).
    vsini
        km/s, of the star (chooses the correlation).
    wavelength
        The pixels' wavelengths, Angstrom, increasing, shape ``(n,)``.
    sigma
        Model-error standard deviation of each pixel, shape ``(n,)``.
    columns
        Shape ``(n, k)``, e.g. weighted Jacobian columns.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, k)``.
    """
    step = float(np.median(np.diff(wavelength)))
    index = np.rint((wavelength - wavelength[0]) / step).astype(int)
    size = int(index[-1]) + 1
    lags = int(min(size - 1, np.ceil(error.lag_step * (error.correlation.shape[1] - 1) / step)))
    kernel = error.correlation_at(vsini, np.arange(lags + 1) * step)
    length = int(2 ** np.ceil(np.log2(size + lags + 1)))
    weighted = columns * sigma[:, None]
    gridded = np.zeros((length, columns.shape[1]))
    np.add.at(gridded, index, weighted)
    full = np.zeros(length)
    full[: lags + 1] = kernel
    full[length - lags :] = kernel[1:][::-1]
    convolved = np.fft.irfft(
        np.fft.rfft(gridded, axis=0) * np.fft.rfft(full)[:, None], n=length, axis=0
    )
    product = gridded[:size].T @ convolved[:size]
    return 0.5 * (product + product.T)


def calibrate(
    generator: object,
    spectra: object,
    teff_edges: tuple = TEFF_EDGES,
    vsini_edges: tuple = VSINI_EDGES,
    max_lag: float = MAX_LAG,
    batch_size: int = 64,
    provenance: dict | None = None,
) -> ModelError:
    """Measure a generator's error on spectra of stars it did not train on.

    Parameters
    ----------
    generator
        Anything with ``generate(params)``, ``wavelength`` and ``provenance``.
    spectra
        A :class:`~spectral_cvae.grid.SpectralGrid` of six-parameter spectra on the
        generator's wavelengths: its validation stars at several (v sin i, R) draws
        (never the test stars, which are for checking the result).
    teff_edges, vsini_edges
        Bin edges, K and km/s.
    max_lag
        Longest correlation kept, Angstrom.
    batch_size
        Spectra generated per call.
    provenance
        Recorded with the result (grids, stars, command); the model's provenance digest is
        added.

    Returns
    -------
    ModelError
    """
    names = list(spectra.space.names)
    if np.asarray(generator.wavelength).size != spectra.n_pixels:
        raise SpectrumInputError(
            f"spectra have {spectra.n_pixels} pixels, the generator {generator.wavelength.size}"
        )
    parameters = np.asarray(spectra.parameters, dtype=float)
    residual = np.empty((spectra.n_spectra, spectra.n_pixels))
    for start in range(0, spectra.n_spectra, batch_size):
        rows = np.arange(start, min(start + batch_size, spectra.n_spectra))
        true = np.stack([spectra.spectrum(int(i)) for i in rows]).astype(float)
        residual[rows] = np.asarray(generator.generate(parameters[rows]), float) - true
    teff = parameters[:, names.index("teff")]
    vsini = parameters[:, names.index("vsini")]
    teff_bin = _bins(teff, teff_edges)
    vsini_bin = _bins(vsini, vsini_edges)
    occupied = np.unique(teff_bin)
    rms = np.stack([np.sqrt(np.mean(residual[teff_bin == b] ** 2, axis=0)) for b in occupied])
    teff_centres = np.array([np.mean(teff[teff_bin == b]) for b in occupied])
    row_bin = np.searchsorted(occupied, teff_bin)
    overall = np.sqrt(np.mean(residual**2))
    step = float(np.median(np.diff(generator.wavelength)))
    n_lags = int(round(max_lag / step)) + 1
    taper = 1.0 - np.arange(n_lags) / (n_lags - 1)
    scale, correlation, vsini_centres = [], [], []
    for b in np.unique(vsini_bin):
        chosen = vsini_bin == b
        scale.append(np.sqrt(np.mean(residual[chosen] ** 2)) / overall)
        vsini_centres.append(np.mean(vsini[chosen]))
        # Normalized by each pixel's RMS, so the correlation is that of C = s rho s.
        own = rms[row_bin[chosen]]
        normalized = residual[chosen] / np.where(own > 0, own, 1.0)
        correlation.append(_autocorrelation(normalized, n_lags) * taper)
    record = dict(provenance or {})
    record["model_provenance_sha256"] = provenance_digest(getattr(generator, "provenance", None))
    record["spectra"] = int(spectra.n_spectra)
    record["teff_edges"] = [float(x) for x in teff_edges]
    record["vsini_edges"] = [float(x) for x in vsini_edges]
    record["rms_all"] = float(overall)
    return ModelError(
        wavelength=np.asarray(generator.wavelength, dtype=float),
        teff=teff_centres,
        rms=rms,
        vsini=np.array(vsini_centres),
        scale=np.array(scale),
        correlation=np.stack(correlation),
        lag_step=step,
        provenance=record,
    )


def recorded_stars(generator: object, base: object, subset: str) -> object:
    """The base models (stars) of one subset of a generator's recorded split.

    Parameters
    ----------
    generator
        A generator whose provenance records its split (by base model).
    base
        The base grid it was trained on, e.g. ``load_base_grids([...])`` with the same
        files (checked by fingerprint).
    subset
        ``"validation"`` (for calibrating a model error) or ``"test"`` (for checking it).

    Returns
    -------
    SpectralGrid
        Those rows of ``base``.

    Raises
    ------
    ConfigError
        The model recorded no split, or ``base`` is not the grid it was trained on.
    """
    from ..provenance import recorded_split, same_grid

    provenance = getattr(generator, "provenance", None) or {}
    split = recorded_split(provenance)
    if split is None:
        raise ConfigError("the model recorded no split: its validation and test stars are "
                             "unknown")
    if not same_grid(provenance, base):
        raise ConfigError(
            "the base grid is not the one the model was trained on (give the same base grid "
            "files, in the same order, as its training command)"
        )
    if subset not in ("validation", "test"):
        raise ConfigError(f"subset must be 'validation' or 'test', not {subset!r}")
    return base.subset(np.sort(getattr(split, subset)))


def _bins(values: np.ndarray, edges: tuple) -> np.ndarray:
    """Bin index of each value (values on the outer edges go to the outer bins)."""
    return np.clip(np.searchsorted(np.asarray(edges), values, side="right") - 1, 0,
                   len(edges) - 2)


def _between(centres: np.ndarray, rows: np.ndarray, value: float) -> np.ndarray:
    """Rows interpolated linearly between bin centres at ``value``, clamped at the ends."""
    if len(centres) == 1:
        return np.asarray(rows[0], dtype=float)
    position = np.interp(float(value), centres, np.arange(len(centres)))
    low = int(np.floor(position))
    high = min(low + 1, len(centres) - 1)
    weight = position - low
    return (1.0 - weight) * np.asarray(rows[low], float) + weight * np.asarray(rows[high], float)


def _autocorrelation(rows: np.ndarray, n_lags: int) -> np.ndarray:
    """Mean autocorrelation of the rows at lags 0..n_lags-1 (the biased estimator, which is
    a valid correlation function), 1 at lag 0."""
    n = rows.shape[1]
    length = int(2 ** np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(rows - rows.mean(axis=1, keepdims=True), n=length, axis=1)
    covariance = np.fft.irfft(np.abs(spectrum) ** 2, n=length, axis=1)[:, :n_lags]
    return np.mean(covariance / covariance[:, :1], axis=0)


__all__ = [
    "ModelError",
    "NO_MODEL_ERROR",
    "SUFFIX",
    "calibrate",
    "model_covariance",
    "provenance_digest",
    "recorded_stars",
    "resolve",
]
