"""Principal components of a set of spectra, computed in a few streaming passes.

The paper reduces each spectrum to 25 PCA coefficients before its inverter network (section
4.1). A paper-size training set (8 x 10^4 x 19,000 float32, 6 GB) does not fit in memory and
its 19,000 x 19,000 covariance matrix would take 2.9 GB, so the leading components are found
by randomized subspace iteration (Halko, Martinsson & Tropp 2011, algorithm 4.4) on the
covariance: each pass reads the spectra once in batches and keeps only an
``n_pixels x (n_components + oversample)`` block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, SpectrumInputError


@dataclass(frozen=True)
class PCABasis:
    """The mean spectrum and leading principal components of a set of spectra.

    Attributes
    ----------
    mean
        Mean spectrum, shape ``(n_pixels,)``.
    components
        Orthonormal components, shape ``(n_components, n_pixels)``, by decreasing variance.
    explained_variance
        Variance of the spectra along each component, flux units squared.
    total_variance
        Sum of the variances of all pixels: ``explained_variance.sum() / total_variance`` is
        the fraction of the variance the components keep.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    total_variance: float

    @property
    def n_components(self) -> int:
        """Number of components."""
        return len(self.components)

    def transform(self, flux: np.ndarray) -> np.ndarray:
        """PCA coefficients of spectra, shape ``(n, n_components)``."""
        return (np.asarray(flux, dtype=np.float64) - self.mean) @ self.components.T

    def inverse_transform(self, coefficients: np.ndarray) -> np.ndarray:
        """Spectra rebuilt from coefficients, shape ``(n, n_pixels)``."""
        return np.asarray(coefficients, dtype=np.float64) @ self.components + self.mean


def fit_pca(
    batches: Callable[[], Iterable[np.ndarray]],
    n_components: int,
    n_iter: int = 4,
    oversample: int = 10,
    seed: int = 0,
) -> PCABasis:
    """Leading principal components of spectra read in batches.

    Parameters
    ----------
    batches
        Called once per pass; returns an iterable of flux batches, each ``(k, n_pixels)``.
        Every call must yield the same spectra. ``n_iter + 2`` passes are made.
    n_components
        Number of components to keep.
    n_iter
        Subspace (power) iterations; 4 make the leading components accurate to round-off
        for spectra, whose variance falls steeply with component number.
    oversample
        Extra directions carried along, which speeds convergence of the last components.
    seed
        Seed of the random starting subspace.

    Returns
    -------
    PCABasis

    Raises
    ------
    SpectrumInputError, ConfigError
        If there are no spectra, or fewer spectra or pixels than ``n_components``.
    """
    if n_components < 1:
        raise ConfigError(f"n_components must be at least 1, got {n_components}")
    n, total = 0, None
    for flux in batches():
        flux = np.asarray(flux, dtype=np.float64)
        total = flux.sum(axis=0) if total is None else total + flux.sum(axis=0)
        n += len(flux)
    if total is None or n == 0:
        raise SpectrumInputError("cannot compute principal components of an empty set of spectra")
    n_pixels = total.size
    if n_components > min(n, n_pixels):
        raise ConfigError(
            f"n_components = {n_components} exceeds what {n} spectra of {n_pixels} pixels "
            f"allow ({min(n, n_pixels)})"
        )
    mean = total / n
    width = min(n_components + oversample, n_pixels)
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n_pixels, width)))

    def covariance_times(block: np.ndarray) -> tuple[np.ndarray, float]:
        """(X - mean)^T (X - mean) @ block, and the sum of squared deviations, in one pass."""
        product, squares = np.zeros_like(block), 0.0
        for flux in batches():
            centred = np.asarray(flux, dtype=np.float64) - mean
            product += centred.T @ (centred @ block)
            squares += float(np.einsum("ij,ij->", centred, centred))
        return product, squares

    for _ in range(n_iter):
        basis, _ = np.linalg.qr(covariance_times(basis)[0])
    product, squares = covariance_times(basis)
    # Rayleigh-Ritz: the best components inside the converged subspace.
    eigenvalues, vectors = np.linalg.eigh(basis.T @ product)
    order = np.argsort(eigenvalues)[::-1][:n_components]
    components = (basis @ vectors[:, order]).T
    # A sign convention, so the same spectra always give the same coefficients.
    flip = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components *= flip[:, np.newaxis]
    return PCABasis(
        mean=mean,
        components=components,
        explained_variance=np.maximum(eigenvalues[order], 0.0) / n,
        total_variance=squares / n,
    )
