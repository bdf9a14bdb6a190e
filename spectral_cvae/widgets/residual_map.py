"""ResidualMapViewer: mean |Delta F| over any parameter pair, per bin, with its spectra."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..errors import ConfigError
from ..evaluation import check_compatible, heat_map, marginals, residual_statistics
from ..evaluation.maps import HeatMap, Marginal
from ..evaluation.residuals import ResidualStatistics
from ..grid.store import SpectralGrid
from ..model.generator import SpectrumGenerator

HEAT_MAP_CLASS = "spectral-cvae-heat-map"
"""CSS class of the heat-map figure (its count labels let clicks through to the cells)."""


class ResidualMapViewer(widgets.VBox):
    """Heat map of the generator's mean |Delta F| over a parameter pair, and its marginals.

    Each spectrum of ``grid`` is generated at its parameters with z = 0 and compared with the
    grid: its mean |Delta F| over the wavelengths is one number, taken from
    :func:`~spectral_cvae.evaluation.residual_statistics` (given, or computed here).
    Those numbers are binned over the pair of parameters picked in two dropdowns (the mean
    per bin is the cell colour; empty bins are blank) with the spectra per bin written in
    each cell. Clicking a cell (or :meth:`select_bin`) draws up to ``n_lines`` of that bin's
    residual spectra, generated minus grid. A third dropdown picks the parameter of the
    marginal view: median and 16-84 % spread of the per-spectrum values along it.

    Parameters
    ----------
    generator
        A trained :class:`~spectral_cvae.model.SpectrumGenerator` on the grid's wavelengths
        and parameters.
    grid
        The spectra to compare with (typically the test split of the training grid).
    statistics
        ``residual_statistics(generator, grid, indices)`` when it is already computed, so
        the test spectra are not generated twice; None computes it here.
    indices
        Without ``statistics``: rows of ``grid`` to use (default all); their parameters must
        lie in the model's domain.
    bins
        Bins along x and y of the heat map.
    marginal_bins
        Bins of the marginal view.
    n_lines
        Residual spectra drawn for a selected bin, at most.
    batch_size
        Spectra generated and read per step while computing the residuals here.

    Attributes
    ----------
    statistics : ResidualStatistics
        The residuals the map bins.
    indices : numpy.ndarray
        Grid rows used, in the order of ``values``.
    parameters : numpy.ndarray
        Their parameters, shape ``(n, 6)``, in the order of ``generator.space``.
    values : numpy.ndarray
        Mean |Delta F| of each spectrum (continuum-normalized flux units).
    x_dropdown, y_dropdown, marginal_dropdown : ipywidgets.Dropdown
        The heat map's axes and the marginal parameter.
    map : HeatMap
        The binned values drawn now.
    heat, count_labels : bqplot.GridHeatMap, bqplot.Label
        The cells (colour: mean |Delta F| of the bin, ``color[j, i]`` for x bin i, y bin j)
        and the spectra per cell.
    selected_bin : tuple of int or None
        ``(i, j)``: the x and y bin shown in the lower panel.
    bin_rows : numpy.ndarray
        Grid rows in the selected bin.
    bin_lines : bqplot.Lines
        Their residual spectra (one row of ``y`` per drawn spectrum), wavelength in Angstrom.
    bin_label : ipywidgets.HTML
        The selected bin's ranges and count.
    marginal : Marginal
        The binned values along the marginal parameter drawn now.
    marginal_line, marginal_band, marginal_points : bqplot marks
        Median (line and points) and 16-84 % band per filled bin of the marginal parameter.
    """

    def __init__(
        self,
        generator: SpectrumGenerator,
        grid: SpectralGrid,
        statistics: ResidualStatistics | None = None,
        indices: np.ndarray | list[int] | None = None,
        bins: tuple[int, int] = (14, 12),
        marginal_bins: int = 10,
        n_lines: int = 5,
        batch_size: int = 256,
    ) -> None:
        check_compatible(generator, grid)
        if statistics is None:
            statistics = residual_statistics(generator, grid, indices, batch_size=batch_size)
        elif indices is not None:
            raise ConfigError("give the residual statistics or the indices to compute them on")
        self.generator = generator
        self.grid = grid
        self.space = generator.space
        self.bins = bins
        self.marginal_bins = int(marginal_bins)
        self.n_lines = int(n_lines)
        self.statistics = statistics
        self.indices = statistics.indices
        self.parameters = statistics.parameters
        self.values = statistics.spectrum_mean_abs
        self.selected_bin: tuple[int, int] | None = None
        self.bin_rows = np.empty(0, dtype=int)

        self._make_dropdowns()
        self.map = self._heat_map()
        self.figure = self._make_heat_map_figure()
        self.bin_figure = self._make_bin_figure()
        self.bin_label = widgets.HTML("Click a cell to see its residual spectra.")
        self.marginal_figure = self._make_marginal_figure()
        self.marginal_label = widgets.HTML()
        self.marginal: Marginal
        self._update_marginal()

        self.x_dropdown.observe(lambda change: self.update_map(), names="value")
        self.y_dropdown.observe(lambda change: self.update_map(), names="value")
        self.marginal_dropdown.observe(lambda change: self._update_marginal(), names="value")
        self.status = widgets.HTML()
        super().__init__(
            [
                self._style,
                widgets.HBox([self.x_dropdown, self.y_dropdown]),
                self.status,
                self.figure,
                self.bin_label,
                self.bin_figure,
                self.marginal_dropdown,
                self.marginal_label,
                self.marginal_figure,
            ]
        )
        self._update_status()

    # -- building ----------------------------------------------------------------------------
    def _make_dropdowns(self) -> None:
        names = list(self.space.names)
        options = [(self.space[name].axis_label, name) for name in names]
        self.x_dropdown = widgets.Dropdown(options=options, value=names[0], description="x")
        self.y_dropdown = widgets.Dropdown(options=options, value=names[1], description="y")
        self.marginal_dropdown = widgets.Dropdown(
            options=options, value=names[0], description="marginal"
        )

    def _make_heat_map_figure(self) -> bq.Figure:
        self.column_scale = bq.LinearScale()
        self.row_scale = bq.LinearScale()
        self.color_scale = bq.ColorScale(scheme="viridis")
        # The bin edges (one more than the cells): bqplot spans each cell between two of
        # them. With the centres (one per cell) it would start each cell at its centre,
        # half a bin off the count labels and the axes.
        self.heat = bq.GridHeatMap(
            column=self.map.x_edges,
            row=self.map.y_edges,
            color=self.map.mean.T,
            scales={"column": self.column_scale, "row": self.row_scale, "color": self.color_scale},
            null_color="white",
            stroke="lightgray",
        )
        self.count_labels = bq.Label(
            x=np.zeros(1),
            y=np.zeros(1),
            text=[""],
            scales={"x": self.column_scale, "y": self.row_scale},
            align="middle",
            default_size=9,
            colors=["black"],
        )
        # Empty bins: a cross on each says "no spectra here".
        self.empty_marks = bq.Scatter(
            x=np.zeros(0),
            y=np.zeros(0),
            scales={"x": self.column_scale, "y": self.row_scale},
            marker="cross",
            colors=["#b0b0b0"],
            default_size=36,
        )
        self._update_labels()
        self.x_axis = bq.Axis(scale=self.column_scale, label=self.space[self.map.x].axis_label)
        self.y_axis = bq.Axis(
            scale=self.row_scale, side="left", label=self.space[self.map.y].axis_label
        )
        self.color_axis = bq.ColorAxis(
            scale=self.color_scale, side="right", label="mean |Delta F|", tick_format=".1e"
        )
        figure = bq.Figure(
            marks=[self.heat, self.empty_marks, self.count_labels],
            axes=[self.x_axis, self.y_axis, self.color_axis],
            fig_margin={"top": 20, "bottom": 45, "left": 70, "right": 130},
            layout=widgets.Layout(width="100%", height="420px"),
        )
        self.heat.on_element_click(self._on_click)
        # A count sits on the middle of its cell, where a click is aimed: let clicks through
        # the text to the cell (bqplot sends no click event for a Label). A cell without a
        # value gets no inline fill from bqplot and would be black, like the dark end of the
        # colour scale; the style sheet's white applies to exactly those cells.
        figure.add_class(HEAT_MAP_CLASS)
        self._style = widgets.HTML(
            f"<style>.{HEAT_MAP_CLASS} text.label {{ pointer-events: none; }}\n"
            f".{HEAT_MAP_CLASS} rect.heatmapcell {{ fill: white; }}</style>"
        )
        return figure

    def _make_bin_figure(self) -> bq.Figure:
        wavelength = self.generator.wavelength.astype(np.float32)
        self.bin_lines = bq.Lines(
            x=wavelength,
            y=np.zeros((1, wavelength.size), dtype=np.float32),
            scales={"x": bq.LinearScale(), "y": bq.LinearScale()},
            stroke_width=0.8,
            visible=False,
        )
        return bq.Figure(
            marks=[self.bin_lines],
            axes=[
                bq.Axis(scale=self.bin_lines.scales["x"], label="wavelength (Angstrom)"),
                bq.Axis(scale=self.bin_lines.scales["y"], side="left", label="generated - grid"),
            ],
            fig_margin={"top": 10, "bottom": 45, "left": 70, "right": 20},
            layout=widgets.Layout(width="100%", height="220px"),
        )

    def _make_marginal_figure(self) -> bq.Figure:
        x_scale, y_scale = bq.LinearScale(), bq.LinearScale()
        scales = {"x": x_scale, "y": y_scale}
        self.marginal_band = bq.Lines(
            x=np.zeros(1),
            y=np.zeros((2, 1)),
            scales=scales,
            fill="between",
            fill_colors=["#1f77b4"],
            fill_opacities=[0.25],
            stroke_width=0,
            colors=["#1f77b4"],
        )
        self.marginal_line = bq.Lines(x=np.zeros(1), y=np.zeros(1), scales=scales)
        self.marginal_points = bq.Scatter(x=np.zeros(1), y=np.zeros(1), scales=scales)
        self.marginal_x_axis = bq.Axis(scale=x_scale, label="")
        return bq.Figure(
            marks=[self.marginal_band, self.marginal_line, self.marginal_points],
            axes=[
                self.marginal_x_axis,
                # Offset past the long ".1e" tick labels, which the default 4ex overlaps.
                bq.Axis(
                    scale=y_scale,
                    side="left",
                    label="mean |Delta F|",
                    tick_format=".1e",
                    label_offset="9ex",
                ),
            ],
            fig_margin={"top": 10, "bottom": 45, "left": 85, "right": 20},
            layout=widgets.Layout(width="100%", height="260px"),
        )

    # -- computing ---------------------------------------------------------------------------
    def residuals(self, rows: np.ndarray) -> np.ndarray:
        """Generated (z = 0) minus grid flux for some grid rows, shape ``(len(rows), n_pixels)``."""
        rows = np.asarray(rows, dtype=int)
        parameters = np.asarray(self.grid.parameters, dtype=float)[rows]
        generated = self.generator.generate(parameters, latent="mean")
        return generated - self.grid.read_flux(rows)

    def _heat_map(self) -> HeatMap:
        return heat_map(
            self.parameters,
            self.values,
            self.space,
            self.x_dropdown.value,
            self.y_dropdown.value,
            self.bins,
        )

    @staticmethod
    def _centres(edges: np.ndarray) -> np.ndarray:
        return 0.5 * (edges[1:] + edges[:-1])

    @staticmethod
    def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        # As numpy.histogram2d: half-open bins, the last one closed; -1 or n outside.
        index = np.searchsorted(edges, values, side="right") - 1
        index[values == edges[-1]] = len(edges) - 2
        return index

    # -- drawing -----------------------------------------------------------------------------
    def update_map(self) -> None:
        """Re-bin over the dropdowns' parameter pair and redraw the map in place."""
        if self.x_dropdown.value == self.y_dropdown.value:
            self.status.value = "<b>Pick two different parameters.</b>"
            return
        self.map = self._heat_map()
        with self.heat.hold_sync():
            self.heat.column = self.map.x_edges
            self.heat.row = self.map.y_edges
            self.heat.color = self.map.mean.T
        self._update_labels()
        self.x_axis.label = self.space[self.map.x].axis_label
        self.y_axis.label = self.space[self.map.y].axis_label
        self.select_bin(None)
        self._update_status()

    def _update_labels(self) -> None:
        filled_x, filled_y = np.nonzero(self.map.count)
        with self.count_labels.hold_sync():
            self.count_labels.x = self._centres(self.map.x_edges)[filled_x]
            self.count_labels.y = self._centres(self.map.y_edges)[filled_y]
            self.count_labels.text = [str(c) for c in self.map.count[filled_x, filled_y]]
        empty_x, empty_y = np.nonzero(self.map.count == 0)
        with self.empty_marks.hold_sync():
            self.empty_marks.x = self._centres(self.map.x_edges)[empty_x]
            self.empty_marks.y = self._centres(self.map.y_edges)[empty_y]

    def _update_status(self) -> None:
        self.status.value = (
            f"{len(self.values)} spectra; highest bin mean |Delta F| {self.map.maximum:.2e}; "
            f"{int((self.map.count == 0).sum())} empty bins (crossed); "
            f"{self.map.n_outside} outside"
        )

    def _on_click(self, mark: bq.GridHeatMap, content: dict) -> None:
        # The front end sends the clicked cell's datum; its rows are y bins, columns x bins.
        data = content.get("data") or {}
        if "rowNum" in data and "columnNum" in data:
            self.select_bin(int(data["columnNum"]), int(data["rowNum"]))

    def select_bin(self, i: int | None, j: int | None = None) -> None:
        """Show the residual spectra of x bin ``i`` and y bin ``j`` (None: clear).

        Parameters
        ----------
        i, j
            Bin indices along x and y, as in ``map.mean[i, j]``.
        """
        if i is None:
            self.selected_bin, self.bin_rows = None, np.empty(0, dtype=int)
            self.bin_lines.visible = False
            self.bin_label.value = "Click a cell to see its residual spectra."
            return
        names = self.space.names
        x_bin = self._bin_of(self.parameters[:, names.index(self.map.x)], self.map.x_edges)
        y_bin = self._bin_of(self.parameters[:, names.index(self.map.y)], self.map.y_edges)
        self.selected_bin = (int(i), int(j))
        self.bin_rows = self.indices[(x_bin == i) & (y_bin == j)]
        x_range = self.map.x_edges[i : i + 2]
        y_range = self.map.y_edges[j : j + 2]
        text = (
            f"{self.space[self.map.x].axis_label} {x_range[0]:.4g}-{x_range[1]:.4g}, "
            f"{self.space[self.map.y].axis_label} {y_range[0]:.4g}-{y_range[1]:.4g}: "
            f"<b>{len(self.bin_rows)} {'spectrum' if len(self.bin_rows) == 1 else 'spectra'}</b>"
        )
        if len(self.bin_rows) == 0:
            self.bin_lines.visible = False
            self.bin_label.value = text + " (empty bin)"
            return
        shown = self.bin_rows[: self.n_lines]
        with self.bin_lines.hold_sync():
            self.bin_lines.y = self.residuals(shown).astype(np.float32)
            self.bin_lines.labels = [f"grid #{row}" for row in shown]
            self.bin_lines.visible = True
        mean = float(self.map.mean[i, j])
        self.bin_label.value = (
            f"{text}, mean |Delta F| {mean:.2e}; residuals of {len(shown)} drawn below"
        )

    def _update_marginal(self) -> None:
        name = self.marginal_dropdown.value
        marginal = marginals(self.parameters, self.values, self.space, self.marginal_bins)[name]
        filled = marginal.count > 0
        centres = marginal.centres[filled]
        with self.marginal_band.hold_sync():
            self.marginal_band.x = centres
            self.marginal_band.y = np.vstack([marginal.p16[filled], marginal.p84[filled]])
        with self.marginal_line.hold_sync():
            self.marginal_line.x = centres
            self.marginal_line.y = marginal.median[filled]
        with self.marginal_points.hold_sync():
            self.marginal_points.x = centres
            self.marginal_points.y = marginal.median[filled]
        self.marginal_x_axis.label = self.space[name].axis_label
        self.marginal = marginal
        self.marginal_label.value = (
            "Median and 16-84 % of the per-spectrum mean |Delta F| along "
            f"{self.space[name].axis_label} "
            f"({int(filled.sum())} filled bins); Spearman rank correlation "
            f"{marginal.spearman:+.2f} (near 0: no trend)"
        )
