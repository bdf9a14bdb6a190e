"""InverterPanel: parameters recovered from a spectrum, against the truth, with a re-generation."""

from __future__ import annotations

import html
import os

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..errors import SpectralCVAEError
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid
from ..inversion import PCAInverter
from ..io import read_spectra
from ..model.generator import SpectrumGenerator
from ..parameters import compact_unit

SOURCES = ("test spectrum", "generated", "file")
"""Where the input spectrum comes from, as offered by the source buttons."""


class InverterPanel(widgets.VBox):
    """Invert one spectrum and compare: recovered parameters against the truth, and spectra.

    The input spectrum is one of

    - a test spectrum of ``grid`` (its row picked by position in ``split.test``);
    - a spectrum generated (z = 0) at parameters typed in six boxes, bounded by the model's
      domain;
    - the first spectrum of a file read by :func:`~spectral_cvae.io.read_spectra`
      (FITS, HDF5, NPZ or a text table), resampled onto the inverter's wavelengths.

    The inverter's parameters go into a table beside the truth (when known) with units; they
    are clipped into the model's domain (the table says which) and the spectrum generated
    there is drawn over the input.

    Parameters
    ----------
    inverter
        A fitted :class:`~spectral_cvae.inversion.PCAInverter`.
    generator
        A trained :class:`~spectral_cvae.model.SpectrumGenerator` over the same parameters.
    grid
        Grid of the test spectra; without it, only generated and file inputs are offered.
    split
        Its split; default ``grid.split()``, the split the models were trained with by default.

    Attributes
    ----------
    source : ipywidgets.ToggleButtons
        One of :data:`SOURCES`.
    test_index : ipywidgets.BoundedIntText
        Position in ``test_rows`` of the test spectrum.
    test_rows : numpy.ndarray
        Grid rows of the test spectra.
    parameter_boxes : dict of str to ipywidgets.BoundedFloatText
        Parameters of the generated input, in each parameter's unit.
    path, load_button : ipywidgets.Text, ipywidgets.Button
        The file to read and the button that reads it.
    input_wavelength, input_flux : numpy.ndarray
        The input spectrum (Angstrom, continuum-normalized flux).
    recovered : dict of str to float
        The inverter's parameters, unclipped, in each parameter's unit.
    truth : dict of str to float or None
        The input's known parameters, if any.
    clipped : list of str
        Parameters moved into the model's domain before generating.
    generated_flux : numpy.ndarray
        Spectrum generated at the (clipped) recovered parameters, on ``generator.wavelength``.
    table : ipywidgets.HTML
        Recovered against truth, with units.
    input_line, recovered_line : bqplot.Lines
        Input and re-generated spectrum, wavelength in Angstrom.
    """

    def __init__(
        self,
        inverter: PCAInverter,
        generator: SpectrumGenerator,
        grid: SpectralGrid | None = None,
        split: GridSplit | None = None,
    ) -> None:
        self.inverter = inverter
        self.generator = generator
        self.space = generator.space
        self.grid = grid
        if grid is not None:
            split = grid.split() if split is None else split
            self.test_rows = np.asarray(split.test, dtype=int)
        else:
            self.test_rows = np.empty(0, dtype=int)
        self.recovered: dict[str, float] = {}
        self.truth: dict[str, float] | None = None
        self.clipped: list[str] = []

        sources = SOURCES if len(self.test_rows) else SOURCES[1:]
        self.source = widgets.ToggleButtons(options=sources, value=sources[0])
        self.test_index = widgets.BoundedIntText(
            value=0,
            min=0,
            max=max(len(self.test_rows) - 1, 0),
            description="test #",
            disabled=not len(self.test_rows),
        )
        self.parameter_boxes = {
            p.name: widgets.BoundedFloatText(
                value=0.5 * (p.minimum + p.maximum),
                min=p.minimum,
                max=p.maximum,
                description=p.axis_label,
                style={"description_width": "130px"},
            )
            for p in (self.space[name] for name in self.space.names)
        }
        self.path = widgets.Text(placeholder="spectrum.fits, .csv, .npz or .h5", description="File")
        self.load_button = widgets.Button(description="Load", icon="folder-open")
        self.message = widgets.HTML()
        self.table = widgets.HTML()

        wavelength = generator.wavelength.astype(np.float32)
        x_scale, y_scale = bq.LinearScale(), bq.LinearScale()
        self.input_line = bq.Lines(
            x=wavelength,
            y=np.ones_like(wavelength),
            scales={"x": x_scale, "y": y_scale},
            colors=["black"],
            stroke_width=1.0,
            labels=["input"],
            display_legend=True,
        )
        self.recovered_line = bq.Lines(
            x=wavelength,
            y=np.ones_like(wavelength),
            scales={"x": x_scale, "y": y_scale},
            colors=["#d62728"],
            stroke_width=1.0,
            opacities=[0.8],
            labels=["generated at recovered parameters"],
            display_legend=True,
        )
        self.figure = bq.Figure(
            marks=[self.input_line, self.recovered_line],
            axes=[
                bq.Axis(scale=x_scale, label="wavelength (Angstrom)"),
                bq.Axis(scale=y_scale, side="left", label="normalized flux"),
            ],
            interaction=bq.interacts.PanZoom(scales={"x": [x_scale]}),
            legend_location="bottom-left",
            fig_margin={"top": 20, "bottom": 45, "left": 60, "right": 20},
            layout=widgets.Layout(width="100%", height="380px"),
        )

        self.test_controls = widgets.HBox([self.test_index])
        self.generated_controls = widgets.VBox(list(self.parameter_boxes.values()))
        self.file_controls = widgets.HBox([self.path, self.load_button])
        self.source.observe(lambda change: self.update(), names="value")
        self.test_index.observe(lambda change: self.update(), names="value")
        for box in self.parameter_boxes.values():
            box.observe(lambda change: self.update(), names="value")
        self.load_button.on_click(lambda _: self.load(self.path.value))
        super().__init__(
            [
                self.source,
                self.test_controls,
                self.generated_controls,
                self.file_controls,
                self.message,
                self.table,
                self.figure,
            ]
        )
        self.update()

    # -- inputs ------------------------------------------------------------------------------
    def update(self) -> None:
        """Invert the input picked by the source buttons and redraw."""
        source = self.source.value
        for controls, shown in (
            (self.test_controls, source == "test spectrum"),
            (self.generated_controls, source == "generated"),
            (self.file_controls, source == "file"),
        ):
            controls.layout.display = None if shown else "none"
        if source == "test spectrum":
            self.show_test(self.test_index.value)
        elif source == "generated":
            self.show_generated({n: box.value for n, box in self.parameter_boxes.items()})
        elif self.path.value:
            self.load(self.path.value)

    def show_test(self, position: int) -> None:
        """Invert the test spectrum at ``position`` in ``test_rows``."""
        row = int(self.test_rows[position])
        truth = dict(zip(self.grid.space.names, map(float, self.grid.parameters[row])))
        self.invert(
            self.grid.wavelength, self.grid.spectrum(row), truth, f"test spectrum: grid #{row}"
        )

    def show_generated(self, parameters: dict[str, float]) -> None:
        """Invert the spectrum generated (z = 0) at ``parameters`` (each in its unit)."""
        flux = self.generator.generate(parameters, latent="mean")[0]
        self.invert(self.generator.wavelength, flux, dict(parameters), "generated spectrum")

    def load(self, path: str | os.PathLike) -> None:
        """Invert the first spectrum of a file; the truth is its parameters if it has them."""
        try:
            spectra = read_spectra(path)
        except (SpectralCVAEError, OSError) as error:
            self.message.value = f"<b>Could not read it:</b> {html.escape(str(error))}"
            return
        truth = None
        space = self.inverter.space_
        if spectra.parameters is not None and set(space.names) <= set(spectra.parameters.colnames):
            # Converted to the inverter's units, whatever units the file gives.
            values = space.as_array(spectra.parameters[:1], source=spectra.source)[0]
            truth = dict(zip(space.names, map(float, values)))
        self.invert(spectra.wavelength, spectra.flux[0], truth, f"file {spectra.source}")

    # -- inverting ---------------------------------------------------------------------------
    def invert(
        self,
        wavelength: np.ndarray,
        flux: np.ndarray,
        truth: dict[str, float] | None,
        description: str,
    ) -> None:
        """Invert one spectrum, fill the table and draw the overlay.

        Parameters
        ----------
        wavelength
            Angstrom, the spectrum's own wavelengths (resampled onto the inverter's).
        flux
            Continuum-normalized flux, same length.
        truth
            Known parameters by name, in their units, or None.
        description
            What the input is, shown above the table.
        """
        try:
            predicted = self.inverter.predict(flux, wavelength=wavelength, source=description)[0]
        except SpectralCVAEError as error:
            self.message.value = f"<b>Cannot invert it:</b> {html.escape(str(error))}"
            return
        self.input_wavelength = np.asarray(wavelength, dtype=float)
        self.input_flux = np.asarray(flux, dtype=float)
        self.recovered = dict(zip(self.inverter.space_.names, map(float, predicted)))
        self.truth = truth
        # The inverter can land outside the model's domain, where the decoder is untrained
        # (and generate() refuses): generate at the nearest point inside it instead.
        point = {}
        self.clipped = []
        for name in self.space.names:
            parameter = self.space[name]
            value = float(np.clip(self.recovered[name], parameter.minimum, parameter.maximum))
            if value != self.recovered[name]:
                self.clipped.append(name)
            point[name] = value
        self.generated_flux = self.generator.generate(point, latent="mean")[0]
        with self.input_line.hold_sync():
            self.input_line.x = self.input_wavelength.astype(np.float32)
            self.input_line.y = self.input_flux.astype(np.float32)
        with self.recovered_line.hold_sync():
            self.recovered_line.x = self.generator.wavelength.astype(np.float32)
            self.recovered_line.y = self.generated_flux
        note = (
            f"; {', '.join(self.space[n].label for n in self.clipped)} clipped into the model's "
            "domain before generating"
            if self.clipped
            else ""
        )
        self.message.value = f"{html.escape(description)}{html.escape(note)}"
        self.table.value = self._table()

    def _table(self) -> str:
        header = "<tr><th>parameter</th><th>unit</th><th>recovered</th>"
        header += "<th>truth</th><th>recovered - truth</th></tr>" if self.truth else "</tr>"
        rows = []
        for name in self.space.names:
            parameter = self.space[name]
            recovered = self.recovered[name]
            mark = " (clipped)" if name in self.clipped else ""
            cells = [parameter.label, compact_unit(parameter.unit), f"{recovered:.4g}{mark}"]
            if self.truth:
                truth = self.truth.get(name)
                cells += (
                    [f"{truth:.4g}", f"{recovered - truth:+.3g}"] if truth is not None else ["", ""]
                )
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        return f"<table>{header}{''.join(rows)}</table>"
