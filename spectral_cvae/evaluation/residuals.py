"""Residual statistics of a spectrum generator against the synthetic spectra it learned from.

The paper's pixel-wise evaluation (Gebran & Bentley 2025, section 4): for every held-out test
spectrum, Delta F = generated - synthetic at the same parameters, summarized overall (median
absolute residual < 1.8e-3), per wavelength (bias and scatter, to show no wavelength is
systematically wrong) and per spectrum (for the heat maps and marginals of
:mod:`spectral_cvae.evaluation.maps`).

A paper-size test set is 10^4 x 19,000 residuals (760 MB as float32), so the statistics are
accumulated batch by batch: sums (exact, float64) give the bias, scatter and mean |Delta F|;
logarithmic histograms of |Delta F| give the percentiles. The overall histogram has 1000
bins per decade (quantiles good to 0.25 %), the per-pixel ones 36 per decade (quantiles good
to about 7 %, a few 10 MB for 19,000 pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..emulator import SpectrumEmulator
from ..errors import ConfigError, ParameterError, SpectrumInputError
from ..grid.store import SpectralGrid

QUANTILES = (0.5, 0.68, 0.95, 0.99)
"""Quantiles of |Delta F| reported everywhere: the median and the 68/95/99th percentiles."""
HISTOGRAM_RANGE = (1e-7, 1.0)
"""|Delta F| covered by the logarithmic bins; values below or above fall in end bins."""
OVERALL_BINS_PER_DECADE = 1000
PIXEL_BINS_PER_DECADE = 36
WAVELENGTH_TOLERANCE = 1e-6
"""Largest difference (Angstrom) between a model's and a grid's wavelengths taken as equal."""


def check_compatible(generator: SpectrumEmulator, grid: SpectralGrid) -> None:
    """Refuse a generator and grid that do not share wavelengths and parameters.

    Raises
    ------
    SpectrumInputError, ParameterError
        Naming what differs (wavelengths, parameters), with the expected (grid) and received
        (model) values.
    """
    source = str(grid.path) if getattr(grid, "path", None) else "grid"
    model_wavelength = np.asarray(generator.wavelength, dtype=float)
    if model_wavelength.shape != grid.wavelength.shape:
        raise SpectrumInputError(
            f"{source}: the model generates {model_wavelength.size} pixels "
            f"({_window(model_wavelength)}) but the grid has {grid.n_pixels} "
            f"({_window(grid.wavelength)}); evaluate a model on the grid it was trained on"
        )
    offset = np.abs(model_wavelength - grid.wavelength)
    if offset.max() > WAVELENGTH_TOLERANCE:
        i = int(np.argmax(offset))
        raise SpectrumInputError(
            f"{source}: wavelength {i} is {grid.wavelength[i]:.4f} A in the grid but "
            f"{model_wavelength[i]:.4f} A in the model"
        )
    if tuple(generator.space.names) != tuple(grid.space.names):
        raise ParameterError(
            f"{source}: the grid's parameters are ({', '.join(grid.space.names)}) but the "
            f"model is conditioned on ({', '.join(generator.space.names)})"
        )


def _window(wavelength: np.ndarray) -> str:
    return f"{wavelength[0]:.2f}-{wavelength[-1]:.2f} A" if wavelength.size else "empty"


def generate_checked(
    generator: SpectrumEmulator, parameters: np.ndarray, n_pixels: int, latent: str = "mean"
) -> np.ndarray:
    """Call ``generator.generate`` and check the shape of what comes back.

    Raises
    ------
    ValueError
        If the flux is not ``(n, n_pixels)``, giving the expected and received shapes.
    """
    flux = np.asarray(generator.generate(parameters, latent=latent), dtype=np.float64)
    expected = (len(parameters), n_pixels)
    if flux.shape != expected:
        raise ValueError(
            f"generator returned flux of shape {flux.shape}; expected {expected} "
            f"for {len(parameters)} parameter rows"
        )
    return flux


@dataclass(frozen=True)
class ResidualStatistics:
    """Residuals Delta F = generated - synthetic over a set of spectra.

    Attributes
    ----------
    wavelength
        Angstrom, shape ``(n_pixels,)``.
    overall
        ``median``, ``p68``, ``p95``, ``p99``, ``mean`` and ``max`` of |Delta F| over every
        pixel of every spectrum, plus ``bias`` (mean Delta F) and ``rms`` (root mean square
        Delta F); flux units (continuum = 1).
    pixel_bias, pixel_scatter
        Mean and standard deviation of Delta F at each wavelength, shape ``(n_pixels,)``.
    pixel_mean_abs
        Mean |Delta F| at each wavelength.
    pixel_quantiles
        |Delta F| quantiles at each wavelength, shape ``(len(QUANTILES), n_pixels)``.
    indices
        Grid rows of the spectra, shape ``(n_spectra,)``.
    parameters
        Their parameters, shape ``(n_spectra, n_parameters)``.
    spectrum_mean_abs, spectrum_median_abs, spectrum_max_abs, spectrum_bias
        Per spectrum: mean, median and largest |Delta F|, and mean Delta F.
    """

    wavelength: np.ndarray
    overall: dict[str, float]
    pixel_bias: np.ndarray
    pixel_scatter: np.ndarray
    pixel_mean_abs: np.ndarray
    pixel_quantiles: np.ndarray
    indices: np.ndarray
    parameters: np.ndarray
    spectrum_mean_abs: np.ndarray
    spectrum_median_abs: np.ndarray
    spectrum_max_abs: np.ndarray
    spectrum_bias: np.ndarray

    @property
    def n_spectra(self) -> int:
        """Number of spectra compared."""
        return len(self.indices)

    @property
    def n_pixels(self) -> int:
        """Pixels per spectrum."""
        return self.wavelength.size

    def to_dict(self) -> dict:
        """Every number as JSON-ready lists; per-pixel arrays keyed by name."""
        return {
            "n_spectra": self.n_spectra,
            "n_pixels": self.n_pixels,
            "overall": dict(self.overall),
            "quantile_levels": list(QUANTILES),
            "per_pixel": {
                "wavelength_angstrom": self.wavelength.tolist(),
                "bias": self.pixel_bias.tolist(),
                "scatter": self.pixel_scatter.tolist(),
                "mean_abs": self.pixel_mean_abs.tolist(),
                **{
                    _quantile_name(q): row.tolist()
                    for q, row in zip(QUANTILES, self.pixel_quantiles)
                },
            },
            "per_spectrum": {
                "index": self.indices.tolist(),
                "parameters": self.parameters.tolist(),
                "mean_abs": self.spectrum_mean_abs.tolist(),
                "median_abs": self.spectrum_median_abs.tolist(),
                "max_abs": self.spectrum_max_abs.tolist(),
                "bias": self.spectrum_bias.tolist(),
            },
        }


def _quantile_name(q: float) -> str:
    return "median" if q == 0.5 else f"p{round(100 * q)}"


class _LogHistogram:
    """Counts of |Delta F| in logarithmic bins, one histogram per column (or one overall)."""

    def __init__(self, bins_per_decade: int, n_columns: int = 1) -> None:
        low, high = np.log10(HISTOGRAM_RANGE)
        self.n_bins = int(round((high - low) * bins_per_decade))
        self.log_low, self.per_decade = low, bins_per_decade
        # Bin 0 holds [0, 1e-7), bin n_bins + 1 holds [1, inf): nothing is lost.
        edges = 10.0 ** (low + np.arange(self.n_bins + 1) / bins_per_decade)
        self.edges = np.concatenate([[0.0], edges, [np.inf]])
        self.counts = np.zeros((n_columns, self.n_bins + 2), dtype=np.int64)
        self.maximum = np.zeros(n_columns)

    def add(self, absolute: np.ndarray) -> None:
        """Count a batch, shape ``(k, n_columns)`` (or anything for one overall histogram)."""
        n_columns, stride = self.counts.shape
        values = absolute.reshape(-1, n_columns)
        with np.errstate(divide="ignore"):
            position = (np.log10(values) - self.log_low) * self.per_decade
        bins = np.clip(np.floor(position) + 1, 0, self.n_bins + 1).astype(np.int64)
        flat = bins + stride * np.arange(n_columns)
        self.counts += np.bincount(flat.ravel(), minlength=n_columns * stride).reshape(
            n_columns, stride
        )
        self.maximum = np.maximum(self.maximum, values.max(axis=0))

    def quantiles(self, levels: Iterable[float]) -> np.ndarray:
        """Quantiles per column by linear interpolation inside the bin that holds them.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(levels), n_columns)``.
        """
        cumulative = np.cumsum(self.counts, axis=1)
        total = cumulative[:, -1]
        result = []
        for level in levels:
            rank = level * total
            # First bin whose cumulative count reaches the rank.
            k = np.minimum((cumulative < rank[:, np.newaxis]).sum(axis=1), self.n_bins + 1)
            below = np.where(k > 0, cumulative[np.arange(len(k)), k - 1], 0)
            inside = self.counts[np.arange(len(k)), k]
            fraction = np.divide(rank - below, inside, out=np.zeros(len(k)), where=inside > 0)
            left = self.edges[k]
            right = np.where(k == self.n_bins + 1, self.maximum, self.edges[k + 1])
            result.append(left + fraction * (right - left))
        return np.array(result)


class ResidualAccumulator:
    """Accumulate residual statistics batch by batch.

    Parameters
    ----------
    wavelength
        Angstrom, shape ``(n_pixels,)``.

    Examples
    --------
    >>> accumulator = ResidualAccumulator(wavelength)                # doctest: +SKIP
    >>> for rows, parameters, synthetic in grid.iter_batches(256, split.test):
    ...     accumulator.add(rows, parameters, generated - synthetic)
    >>> statistics = accumulator.result()
    """

    def __init__(self, wavelength: np.ndarray) -> None:
        self.wavelength = np.asarray(wavelength, dtype=float)
        n_pixels = self.wavelength.size
        self._sum = np.zeros(n_pixels)
        self._sum_squares = np.zeros(n_pixels)
        self._sum_abs = np.zeros(n_pixels)
        self._overall = _LogHistogram(OVERALL_BINS_PER_DECADE)
        self._pixels = _LogHistogram(PIXEL_BINS_PER_DECADE, n_pixels)
        self._rows: list[np.ndarray] = []
        self._parameters: list[np.ndarray] = []
        self._per_spectrum: list[np.ndarray] = []

    def add(self, indices: np.ndarray, parameters: np.ndarray, delta: np.ndarray) -> None:
        """Add a batch of residuals.

        Parameters
        ----------
        indices
            Grid rows, shape ``(k,)``.
        parameters
            Their parameters, shape ``(k, n_parameters)``.
        delta
            Delta F = generated - synthetic, shape ``(k, n_pixels)``, flux units.
        """
        delta = np.asarray(delta, dtype=np.float64)
        if delta.ndim != 2 or delta.shape != (len(indices), self.wavelength.size):
            raise ValueError(
                f"residuals of shape {delta.shape}; expected ({len(indices)}, "
                f"{self.wavelength.size}) for {len(indices)} spectra"
            )
        absolute = np.abs(delta)
        self._sum += delta.sum(axis=0)
        self._sum_squares += (delta**2).sum(axis=0)
        self._sum_abs += absolute.sum(axis=0)
        self._overall.add(absolute)
        self._pixels.add(absolute)
        self._rows.append(np.asarray(indices, dtype=np.int64))
        self._parameters.append(np.asarray(parameters, dtype=float))
        self._per_spectrum.append(
            np.column_stack(
                [
                    absolute.mean(axis=1),
                    np.median(absolute, axis=1),
                    absolute.max(axis=1),
                    delta.mean(axis=1),
                ]
            )
        )

    def result(self) -> ResidualStatistics:
        """The statistics of everything added so far."""
        if not self._rows:
            raise ValueError("no residuals were added: the set of spectra is empty")
        n = sum(len(rows) for rows in self._rows)
        bias = self._sum / n
        variance = np.maximum(self._sum_squares / n - bias**2, 0.0)
        n_values = n * self.wavelength.size
        overall_quantiles = self._overall.quantiles(QUANTILES)[:, 0]
        overall = {_quantile_name(q): float(v) for q, v in zip(QUANTILES, overall_quantiles)}
        overall.update(
            mean=float(self._sum_abs.sum() / n_values),
            max=float(self._overall.maximum[0]),
            bias=float(self._sum.sum() / n_values),
            rms=float(np.sqrt(self._sum_squares.sum() / n_values)),
        )
        per_spectrum = np.concatenate(self._per_spectrum)
        return ResidualStatistics(
            wavelength=self.wavelength,
            overall=overall,
            pixel_bias=bias,
            pixel_scatter=np.sqrt(variance),
            pixel_mean_abs=self._sum_abs / n,
            pixel_quantiles=self._pixels.quantiles(QUANTILES),
            indices=np.concatenate(self._rows),
            parameters=np.concatenate(self._parameters),
            spectrum_mean_abs=per_spectrum[:, 0],
            spectrum_median_abs=per_spectrum[:, 1],
            spectrum_max_abs=per_spectrum[:, 2],
            spectrum_bias=per_spectrum[:, 3],
        )


def residual_statistics(
    generator: SpectrumEmulator,
    grid: SpectralGrid,
    indices: np.ndarray | None = None,
    latent: str = "mean",
    batch_size: int = 256,
    progress: bool | None = None,
    on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> ResidualStatistics:
    """Compare a generator with the grid's spectra at the same parameters.

    Parameters
    ----------
    generator
        Anything with ``generate(parameters, latent=...)``, ``wavelength`` and ``space``
        (:class:`~spectral_cvae.emulator.SpectrumEmulator`).
    grid
        The synthetic spectra; read ``batch_size`` at a time.
    indices
        Grid rows to compare (the held-out test split); None compares all.
    latent
        Passed to ``generator.generate``: ``"mean"`` decodes the latent mean (z = 0), the
        generator's typical spectrum.
    batch_size
        Spectra generated and read per step; memory is about 3 x 8 x batch_size x n_pixels
        bytes beyond the per-pixel histograms.
    progress
        Show a progress bar; None shows it only on a terminal.
    on_batch
        Called with each batch's parameters and Delta F, so other summaries (the breakdown
        by v sin i, R and Teff) share this pass instead of generating the spectra again.

    Returns
    -------
    ResidualStatistics
    """
    from tqdm.auto import tqdm

    check_compatible(generator, grid)
    rows = np.arange(grid.n_spectra) if indices is None else np.asarray(indices, dtype=np.int64)
    if not len(rows):
        raise ConfigError("no spectra to evaluate: the set of test indices is empty")
    accumulator = ResidualAccumulator(grid.wavelength)
    with tqdm(
        total=len(rows),
        unit="spectra",
        desc="residuals",
        disable=None if progress is None else not progress,
    ) as bar:
        for batch_rows, parameters, synthetic in grid.iter_batches(batch_size, rows):
            generated = generate_checked(generator, parameters, grid.n_pixels, latent)
            delta = generated - synthetic
            accumulator.add(batch_rows, parameters, delta)
            if on_batch is not None:
                on_batch(parameters, delta)
            bar.update(len(batch_rows))
    return accumulator.result()
