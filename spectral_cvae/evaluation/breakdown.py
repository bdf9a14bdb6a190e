"""Where a generator fails: residuals by v sin i, R and Teff, with z = 0 and z ~ N(0, I).

A median |Delta F| over v sin i uniform in 0-300 km/s is dominated by smooth, fast-rotating
spectra; the typical FGK survey star is sharp-lined. This table splits the test spectra into
bins of v sin i, of R and of Teff, adds the *sharp-lined* row (v sin i < 20 km/s and
R > 20,000), and gives each both with the latent mean (z = 0, the most probable spectrum)
and with z drawn from N(0, I) as the paper generates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from ..emulator import SpectrumEmulator
from ..grid.store import SpectralGrid
from ..parameters import ParameterSpace
from .residuals import HISTOGRAM_RANGE, _LogHistogram

LATENTS = ("mean", "sample")
"""Columns of the table: z = 0 and z ~ N(0, I)."""
VSINI_EDGES = (0.0, 20.0, 50.0, 100.0, 200.0, 300.0)
"""v sin i bins, km/s."""
RESOLUTION_EDGES = (1_000.0, 5_000.0, 20_000.0, 50_000.0, 115_000.0)
"""Resolving-power bins."""
TEFF_EDGES = (4_000.0, 5_000.0, 6_400.0, 8_000.0, 11_000.0)
"""Effective-temperature bins, K."""
SHARP_LINED = "sharp-lined (v sin i < 20 km/s, R > 20,000)"
BREAKDOWN_BINS_PER_DECADE = 200


def _bins(
    space: ParameterSpace, name: str, edges: tuple[float, ...], label: str, unit: str
) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    if name not in space.names:
        return []
    k = space.names.index(name)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        last = high == edges[-1]

        def inside(p: np.ndarray, k=k, low=low, high=high, last=last) -> np.ndarray:
            return (p[:, k] >= low) & ((p[:, k] <= high) if last else (p[:, k] < high))

        rows.append((f"{label} {low:,.0f}-{high:,.0f}{unit}", inside))
    return rows


def breakdown_rows(space: ParameterSpace) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """The table's rows for ``space``: a label and a test on parameters ``(n, len(space))``."""
    rows: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
        ("all test spectra", lambda p: np.ones(len(p), dtype=bool))
    ]
    if "vsini" in space.names and "resolution" in space.names:
        v, r = space.names.index("vsini"), space.names.index("resolution")
        rows.append((SHARP_LINED, lambda p: (p[:, v] < 20.0) & (p[:, r] > 20_000.0)))
    rows += _bins(space, "vsini", VSINI_EDGES, "v sin i", " km/s")
    rows += _bins(space, "resolution", RESOLUTION_EDGES, "R", "")
    rows += _bins(space, "teff", TEFF_EDGES, "Teff", " K")
    return rows


def _generate(
    generator: SpectrumEmulator, parameters: np.ndarray, latent: str, seed: int
) -> np.ndarray:
    """Spectra with z = 0 or drawn; a seed is passed to generators that take one."""
    if latent == "sample" and "seed" in inspect.signature(generator.generate).parameters:
        return np.asarray(generator.generate(parameters, latent=latent, seed=seed))
    return np.asarray(generator.generate(parameters, latent=latent))


class BreakdownAccumulator:
    """|Delta F| histograms per bin of :func:`breakdown_rows`, one set per latent column.

    Parameters
    ----------
    space
        The parameter space of the spectra (which bins exist).
    latents
        Columns: ``"mean"`` (z = 0) and/or ``"sample"`` (z ~ N(0, I)).
    """

    def __init__(self, space: ParameterSpace, latents: tuple[str, ...] = LATENTS) -> None:
        self.tests = breakdown_rows(space)
        self.latents = tuple(latents)
        self.histograms = {
            latent: [_LogHistogram(BREAKDOWN_BINS_PER_DECADE) for _ in self.tests]
            for latent in self.latents
        }
        self.counts = {latent: np.zeros(len(self.tests), dtype=np.int64) for latent in latents}

    def add(self, latent: str, parameters: np.ndarray, absolute: np.ndarray) -> None:
        """Count a batch: parameters ``(k, n_parameters)``, |Delta F| ``(k, n_pixels)``."""
        for k, (_, test) in enumerate(self.tests):
            mask = test(parameters)
            if mask.any():
                self.histograms[latent][k].add(absolute[mask])
                self.counts[latent][k] += int(mask.sum())

    def result(self) -> dict:
        """``latents``; ``rows``: ``{"label", "n_spectra", "median": {latent: x}, "p95": ...}``
        in flux units (None for an empty bin)."""
        table = []
        counts = self.counts[self.latents[0]]
        for k, (label, _) in enumerate(self.tests):
            entry: dict = {"label": label, "n_spectra": int(counts[k]), "median": {}, "p95": {}}
            for latent in self.latents:
                if self.counts[latent][k]:
                    median, p95 = self.histograms[latent][k].quantiles((0.5, 0.95))[:, 0]
                    entry["median"][latent], entry["p95"][latent] = float(median), float(p95)
                else:
                    entry["median"][latent] = entry["p95"][latent] = None
            table.append(entry)
        return {
            "latents": list(self.latents),
            "rows": table,
            "histogram_range": list(HISTOGRAM_RANGE),
        }


def residual_breakdown(
    generator: SpectrumEmulator,
    grid: SpectralGrid,
    rows: np.ndarray | None = None,
    batch_size: int = 256,
    seed: int = 0,
    latents: tuple[str, ...] = LATENTS,
    accumulator: BreakdownAccumulator | None = None,
) -> dict:
    """Median and 95th percentile of |Delta F| per bin of v sin i, R and Teff.

    Parameters
    ----------
    generator
        Anything with ``generate(parameters, latent=...)`` giving spectra on the grid's
        wavelengths.
    grid
        The synthetic spectra to compare with.
    rows
        Grid rows to use (the test spectra); default every row.
    batch_size
        Spectra generated and read per step.
    seed
        Seed of the z draws (for generators whose ``generate`` takes a ``seed``).
    latents
        The columns to generate here: ``"mean"`` (z = 0) and/or ``"sample"`` (z ~ N(0, I)).
    accumulator
        One already holding other columns (e.g. filled during
        :func:`~spectral_cvae.evaluation.residual_statistics`), so no spectra are generated
        twice; default a new one for ``latents``.

    Returns
    -------
    dict
        See :meth:`BreakdownAccumulator.result`.
    """
    rows = np.arange(grid.n_spectra) if rows is None else np.asarray(rows)
    accumulator = accumulator or BreakdownAccumulator(grid.space, latents)
    for batch, (_, parameters, synthetic) in enumerate(grid.iter_batches(batch_size, rows)):
        for latent in latents:
            flux = _generate(generator, parameters, latent, seed + batch)
            accumulator.add(latent, parameters, np.abs(flux.astype(np.float64) - synthetic))
    return accumulator.result()


def breakdown_table(breakdown: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the breakdown for a Markdown/HTML table or a terminal."""
    names = {"mean": "z = 0", "sample": "z ~ N(0, I)"}
    header = ["test spectra", "n"]
    for latent in breakdown["latents"]:
        header += [f"median |dF| ({names[latent]})", f"95th pct ({names[latent]})"]
    rows = []
    for entry in breakdown["rows"]:
        cells = [entry["label"], str(entry["n_spectra"])]
        for latent in breakdown["latents"]:
            for key in ("median", "p95"):
                value = entry[key][latent]
                cells.append("-" if value is None else f"{value:.2e}")
        rows.append(cells)
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns, for a terminal."""
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


__all__ = [
    "LATENTS",
    "SHARP_LINED",
    "breakdown_rows",
    "breakdown_table",
    "format_table",
    "residual_breakdown",
]
