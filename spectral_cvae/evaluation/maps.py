"""Residuals over parameter space: heat maps over a parameter pair and marginals.

The paper shows the mean |Delta F| over the Teff-log g plane (below 2e-3 everywhere, its
section 4.2) and the residuals against each parameter (no trends, section 4.3). Both are
binned summaries of one number per test spectrum (its mean |Delta F|); the bin counts travel
with them, so an empty or thinly populated bin is never mistaken for a good one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..parameters import ParameterSpace


@dataclass(frozen=True)
class HeatMap:
    """Mean of a per-spectrum value in the bins of a parameter plane.

    Attributes
    ----------
    x, y
        Parameter names on the two axes.
    x_edges, y_edges
        Bin edges in the parameters' units; the last bin includes its upper edge.
    mean
        Mean value per bin, shape ``(n_x, n_y)`` (x first); NaN where a bin is empty.
    count
        Spectra per bin, same shape.
    n_outside
        Spectra lying outside the binned ranges (not counted in any bin).
    """

    x: str
    y: str
    x_edges: np.ndarray
    y_edges: np.ndarray
    mean: np.ndarray
    count: np.ndarray
    n_outside: int

    @property
    def maximum(self) -> float:
        """Largest bin mean (NaN if every bin is empty)."""
        filled = self.mean[self.count > 0]
        return float(filled.max()) if filled.size else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready: edges, means (None for empty bins) and counts, x index first."""
        return {
            "x": self.x,
            "y": self.y,
            "x_edges": self.x_edges.tolist(),
            "y_edges": self.y_edges.tolist(),
            "mean": [[None if np.isnan(v) else float(v) for v in row] for row in self.mean],
            "count": self.count.tolist(),
            "n_outside": self.n_outside,
            "maximum": self.maximum,
            "n_empty_bins": int((self.count == 0).sum()),
        }


def _column(space: ParameterSpace, name: str) -> int:
    try:
        return space.names.index(name)
    except ValueError:
        raise ParameterError(
            f"no parameter {name!r}; choose from {', '.join(space.names)}"
        ) from None


def _check(parameters: np.ndarray, values: np.ndarray, space: ParameterSpace) -> None:
    if parameters.ndim != 2 or parameters.shape[1] != len(space):
        raise ValueError(
            f"parameters of shape {parameters.shape}; expected (n, {len(space)}) in the order "
            f"{', '.join(space.names)}"
        )
    if values.shape != (len(parameters),):
        raise ValueError(
            f"values of shape {values.shape}; expected ({len(parameters)},), one per spectrum"
        )


def heat_map(
    parameters: np.ndarray,
    values: np.ndarray,
    space: ParameterSpace,
    x: str = "teff",
    y: str = "logg",
    bins: int | tuple[int, int] = (14, 12),
    ranges: Sequence[tuple[float, float]] | None = None,
) -> HeatMap:
    """Bin a per-spectrum value over a parameter pair.

    Parameters
    ----------
    parameters
        Shape ``(n, n_parameters)`` in the order of ``space``.
    values
        One value per spectrum, shape ``(n,)`` (e.g. its mean |Delta F|).
    space
        Names the columns; its ranges are the default bin ranges, so the map covers the
        whole training domain and shows where the test set has no spectra.
    x, y
        Parameter names for the two axes (any pair of the space's parameters).
    bins
        Number of bins along x and y (one int for both).
    ranges
        ``((x_min, x_max), (y_min, y_max))`` in the parameters' units; default the domain.

    Returns
    -------
    HeatMap
    """
    parameters = np.asarray(parameters, dtype=float)
    values = np.asarray(values, dtype=float)
    _check(parameters, values, space)
    if x == y:
        raise ParameterError(f"a heat map needs two different parameters, got {x!r} twice")
    i, j = _column(space, x), _column(space, y)
    n_x, n_y = (bins, bins) if np.ndim(bins) == 0 else bins
    if ranges is None:
        ranges = ((space[x].minimum, space[x].maximum), (space[y].minimum, space[y].maximum))
    x_edges = np.linspace(*ranges[0], int(n_x) + 1)
    y_edges = np.linspace(*ranges[1], int(n_y) + 1)
    count, _, _ = np.histogram2d(parameters[:, i], parameters[:, j], [x_edges, y_edges])
    total, _, _ = np.histogram2d(
        parameters[:, i], parameters[:, j], [x_edges, y_edges], weights=values
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return HeatMap(
        x=x,
        y=y,
        x_edges=x_edges,
        y_edges=y_edges,
        mean=mean,
        count=count.astype(np.int64),
        n_outside=int(len(parameters) - count.sum()),
    )


@dataclass(frozen=True)
class Marginal:
    """A per-spectrum value binned along one parameter.

    Attributes
    ----------
    parameter
        Name of the parameter.
    edges
        Bin edges in its unit; the last bin includes its upper edge.
    count
        Spectra per bin.
    median, p16, p84, mean
        Median, 16th and 84th percentiles (the spread) and mean per bin; NaN if empty.
    spearman
        Spearman rank correlation between the parameter and the value over all spectra:
        near 0 means no trend (NaN if undefined, e.g. a constant parameter).
    """

    parameter: str
    edges: np.ndarray
    count: np.ndarray
    median: np.ndarray
    p16: np.ndarray
    p84: np.ndarray
    mean: np.ndarray
    spearman: float

    @property
    def centres(self) -> np.ndarray:
        """Bin centres."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def to_dict(self) -> dict:
        """JSON-ready lists (None for empty bins)."""

        def clean(array: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in array]

        return {
            "edges": self.edges.tolist(),
            "count": self.count.tolist(),
            "median": clean(self.median),
            "p16": clean(self.p16),
            "p84": clean(self.p84),
            "mean": clean(self.mean),
            "spearman": None if np.isnan(self.spearman) else self.spearman,
        }


def marginals(
    parameters: np.ndarray, values: np.ndarray, space: ParameterSpace, bins: int = 10
) -> dict[str, Marginal]:
    """Bin a per-spectrum value along each parameter of the space over its whole range.

    Parameters
    ----------
    parameters
        Shape ``(n, n_parameters)`` in the order of ``space``.
    values
        One value per spectrum, shape ``(n,)``.
    space
        Names the columns and gives the bin ranges (the domain).
    bins
        Number of bins per parameter.

    Returns
    -------
    dict
        Parameter name -> :class:`Marginal`, in the space's order.
    """
    from scipy.stats import spearmanr

    parameters = np.asarray(parameters, dtype=float)
    values = np.asarray(values, dtype=float)
    _check(parameters, values, space)
    result = {}
    for k, p in enumerate(space.parameters):
        column = parameters[:, k]
        edges = np.linspace(p.minimum, p.maximum, bins + 1)
        # digitize puts the upper edge in an extra bin; fold it into the last, as histogram does.
        which = np.clip(np.digitize(column, edges) - 1, 0, bins - 1)
        inside = (column >= p.minimum) & (column <= p.maximum)
        stats = np.full((4, bins), np.nan)
        count = np.zeros(bins, dtype=np.int64)
        for b in range(bins):
            chosen = values[inside & (which == b)]
            count[b] = chosen.size
            if chosen.size:
                stats[:, b] = [*np.percentile(chosen, [50, 16, 84]), chosen.mean()]
        constant = len(column) < 2 or np.ptp(column) == 0 or np.ptp(values) == 0
        rho = float("nan") if constant else float(spearmanr(column, values).statistic)
        result[p.name] = Marginal(p.name, edges, count, *stats, spearman=rho)
    return result
