"""Matplotlib figures of the evaluation: the paper's figures, with bin counts shown.

Every function draws on a new figure, saves it as PNG and closes it, so a report of many
figures does not accumulate open figures; the Agg backend is used, so no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..parameters import ParameterSpace
from .maps import HeatMap, Marginal
from .residuals import QUANTILES, ResidualStatistics

PAPER_MEDIAN_LIMIT = 1.8e-3
"""The paper's median |Delta F| over the test spectra: below this (section 4)."""
PAPER_HEAT_MAP_LIMIT = 2e-3
"""The paper's mean |Delta F| in every Teff-log g bin: below this (section 4.2)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def plot_residual_spectrum(statistics: ResidualStatistics, path: Path) -> Path:
    """Bias, scatter and |Delta F| quantiles against wavelength."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    wavelength = statistics.wavelength
    top.plot(wavelength, statistics.pixel_bias, lw=0.6, label="bias (mean Delta F)")
    top.fill_between(
        wavelength,
        statistics.pixel_bias - statistics.pixel_scatter,
        statistics.pixel_bias + statistics.pixel_scatter,
        alpha=0.3,
        lw=0,
        label="bias +- scatter (std)",
    )
    top.axhline(0.0, color="k", lw=0.5)
    top.set_ylabel("Delta F (generated - synthetic)")
    top.legend(loc="upper right", fontsize=8)
    for level, row in zip(QUANTILES, statistics.pixel_quantiles):
        label = "median" if level == 0.5 else f"{round(100 * level)}th percentile"
        bottom.plot(wavelength, row, lw=0.6, label=f"{label} |Delta F|")
    bottom.axhline(PAPER_MEDIAN_LIMIT, color="k", ls="--", lw=0.8, label="paper: median < 1.8e-3")
    bottom.set_yscale("log")
    bottom.set_xlabel("wavelength [Angstrom]")
    bottom.set_ylabel("|Delta F|")
    bottom.legend(loc="upper right", fontsize=8, ncol=3)
    top.set_title(
        f"{statistics.n_spectra} test spectra: median |Delta F| = "
        f"{statistics.overall['median']:.2e}",
        fontsize=10,
    )
    return _save(fig, path)


def plot_heat_map(heat_map: HeatMap, space: ParameterSpace, path: Path) -> Path:
    """Mean |Delta F| per bin (empty bins blank) beside the number of spectra per bin."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    x, y = space[heat_map.x], space[heat_map.y]
    masked = np.ma.masked_invalid(heat_map.mean.T)
    image = left.pcolormesh(heat_map.x_edges, heat_map.y_edges, masked, cmap="viridis")
    fig.colorbar(image, ax=left, label="mean |Delta F|")
    left.set_title(f"mean |Delta F| (max {heat_map.maximum:.2e}; paper < 2e-3)", fontsize=10)
    counts = right.pcolormesh(heat_map.x_edges, heat_map.y_edges, heat_map.count.T, cmap="Greys")
    fig.colorbar(counts, ax=right, label="test spectra per bin")
    n_empty = int((heat_map.count == 0).sum())
    right.set_title(f"spectra per bin ({n_empty} of {heat_map.count.size} empty)", fontsize=10)
    if heat_map.count.size <= 400:
        xc = 0.5 * (heat_map.x_edges[1:] + heat_map.x_edges[:-1])
        yc = 0.5 * (heat_map.y_edges[1:] + heat_map.y_edges[:-1])
        for i, xv in enumerate(xc):
            for j, yv in enumerate(yc):
                right.text(
                    xv,
                    yv,
                    str(heat_map.count[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="tab:red",
                )
    for ax in (left, right):
        ax.set_xlabel(x.axis_label)
        ax.set_ylabel(y.axis_label)
    # Spectroscopists read the Kiel diagram with Teff and log g increasing to the left/down.
    if heat_map.x == "teff" and heat_map.y == "logg":
        for ax in (left, right):
            ax.invert_xaxis()
            ax.invert_yaxis()
    return _save(fig, path)


def plot_marginals(
    marginals: dict[str, Marginal], space: ParameterSpace, path: Path, what: str
) -> Path:
    """Binned median and 16-84 % spread of a per-spectrum value against each parameter."""
    plt = _pyplot()
    n = len(marginals)
    columns = 3
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, (name, marginal) in zip(axes.ravel(), marginals.items()):
        p = space[name]
        centres = marginal.centres
        ax.fill_between(centres, marginal.p16, marginal.p84, alpha=0.3, lw=0, label="16-84 %")
        ax.plot(centres, marginal.median, "o-", ms=3, label="median")
        for c, k in zip(centres, marginal.count):
            ax.annotate(
                str(k),
                (c, 0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=6,
                color="grey",
            )
        rho = "n/a" if np.isnan(marginal.spearman) else f"{marginal.spearman:+.2f}"
        ax.set_title(f"{p.label}: Spearman rho {rho}", fontsize=9)
        ax.set_xlabel(p.axis_label)
        ax.set_ylabel(what, fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    return _save(fig, path)


def plot_example(
    wavelength: np.ndarray,
    synthetic: np.ndarray,
    generated: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """A generated spectrum over the synthetic one, with the residual below."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    top.plot(wavelength, synthetic, lw=0.7, color="k", label="synthetic")
    top.plot(wavelength, generated, lw=0.6, color="tab:red", alpha=0.8, label="generated")
    top.set_ylabel("normalized flux")
    top.legend(loc="lower right", fontsize=8)
    top.set_title(title, fontsize=9)
    bottom.plot(wavelength, generated - synthetic, lw=0.5, color="tab:blue")
    bottom.axhline(0.0, color="k", lw=0.5)
    bottom.set_ylabel("Delta F")
    bottom.set_xlabel("wavelength [Angstrom]")
    return _save(fig, path)


def plot_accuracy_table(rows: list[list[str]], header: list[str], path: Path) -> Path:
    """The accuracy table drawn as a figure, for slides and notebooks."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(2 + 1.6 * len(header), 16), 0.45 * len(rows) + 1.0))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.3)
    return _save(fig, path)
