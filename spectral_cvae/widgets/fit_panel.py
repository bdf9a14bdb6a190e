"""FitPanel: fit an observed spectrum, see data, model, residual, the parameters and posterior."""

from __future__ import annotations

import html
import io
import os
import threading
from concurrent.futures import Future

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..errors import SpectralCVAEError, SpectrumInputError
from ..fitting import (
    FitResult,
    PosteriorSamples,
    fit_spectrum,
    make_observation,
    sample_posterior,
)
from ..grid.splits import GridSplit
from ..grid.store import SpectralGrid
from ..io import ObservedSpectrum, from_specutils, read_spectrum
from ..parameters import compact_unit

SOURCES = ("test spectrum", "file", "given")
"""Where the spectrum comes from: a grid test spectrum made realistic, a file, or the
spectrum passed to the panel."""


class FitPanel(widgets.VBox):
    """Fit stellar parameters, radial velocity and continuum to one spectrum, and show it.

    The spectrum is one of

    - a test spectrum of ``grid`` (picked by its position in ``split.test``) made realistic:
      shifted by a radial velocity, multiplied by a tilted continuum, resampled onto a
      coarser grid, given Gaussian noise at a signal-to-noise ratio, with 1 % of pixels hit
      by cosmic rays and masked (the controls set S/N, radial velocity and tilt);
    - a file read by :func:`~spectral_cvae.io.read_spectrum` (FITS, CSV/text);
    - the spectrum passed as ``spectrum`` (or later to :meth:`set_spectrum`).

    **Fit** runs :func:`~spectral_cvae.fitting.fit_spectrum` (and, with *sample the
    posterior* ticked, :func:`~spectral_cvae.fitting.sample_posterior`) in a thread, so the
    kernel keeps answering: the progress bar moves and **Stop** ends the sampling early.
    Then the data, model and residual are drawn, and the table lists each parameter with
    its error (and the truth and the pull for a test spectrum, the posterior's percentiles
    when sampled), chi^2, the optimizer's message and any parameter on a bound.

    Parameters
    ----------
    generator
        A trained :class:`~spectral_cvae.model.SpectrumGenerator` (or anything with its
        ``generate()`` API, see :class:`~spectral_cvae.emulator.SpectrumEmulator`).
    grid
        Grid of the test spectra; without it only file and given spectra are offered.
    split
        Its split; default ``grid.split()``.
    spectrum
        A spectrum to fit: an :class:`~spectral_cvae.io.ObservedSpectrum`, a specutils
        spectrum, or a tuple ``(wavelength, flux)`` or ``(wavelength, flux, error)``
        (Angstrom, air).
    inverter
        A fitted :class:`~spectral_cvae.inversion.PCAInverter`: one more start of the fit.
    continuum_order
        Degree of the Chebyshev continuum polynomial.
    threaded
        Run the Fit button's work in a thread (True) or in the click's own callback.

    Attributes
    ----------
    source : ipywidgets.ToggleButtons
        One of :data:`SOURCES`.
    test_index : ipywidgets.BoundedIntText
        Position in ``test_rows`` of the test spectrum.
    snr, radial_velocity, tilt : ipywidgets.BoundedFloatText
        How the test spectrum is made realistic: S/N per pixel, km/s, and the continuum's
        relative change from the middle to either end of the range.
    path, load_button : ipywidgets.Text, ipywidgets.Button
        The file to read and the button that reads it.
    fix_resolution, resolution : ipywidgets.Checkbox, ipywidgets.BoundedFloatText
        Hold R at this value (filled with the truth for a test spectrum), or fit it.
    model_error : ipywidgets.Checkbox
        Count the generator's own error in the uncertainties (``model_error="auto"`` of
        :func:`~spectral_cvae.fitting.fit_spectrum`: the model's model-error file, noise
        only without one) or not (``"none"``).
    sample, n_steps : ipywidgets.Checkbox, ipywidgets.BoundedIntText
        Sample the posterior after the fit, with this many steps per walker.
    fit_button, stop_button : ipywidgets.Button
    progress : ipywidgets.FloatProgress
        Fraction of the work done (the fit counts as a fifth when sampling follows).
    status : ipywidgets.HTML
        What the panel is doing, or what went wrong.
    table : ipywidgets.HTML
        The parameters with errors, chi^2, convergence and bounds.
    corner : ipywidgets.Image
        The posterior's corner plot (PNG), shown once sampled.
    observed : ObservedSpectrum or None
        The spectrum to fit.
    truth : dict or None
        Its known parameters (and ``radial_velocity``) for a test spectrum.
    result : FitResult or None
        The last fit.
    posterior : PosteriorSamples or None
        The last posterior, when sampled.
    data_line, model_line, residual_line : bqplot.Lines
        Observed flux (masked pixels left out), best-fit model, data minus model (the
        last two hidden until a fit).
    figure, residual_figure : bqplot.Figure
    """

    def __init__(
        self,
        generator: object,
        grid: SpectralGrid | None = None,
        split: GridSplit | None = None,
        spectrum: object = None,
        *,
        inverter: object = None,
        continuum_order: int = 2,
        threaded: bool = True,
    ) -> None:
        self.generator = generator
        self.space = generator.space
        self.grid = grid
        self.inverter = inverter
        self.continuum_order = continuum_order
        self.threaded = threaded
        if grid is not None:
            split = grid.split() if split is None else split
            self.test_rows = np.asarray(split.test, dtype=int)
        else:
            self.test_rows = np.empty(0, dtype=int)
        self.observed: ObservedSpectrum | None = None
        self.truth: dict | None = None
        self.result: FitResult | None = None
        self.posterior: PosteriorSamples | None = None
        self._given: ObservedSpectrum | None = None
        self._given_truth: dict | None = None
        self._future: Future | None = None
        self._stop = threading.Event()

        sources = [s for s in SOURCES
                   if (s != "test spectrum" or len(self.test_rows))
                   and (s != "given" or spectrum is not None)]
        self.source = widgets.ToggleButtons(
            options=sources, value="given" if spectrum is not None else sources[0]
        )
        wide = {"description_width": "initial"}

        def box() -> widgets.Layout:
            return widgets.Layout(width="190px")

        self.test_index = widgets.BoundedIntText(
            value=0, min=0, max=max(len(self.test_rows) - 1, 0), description="test #",
            disabled=not len(self.test_rows), style=wide, layout=box(),
        )
        self.snr = widgets.BoundedFloatText(value=50.0, min=2.0, max=10000.0,
                                            description="S/N", style=wide, layout=box())
        self.radial_velocity = widgets.BoundedFloatText(
            value=40.0, min=-300.0, max=300.0, description="RV (km/s)", style=wide, layout=box()
        )
        self.tilt = widgets.BoundedFloatText(value=0.05, min=-0.5, max=0.5, step=0.01,
                                             description="continuum tilt", style=wide,
                                             layout=box())
        self.path = widgets.Text(placeholder="star.fits or star.csv", description="File")
        self.load_button = widgets.Button(description="Load", icon="folder-open")
        has_resolution = "resolution" in self.space.names
        r = self.space["resolution"] if has_resolution else None
        self.fix_resolution = widgets.Checkbox(
            value=has_resolution, description="R known (held fixed)", disabled=not has_resolution,
            indent=False,
        )
        self.resolution = widgets.BoundedFloatText(
            value=r.minimum if r is None else 0.5 * (r.minimum + r.maximum),
            min=0.0 if r is None else r.minimum, max=1e7 if r is None else r.maximum,
            description="R", disabled=not has_resolution, style={"description_width": "20px"},
            layout=widgets.Layout(width="150px"),
        )
        self.model_error = widgets.Checkbox(
            value=True, description="count the generator's own error", indent=False,
        )
        self.sample = widgets.Checkbox(value=False, description="sample the posterior",
                                       indent=False)
        self.n_steps = widgets.BoundedIntText(value=300, min=10, max=100000, step=50,
                                              description="steps", style=wide,
                                              layout=widgets.Layout(width="150px"))
        self.fit_button = widgets.Button(description="Fit", button_style="primary",
                                         icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          layout=widgets.Layout(width="80px"))
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                              layout=widgets.Layout(width="220px"))
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        self.corner = widgets.Image(format="png", layout=widgets.Layout(display="none",
                                                                        max_width="720px"))

        x_scale, y_scale, r_scale = bq.LinearScale(), bq.LinearScale(), bq.LinearScale()
        empty = np.zeros(2, dtype=np.float32)
        self.data_line = bq.Lines(
            x=empty, y=empty, scales={"x": x_scale, "y": y_scale}, colors=["black"],
            stroke_width=0.8, labels=["data"], display_legend=True,
        )
        self.model_line = bq.Lines(
            x=empty, y=empty, scales={"x": x_scale, "y": y_scale}, colors=["#d62728"],
            stroke_width=1.0, opacities=[0.85], labels=["model"], display_legend=True,
        )
        self.residual_line = bq.Lines(
            x=empty, y=empty, scales={"x": x_scale, "y": r_scale}, colors=["black"],
            stroke_width=0.6,
        )
        margin = {"top": 15, "bottom": 40, "left": 65, "right": 20}
        self.figure = bq.Figure(
            marks=[self.data_line, self.model_line],
            axes=[bq.Axis(scale=x_scale, label="wavelength (Angstrom)"),
                  bq.Axis(scale=y_scale, side="left", label="flux")],
            interaction=bq.interacts.PanZoom(scales={"x": [x_scale]}),
            legend_location="bottom-left", fig_margin=margin,
            layout=widgets.Layout(width="100%", height="330px"),
        )
        self.residual_figure = bq.Figure(
            marks=[self.residual_line],
            axes=[bq.Axis(scale=x_scale, label="wavelength (Angstrom)"),
                  bq.Axis(scale=r_scale, side="left", label="data - model")],
            fig_margin=margin, layout=widgets.Layout(width="100%", height="170px"),
        )

        wrap = widgets.Layout(flex_flow="row wrap")
        self.test_controls = widgets.HBox([self.test_index, self.snr, self.radial_velocity,
                                           self.tilt], layout=wrap)
        self.file_controls = widgets.HBox([self.path, self.load_button])
        fit_controls = widgets.HBox([self.fix_resolution, self.resolution, self.model_error,
                                     self.sample,
                                     self.n_steps, self.fit_button, self.stop_button,
                                     self.progress], layout=wrap)
        self.source.observe(lambda change: self.update(), names="value")
        for control in (self.test_index, self.snr, self.radial_velocity, self.tilt):
            control.observe(lambda change: self.update(), names="value")
        self.load_button.on_click(lambda _: self.load(self.path.value))
        self.fit_button.on_click(lambda _: self._clicked())
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__([self.source, self.test_controls, self.file_controls, fit_controls,
                          self.status, self.table, self.figure, self.residual_figure,
                          self.corner])
        if spectrum is not None:
            self._given = _as_observed(spectrum)
        self.update()

    # -- the spectrum --------------------------------------------------------------------------
    def update(self) -> None:
        """Show the controls of the chosen source and (re)make its spectrum."""
        source = self.source.value
        self.test_controls.layout.display = None if source == "test spectrum" else "none"
        self.file_controls.layout.display = None if source == "file" else "none"
        if source == "test spectrum":
            self.pick_test(self.test_index.value)
        elif source == "given" and self._given is not None:
            self._show(self._given, self._given_truth)
        elif source == "file" and self.path.value:
            self.load(self.path.value)

    def pick_test(self, position: int) -> None:
        """The test spectrum at ``position`` in ``test_rows``, made realistic by the controls."""
        row = int(self.test_rows[position])
        names = self.grid.space.names
        truth = dict(zip(names, map(float, self.grid.parameters[row])))
        spectrum = make_observation(
            self.grid.wavelength, self.grid.spectrum(row).astype(float),
            snr=self.snr.value, radial_velocity=self.radial_velocity.value,
            tilt=self.tilt.value, mask_fraction=0.01, seed=row,
            source=f"test spectrum: grid #{row}",
        )
        truth["radial_velocity"] = self.radial_velocity.value
        if "resolution" in truth and not self.resolution.disabled:
            self.resolution.value = float(np.clip(round(truth["resolution"]), self.resolution.min,
                                                  self.resolution.max))
        self._show(spectrum, truth)

    def load(self, path: str | os.PathLike) -> None:
        """Read a spectrum file (FITS or CSV/text) to fit."""
        try:
            spectrum = read_spectrum(path)
        except (SpectralCVAEError, OSError) as error:
            self.status.value = f"<b>Could not read it:</b> {html.escape(str(error))}"
            return
        self._show(spectrum, None)

    def set_spectrum(self, spectrum: object, truth: dict | None = None) -> None:
        """Fit this spectrum next (see the ``spectrum`` parameter); the source becomes
        "given". ``truth``: known parameters by name, shown beside the fit."""
        self._given, self._given_truth = _as_observed(spectrum), truth
        if "given" not in self.source.options:
            self.source.options = [*self.source.options, "given"]
        if self.source.value == "given":
            self.update()
        else:
            self.source.value = "given"

    def _show(self, spectrum: ObservedSpectrum, truth: dict | None) -> None:
        self.observed, self.truth = spectrum, truth
        self.result, self.posterior = None, None
        flux = spectrum.flux.copy()
        if spectrum.mask is not None:
            flux[spectrum.mask] = np.nan
        self._draw(self.data_line, spectrum.wavelength, flux)
        # Hidden rather than all NaN: a scale whose only mark has no finite value gets no
        # domain, and its mark would not be drawn again.
        for line in (self.model_line, self.residual_line):
            self._draw(line, spectrum.wavelength[[0, -1]], np.zeros(2))
            line.visible = False
        self.table.value = ""
        self.corner.layout.display = "none"
        self.progress.value = 0.0
        self.status.value = (f"{html.escape(spectrum.source)}: {spectrum.wavelength.size} "
                             f"pixels, {spectrum.wavelength[0]:.1f}-"
                             f"{spectrum.wavelength[-1]:.1f} A. Press Fit.")

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, sample: bool | None = None, n_steps: int | None = None) -> FitResult:
        """Fit the current spectrum here and now (and sample its posterior), then draw.

        Parameters
        ----------
        sample
            Sample the posterior too; default the checkbox's value.
        n_steps
            Steps per walker; default the box's value.

        Returns
        -------
        FitResult
        """
        if self.observed is None:
            raise SpectrumInputError("no spectrum to fit: pick a test spectrum or load a file")
        sample = self.sample.value if sample is None else sample
        n_steps = self.n_steps.value if n_steps is None else n_steps
        self._stop.clear()
        self.progress.value = 0.0
        self.status.value = "fitting..."
        spectrum = self.observed
        resolution = None
        if self.fix_resolution.value and "resolution" in self.space.names:
            resolution = float(self.resolution.value)
        try:
            result = fit_spectrum(
                self.generator, spectrum, resolution=resolution,
                medium=spectrum.medium or "air", inverter=self.inverter,
                continuum_order=self.continuum_order,
                model_error="auto" if self.model_error.value else "none",
            )
        except SpectralCVAEError as error:
            self.status.value = f"<b>Cannot fit it:</b> {html.escape(str(error))}"
            raise
        self.result, self.posterior = result, None
        self._draw_fit(result)
        self.table.value = self._table()
        self.progress.value = 0.2 if sample else 1.0
        if sample:
            self.status.value = f"fitted in {result.elapsed:.1f} s; sampling the posterior..."
            self.stop_button.disabled = False

            def progress(step: int, total: int) -> bool:
                if step % 5 == 0 or step == total:
                    self.progress.value = 0.2 + 0.8 * step / total
                return not self._stop.is_set()

            try:
                self.posterior = sample_posterior(self.generator, result, n_steps=n_steps,
                                                  seed=0, progress=progress)
            finally:
                self.stop_button.disabled = True
            self.table.value = self._table()
            self.corner.value = _png(self.posterior.corner())
            self.corner.layout.display = None
            self.progress.value = 1.0
        self.status.value = self._status()
        return result

    def fit_in_background(self, sample: bool | None = None) -> Future:
        """Run :meth:`fit` in a thread; the returned future holds its result (or error)."""
        if self._future is not None and not self._future.done():
            return self._future
        future: Future = Future()
        self._future = future
        self.fit_button.disabled = True

        def run() -> None:
            try:
                future.set_result(self.fit(sample))
            except BaseException as exc:  # handed to the future; the status says it too
                if not isinstance(exc, SpectralCVAEError):
                    self.status.value = f"<b>Fit failed:</b> {html.escape(repr(exc))}"
                future.set_exception(exc)
            finally:
                self.fit_button.disabled = False

        threading.Thread(target=run, name="spectral-cvae-fit", daemon=True).start()
        return future

    def wait(self, timeout: float | None = None) -> FitResult | None:
        """Wait for a fit started by the button or :meth:`fit_in_background`; its result."""
        return None if self._future is None else self._future.result(timeout)

    def stop(self) -> None:
        """End the posterior sampling after the current step (the chains so far are kept)."""
        self._stop.set()

    def _clicked(self) -> None:
        if self.threaded:
            self.fit_in_background()
        else:
            try:
                self.fit()
            except SpectralCVAEError:
                pass  # the status says what went wrong

    # -- drawing -------------------------------------------------------------------------------
    @staticmethod
    def _draw(line: bq.Lines, x: np.ndarray, y: np.ndarray) -> None:
        with line.hold_sync():
            line.x = np.asarray(x, dtype=np.float64)
            line.y = np.asarray(y, dtype=np.float64)

    def _draw_fit(self, result: FitResult) -> None:
        data = np.where(result.used, result.flux, np.nan)
        self._draw(self.data_line, result.wavelength, data)
        self._draw(self.model_line, result.wavelength, result.model)
        self._draw(self.residual_line, result.wavelength, data - result.model)
        self.model_line.visible = self.residual_line.visible = True

    def _status(self) -> str:
        result = self.result
        state = "converged" if result.converged else "<b>NOT converged</b>"
        text = (f"{html.escape(result.source)}: {state} in {result.elapsed:.1f} s "
                f"({result.n_generated} spectra generated)")
        if self.posterior is not None:
            p = self.posterior
            text += (f"; posterior: {p.n_walkers} walkers x {p.n_steps} steps"
                     f"{' (stopped)' if p.stopped else ''} in {p.elapsed:.1f} s, "
                     f"acceptance {p.acceptance_fraction.mean():.2f}")
        return text

    def _table(self) -> str:
        result, truth, posterior = self.result, self.truth, self.posterior
        header = ["parameter", "unit", "fit", "error"]
        if truth:
            header += ["truth", "(fit - truth) / error"]
        if posterior is not None:
            header += ["posterior median", "-", "+"]
        rows = []
        names = list(self.space.names) + ["radial_velocity"]
        for name in names:
            if name == "radial_velocity":
                label, unit = "radial velocity", "km/s"
                value, error = result.radial_velocity, result.radial_velocity_error
                fixed = not np.isfinite(error)
            else:
                parameter = self.space[name]
                label, unit = parameter.label, compact_unit(parameter.unit)
                value, error = result.parameters[name], result.uncertainties[name]
                fixed = name in result.fixed
            note = " (fixed)" if fixed else ""
            if name in result.on_bound:
                note += f" (on {result.on_bound[name]} bound)"
            cells = [label, unit, f"{value:.5g}{note}", "" if fixed else f"{error:.2g}"]
            if truth:
                known = truth.get(name)
                if known is None:
                    cells += ["", ""]
                else:
                    pull = (value - known) / error if not fixed and error > 0 else np.nan
                    cells += [f"{known:.5g}", "" if np.isnan(pull) else f"{pull:+.2f}"]
            if posterior is not None:
                if name in posterior.percentiles:
                    low, mid, high = posterior.percentiles[name]
                    cells += [f"{mid:.5g}", f"{mid - low:.2g}", f"{high - mid:.2g}"]
                else:
                    cells += ["", "", ""]
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
        footer = [
            f"chi<sup>2</sup> = {result.chi2:.5g} over {result.n_pixels} pixels "
            f"(dof {result.dof}), reduced chi<sup>2</sup> = {result.reduced_chi2:.4g}"
            + (f", noise estimated from the residuals: {result.noise:.3g}"
               if result.noise_estimated else ""),
            f"{'converged' if result.converged else 'NOT converged'}: "
            f"{html.escape(result.message)}",
            f"errors count the noise and {html.escape(result.model_error)}"
            if result.model_sigma is not None
            else f"model error {html.escape(result.model_error)}",
            *(f"&#9888; {html.escape(caveat)}" for caveat in result.physics_caveats),
        ]
        if result.on_bound:
            footer.append("on a bound of the domain (the error there only describes the "
                          "curvature): " + html.escape(", ".join(
                              f"{n} ({s})" for n, s in result.on_bound.items())))
        excluded = ", ".join(f"{v} {k}" for k, v in result.excluded.items() if v)
        if excluded:
            footer.append(f"pixels left out: {html.escape(excluded)}")
        return (f"<table class='fit-table'>{head}{''.join(rows)}</table>"
                + "".join(f"<div>{line}</div>" for line in footer))


def _as_observed(spectrum: object) -> ObservedSpectrum:
    """An ObservedSpectrum from one, a specutils spectrum, or (wavelength, flux[, error])."""
    if isinstance(spectrum, ObservedSpectrum):
        return spectrum
    if hasattr(spectrum, "spectral_axis"):
        return from_specutils(spectrum)
    if isinstance(spectrum, tuple | list) and len(spectrum) in (2, 3):
        arrays = [np.asarray(a, dtype=float) for a in spectrum]
        return ObservedSpectrum(arrays[0], arrays[1], arrays[2] if len(arrays) == 3 else None,
                                source="given spectrum")
    raise SpectrumInputError(
        "spectrum: pass an ObservedSpectrum, a specutils spectrum or (wavelength, flux[, error])"
    )


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
