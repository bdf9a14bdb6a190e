"""A corner plot: each quantity's marginal histogram, and every pair's joint density."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def corner_plot(
    samples: np.ndarray,
    labels: Sequence[str],
    reference: np.ndarray | None = None,
    covariance: np.ndarray | None = None,
    bins: int = 30,
    figure=None,
    quantiles: Sequence[float] = (0.158655, 0.5, 0.841345),
):
    """Histograms of each column on the diagonal, 2-D densities of each pair below it.

    Parameters
    ----------
    samples
        Shape ``(n, n_dim)``, physical units.
    labels
        One axis label per column (name and unit).
    reference
        A point to mark in every panel (the least-squares optimum), shape ``(n_dim,)``.
    covariance
        Its covariance, shape ``(n_dim, n_dim)``: drawn as a Gaussian over each histogram and
        as 1- and 2-sigma ellipses over each pair, so the posterior can be seen beside the
        least-squares error bars.
    bins
        Bins per axis.
    figure
        A matplotlib figure to draw into; default a new one (no pyplot state is touched,
        so this is safe from any thread).
    quantiles
        Quantiles marked by dashed lines on the histograms and given in their titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    n_dim = samples.shape[1]
    if len(labels) != n_dim:
        raise ValueError(f"{len(labels)} labels for {n_dim} columns of samples")
    if figure is None:
        size = 1.9 * n_dim + 0.6
        figure = Figure(figsize=(size, size))
    axes = np.array(figure.subplots(n_dim, n_dim, squeeze=False))
    low, high = np.percentile(samples, [0.5, 99.5], axis=0)
    pad = 0.1 * np.where(high > low, high - low, 1.0)
    limits = np.stack([low - pad, high + pad], axis=1)
    sigma = None
    if covariance is not None and np.all(np.isfinite(covariance)):
        sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    for i in range(n_dim):
        for j in range(n_dim):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                _diagonal(ax, samples[:, i], limits[i], bins, quantiles, labels[i])
                if sigma is not None and reference is not None and sigma[i] > 0:
                    x = np.linspace(*limits[i], 200)
                    density = np.exp(-0.5 * ((x - reference[i]) / sigma[i]) ** 2)
                    density /= sigma[i] * np.sqrt(2.0 * np.pi)
                    ax.plot(x, density, color="tab:red", lw=0.9)
            else:
                counts, xe, ye = np.histogram2d(
                    samples[:, j], samples[:, i], bins=bins, range=[limits[j], limits[i]]
                )
                ax.pcolormesh(xe, ye, counts.T, cmap="Greys", shading="flat")
                if sigma is not None and reference is not None:
                    _ellipses(ax, reference[[j, i]], covariance[np.ix_([j, i], [j, i])])
                if reference is not None:
                    ax.plot(reference[j], reference[i], "+", color="tab:red", ms=7)
                ax.set_xlim(limits[j])
                ax.set_ylim(limits[i])
            if i == n_dim - 1:
                ax.set_xlabel(labels[j], fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i], fontsize=8)
            elif j > 0 or i == 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
            for tick in ax.get_xticklabels():
                tick.set_rotation(45)
    figure.subplots_adjust(left=0.1, bottom=0.1, right=0.98, top=0.95, wspace=0.06,
                           hspace=0.06)
    return figure


def _diagonal(ax, values: np.ndarray, limits: np.ndarray, bins: int,
              quantiles: Sequence[float], label: str) -> None:
    ax.hist(values, bins=bins, range=tuple(limits), density=True, histtype="step", color="k")
    marks = np.quantile(values, quantiles)
    for value in marks:
        ax.axvline(value, color="k", ls="--", lw=0.7)
    if len(marks) == 3:
        mid, minus, plus = marks[1], marks[1] - marks[0], marks[2] - marks[1]
        ax.set_title(f"{label}\n{mid:.4g} -{minus:.2g} +{plus:.2g}", fontsize=7)
    ax.set_xlim(limits)
    ax.set_yticks([])


def _ellipses(ax, centre: np.ndarray, covariance: np.ndarray) -> None:
    """1- and 2-sigma contours (39 % and 86 % of a 2-D Gaussian) of a covariance."""
    values, vectors = np.linalg.eigh(covariance)
    if np.any(values <= 0):
        return
    angle = np.linspace(0.0, 2.0 * np.pi, 100)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    for scale in (1.0, 2.0):
        points = centre[:, None] + scale * (vectors * np.sqrt(values)) @ circle
        ax.plot(points[0], points[1], color="tab:red", lw=0.8)
