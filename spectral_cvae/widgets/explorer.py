"""SpectrumExplorer: sliders over the six parameters and a live plot of the generated spectrum."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..errors import SpectralCVAEError
from ..grid.physics import model_caveats
from ..grid.store import SpectralGrid
from ..io import write_spectra
from ..model.generator import SpectrumGenerator
from .decimate import envelope, min_max, visible
from .throttle import Throttle

H_BETA_WINDOW = (4851.3, 4871.3)
"""Zoom window around H-beta (4861.3 A, air), Angstrom."""
MG_B_WINDOW = (5160.0, 5190.0)
"""Zoom window over the Mg b triplet (5167.3, 5172.7, 5183.6 A), Angstrom."""
SUN = {"teff": 5800.0, "logg": 4.4, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000.0}
"""Starting point of the sliders where the model's domain holds it: a solar-like star."""
STEPS = {"teff": 10.0, "logg": 0.01, "vsini": 0.5, "mh": 0.01, "vmic": 0.05, "resolution": 500.0}
"""Slider steps in each parameter's unit: finer than the paper's inverter errors."""


class SpectrumExplorer(widgets.VBox):
    """Generate spectra live from sliders over the model's parameters.

    One slider per parameter of ``generator.space``, bounded by its training domain (a value
    outside it cannot be chosen: the slider clamps it). Each change redraws, in place:

    - the spectrum generated with z = 0 (the most probable spectrum), ``line``;
    - the band of +/- 1 standard deviation over ``n_samples`` draws of z, ``band``: the
      spread the model has learnt at these parameters;
    - with a ``grid``, the grid spectrum nearest in normalized parameters (``grid_line``) and
      generated minus grid in a second panel (``residual_line``).

    Under the sliders: what the training grid's physics lacks at the chosen star (no molecular
    lines in cool stars, no He I in hot ones; :func:`~.grid.physics.physics_caveats`).

    Buttons zoom to H-beta and the Mg b triplet (drag to pan, wheel to zoom), and save the
    current spectrum with its spread and parameters as FITS, CSV or HDF5
    (:func:`~spectral_cvae.io.write_spectra`).

    Only the visible window is sent to the browser, in at most ``max_points`` points per
    curve (each bucket of pixels keeps its lowest and highest point, so no line core is
    lost): drawing 19,000-point paths, not the decoder, is what makes a redraw slow. Zoom in
    and the curves are drawn at full resolution; ``flux`` and Save always hold every pixel.

    Parameters
    ----------
    generator
        A trained :class:`~spectral_cvae.model.SpectrumGenerator`.
    grid
        Optional grid over the same parameter names, for the nearest-spectrum overlay. Its
        flux is interpolated to the generator's wavelengths.
    n_samples
        Draws of z for the band (0: no band).
    seed
        Seed of those draws, so the band does not flicker between identical parameters.
    interval
        Minimum time between two redraws while a slider is dragged, seconds.
    save_path
        Default file name of the Save button.
    max_points
        Points drawn per curve at most (the figure is about 1,000 screen pixels wide).

    Attributes
    ----------
    sliders : dict of str to ipywidgets.FloatSlider
        One per parameter name.
    line, band, grid_line, residual_line : bqplot.Lines
        The drawn marks; their ``x`` is the wavelength in Angstrom.
    x_scale : bqplot.LinearScale
        The shared wavelength axis; ``min``/``max`` is the visible window.
    flux, std : numpy.ndarray
        The current generated spectrum and its spread (continuum-normalized flux).
    nearest_index : int or None
        Row of ``grid`` shown in the overlay.
    caveats : list of str
        What the training grid's physics misses at the sliders' star, shown in
        ``caveat_box``.
    last_redraw_s : float
        Time of the last redraw (decoder runs plus mark updates), seconds.
    """

    def __init__(
        self,
        generator: SpectrumGenerator,
        grid: SpectralGrid | None = None,
        n_samples: int = 16,
        seed: int = 0,
        interval: float = 0.05,
        save_path: str | os.PathLike = "spectrum.fits",
        max_points: int = 2000,
    ) -> None:
        self.generator = generator
        self.space = generator.space
        self.wavelength = generator.wavelength
        self.n_samples = int(n_samples)
        self.seed = seed
        self.flux = np.ones(self.wavelength.size, dtype=np.float32)
        self.std = np.zeros_like(self.flux)
        self.max_points = int(max_points)
        self._lower = self._upper = self.flux
        self._nearest_flux: np.ndarray | None = None
        self.nearest_index: int | None = None
        self.last_redraw_s = 0.0
        self._grid = grid
        self._grid_normalized = self._normalized_grid_parameters(grid)
        self.caveats: list[str] = []
        self.caveat_box = widgets.HTML()

        self.sliders = {p.name: self._slider(p) for p in (self.space[n] for n in self.space.names)}
        self._throttled_update = Throttle(self.update, interval)
        for slider in self.sliders.values():
            slider.observe(lambda change: self._throttled_update(), names="value")

        self.x_scale = bq.LinearScale(min=float(self.wavelength[0]), max=float(self.wavelength[-1]))
        self._throttled_draw = Throttle(self._draw, interval)
        self.x_scale.observe(lambda change: self._throttled_draw(), names=["min", "max"])
        y_scale = bq.LinearScale(min=0.0, max=1.1)
        wavelength = self.wavelength.astype(np.float32)
        self.band = bq.Lines(
            x=wavelength,
            y=np.vstack([self.flux, self.flux]),
            scales={"x": self.x_scale, "y": y_scale},
            fill="between",
            fill_colors=["#1f77b4"],
            fill_opacities=[0.25],
            stroke_width=0,
            colors=["#1f77b4"],
            display_legend=False,
            labels=["+/- 1 std over z"],
        )
        self.line = bq.Lines(
            x=wavelength,
            y=self.flux,
            scales={"x": self.x_scale, "y": y_scale},
            colors=["#1f77b4"],
            stroke_width=1.2,
            labels=["generated (z = 0)"],
            display_legend=True,
        )
        self.grid_line = bq.Lines(
            x=wavelength,
            y=self.flux,
            scales={"x": self.x_scale, "y": y_scale},
            colors=["#d62728"],
            stroke_width=1.0,
            opacities=[0.8],
            labels=["nearest grid spectrum"],
            display_legend=grid is not None,
            visible=grid is not None,
        )
        x_axis = bq.Axis(scale=self.x_scale, label="wavelength (Angstrom)")
        y_axis = bq.Axis(scale=y_scale, side="left", label="normalized flux")
        pan_zoom = bq.interacts.PanZoom(scales={"x": [self.x_scale]})
        self.figure = bq.Figure(
            marks=[self.band, self.line, self.grid_line],
            axes=[x_axis, y_axis],
            interaction=pan_zoom,
            legend_location="bottom-left",
            fig_margin={"top": 20, "bottom": 45, "left": 60, "right": 20},
            layout=widgets.Layout(width="100%", height="380px"),
        )

        residual_scale = bq.LinearScale(min=-0.05, max=0.05)
        self.residual_line = bq.Lines(
            x=wavelength,
            y=np.zeros_like(self.flux),
            scales={"x": self.x_scale, "y": residual_scale},
            colors=["#2ca02c"],
            stroke_width=1.0,
        )
        self.residual_figure = bq.Figure(
            marks=[self.residual_line],
            axes=[
                bq.Axis(scale=self.x_scale, label="wavelength (Angstrom)"),
                bq.Axis(scale=residual_scale, side="left", label="generated - grid"),
            ],
            fig_margin={"top": 10, "bottom": 45, "left": 60, "right": 20},
            layout=widgets.Layout(
                width="100%", height="180px", display=None if grid is not None else "none"
            ),
        )

        self.zoom_buttons = {
            "full": self._zoom_button("Full window", None),
            "hbeta": self._zoom_button("H-beta 4861", H_BETA_WINDOW),
            "mgb": self._zoom_button("Mg b 5160-5190", MG_B_WINDOW),
        }
        self.save_name = widgets.Text(value=str(save_path), description="File")
        self.save_button = widgets.Button(
            description="Save",
            icon="save",
            tooltip="Save as FITS (.fits), CSV (.csv) or HDF5 (.h5)",
        )
        self.save_button.on_click(lambda _: self._save_clicked())
        self.status = widgets.HTML()

        controls = widgets.VBox(list(self.sliders.values()))
        buttons = widgets.HBox([*self.zoom_buttons.values(), self.save_name, self.save_button])
        super().__init__(
            [controls, self.caveat_box, buttons, self.figure, self.residual_figure, self.status]
        )
        self.update()

    # -- building ----------------------------------------------------------------------------
    def _slider(self, parameter) -> widgets.FloatSlider:
        start = SUN.get(parameter.name, 0.5 * (parameter.minimum + parameter.maximum))
        step = STEPS.get(parameter.name, parameter.span / 1000)
        return widgets.FloatSlider(
            value=float(np.clip(start, parameter.minimum, parameter.maximum)),
            min=parameter.minimum,
            max=parameter.maximum,
            step=step,
            description=parameter.axis_label,
            readout_format=".0f" if step >= 1 else ".2f",
            continuous_update=True,
            style={"description_width": "150px"},
            layout=widgets.Layout(width="520px"),
        )

    def _zoom_button(self, label: str, window: tuple[float, float] | None) -> widgets.Button:
        button = widgets.Button(description=label)
        button.on_click(lambda _: self.zoom(window))
        return button

    def _normalized_grid_parameters(self, grid: SpectralGrid | None) -> np.ndarray | None:
        if grid is None:
            return None
        columns = [grid.space.names.index(name) for name in self.space.names]
        return self.space.normalize(np.asarray(grid.parameters)[:, columns])

    # -- state -------------------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, float]:
        """The sliders' values, by parameter name, in each parameter's unit."""
        return {name: float(slider.value) for name, slider in self.sliders.items()}

    def update(self) -> None:
        """Generate at the sliders' values and redraw every mark in place."""
        start = time.perf_counter()
        point = np.array([list(self.parameters.values())])
        self.flux = self.generator.generate(point, latent="mean")[0]
        if self.n_samples > 1:
            spread = self.generator.sample(point, self.n_samples, seed=self.seed)
            self._lower = spread.mean[0] - spread.std[0]
            self._upper = spread.mean[0] + spread.std[0]
            self.std = spread.std[0]
        else:
            self._lower = self._upper = self.flux
        if self._grid is not None:
            self._update_nearest(point)
        self._update_caveats()
        self._draw()
        self.last_redraw_s = time.perf_counter() - start

    def _update_caveats(self) -> None:
        self.caveats = model_caveats(self.generator.provenance, self.parameters)
        self.caveat_box.value = "".join(
            f"<div style='color:#8a5300'>&#9888; {html.escape(text)}</div>" for text in self.caveats
        )

    def _draw(self) -> None:
        """Send the visible part of every curve to the marks, at screen resolution."""
        window = visible(self.wavelength, self.x_scale.min, self.x_scale.max)
        x = self.wavelength[window]
        with self.line.hold_sync(), self.band.hold_sync():
            self.line.x, self.line.y = min_max(x, self.flux[window], self.max_points)
            band_x, band = envelope(x, self._lower[window], self._upper[window], self.max_points)
            self.band.x, self.band.y = band_x, band
        if self._nearest_flux is not None:
            residual = self.flux[window] - self._nearest_flux[window]
            with self.grid_line.hold_sync(), self.residual_line.hold_sync():
                self.grid_line.x, self.grid_line.y = min_max(
                    x, self._nearest_flux[window], self.max_points
                )
                self.residual_line.x, self.residual_line.y = min_max(x, residual, self.max_points)

    def _update_nearest(self, point: np.ndarray) -> None:
        distance = np.sum((self._grid_normalized - self.space.normalize(point)) ** 2, axis=1)
        index = int(np.argmin(distance))
        if index != self.nearest_index:
            self.nearest_index = index
            self._nearest_flux = np.interp(
                self.wavelength, self._grid.wavelength, self._grid.spectrum(index)
            ).astype(np.float32)
            row = self._grid.parameters[index]
            text = ", ".join(
                f"{self._grid.space[n].label} {row[self._grid.space.names.index(n)]:.4g}"
                for n in self.space.names
            )
            self.grid_line.labels = [f"grid #{index}: {text}"]

    def zoom(self, window: tuple[float, float] | None) -> None:
        """Show ``window`` (Angstrom), or the whole spectrum for None."""
        low, high = window or (float(self.wavelength[0]), float(self.wavelength[-1]))
        with self.x_scale.hold_sync(), self.x_scale.hold_trait_notifications():
            self.x_scale.min, self.x_scale.max = float(low), float(high)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the current spectrum: wavelength (Angstrom), flux, its spread, parameters.

        Parameters
        ----------
        path
            ``.fits``, ``.csv`` or ``.h5``: the layouts of
            :func:`~spectral_cvae.io.write_spectra` (replacing an existing file, atomically),
            which :func:`~spectral_cvae.io.read_spectrum` and
            :func:`~spectral_cvae.io.read_spectra` read back.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        point = np.array([list(self.parameters.values())])
        written = write_spectra(
            path,
            self.wavelength,
            self.flux[np.newaxis],
            point,
            self.space,
            std=self.std[np.newaxis] if self.n_samples > 1 else None,
            provenance={"generated_by": self.generator.source, "latent": "z = 0"},
            overwrite=True,
        )
        self.status.value = f"saved {html.escape(str(written))}"
        return written

    def _save_clicked(self) -> None:
        """The Save button: a file that cannot be written is reported, not raised."""
        try:
            self.save(self.save_name.value)
        except (SpectralCVAEError, OSError) as error:
            self.status.value = f"<b>Not saved:</b> {html.escape(str(error))}"
