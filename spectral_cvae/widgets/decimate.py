"""Fewer points to draw, same look: what a screen can show of a 19,000-pixel spectrum."""

from __future__ import annotations

import numpy as np


def visible(wavelength: np.ndarray, low: float, high: float) -> slice:
    """Pixels inside ``[low, high]`` Angstrom, plus one on each side so lines reach the edges.

    Parameters
    ----------
    wavelength
        Increasing wavelengths, Angstrom.
    low, high
        The visible window, Angstrom.
    """
    start = max(int(np.searchsorted(wavelength, low, side="left")) - 1, 0)
    stop = min(int(np.searchsorted(wavelength, high, side="right")) + 1, wavelength.size)
    return slice(start, stop)


def _buckets(values: np.ndarray, most: int) -> np.ndarray:
    """``values`` cut into at most ``most`` consecutive buckets of equal size, ``(n, size)``.

    The last bucket is padded with the last value, which changes neither its minimum nor
    its maximum.
    """
    size = -(-values.size // most)
    n = -(-values.size // size)
    padded = np.concatenate([values, np.repeat(values[-1:], n * size - values.size)])
    return padded.reshape(n, size)


def min_max(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of a curve keeping each bucket's lowest and highest point.

    A line drawn from them looks like the full curve at screen resolution: no line core or
    emission spike is lost, as it would be by taking every n-th pixel.

    Parameters
    ----------
    x, y
        The curve (x increasing).
    max_points
        Points to keep at most (even; two per bucket).

    Returns
    -------
    x, y : numpy.ndarray
        The kept points, in order of x; the input itself when it is short enough.
    """
    if y.size <= max_points:
        return x, y
    buckets = _buckets(y, max_points // 2)
    n, size = buckets.shape
    first = np.arange(n)[:, None] * size
    pairs = np.sort(
        np.stack([buckets.argmin(axis=1), buckets.argmax(axis=1)], axis=1) + first, axis=1
    )
    keep = np.minimum(pairs.ravel(), y.size - 1)
    return x[keep], y[keep]


def envelope(
    x: np.ndarray, lower: np.ndarray, upper: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """A band from ``lower`` to ``upper`` in at most ``max_points`` points per edge.

    Each bucket of pixels keeps the lowest ``lower`` and the highest ``upper``, at its
    middle wavelength, so the drawn band covers the full one.

    Returns
    -------
    x : numpy.ndarray
        Wavelengths of the kept points.
    band : numpy.ndarray
        Shape ``(2, len(x))``: lower and upper edge; the input itself when short enough.
    """
    if x.size <= max_points:
        return x, np.vstack([lower, upper])
    buckets = _buckets(x, max_points)
    middle = 0.5 * (buckets[:, 0] + buckets[:, -1])
    low = _buckets(lower, max_points).min(axis=1)
    high = _buckets(upper, max_points).max(axis=1)
    return middle, np.vstack([low, high])
