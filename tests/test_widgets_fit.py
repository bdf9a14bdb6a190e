"""FitPanel: spectra picked, fitted (in a thread or not), drawn and tabulated."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from spectral_cvae.errors import SpectrumInputError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.parameters import PAPER_SPACE
from spectral_cvae.widgets import FitPanel

from .helpers import TRUTH, AnalyticGenerator, clean


@pytest.fixture(scope="module")
def generator() -> AnalyticGenerator:
    return AnalyticGenerator()


@pytest.fixture(scope="module")
def grid(generator) -> SpectralGrid:
    """40 spectra of the stand-in at random points of the domain (its own "grid")."""
    rng = np.random.default_rng(0)
    parameters = PAPER_SPACE.minimum + rng.uniform(0.2, 0.8, (40, 6)) * (
        PAPER_SPACE.maximum - PAPER_SPACE.minimum
    )
    return SpectralGrid(generator.wavelength, generator.generate(parameters), parameters)


@pytest.fixture
def panel(generator, grid) -> FitPanel:
    return FitPanel(generator, grid, threaded=False)


def test_a_test_spectrum_is_made_realistic_by_the_controls(panel, grid):
    row = int(panel.test_rows[0])
    assert panel.observed.source == f"test spectrum: grid #{row}"
    assert panel.truth["radial_velocity"] == 40.0
    assert panel.resolution.value == pytest.approx(grid.parameters[row, 5], abs=0.5)
    first = panel.observed
    panel.radial_velocity.value = -120.0
    assert panel.observed is not first
    assert panel.observed.meta["radial_velocity"] == -120.0
    # Shifted: the observed range moved blueward by about 2 A at 5000 A.
    assert panel.observed.wavelength[0] < first.wavelength[0] - 2.5
    panel.snr.value = 10.0
    assert np.median(panel.observed.error / panel.observed.meta["continuum"]) == pytest.approx(0.1)
    assert np.isnan(np.asarray(panel.data_line.y)[panel.observed.mask]).all()


def test_the_fit_button_fills_the_table_and_draws_model_and_residual(panel, grid):
    panel.snr.value = 200.0
    panel.fit_button.click()
    result = panel.result
    assert result is not None and result.converged
    assert result.fixed == ("resolution",)
    truth = panel.truth
    assert abs(result.radial_velocity - truth["radial_velocity"]) < 5 * result.radial_velocity_error
    for name in ("teff", "logg", "vsini", "mh", "vmic"):
        assert abs(result.parameters[name] - truth[name]) < 5 * result.uncertainties[name], name
    table = panel.table.value
    for text in ("Teff", "radial velocity", "reduced chi<sup>2</sup>", "converged", "(fixed)",
                 "(fit - truth) / error", "pixels left out", "model error none"):
        assert text in table, text
    assert panel.model_line.visible and panel.residual_line.visible
    np.testing.assert_allclose(np.asarray(panel.model_line.y), result.model)
    residual = np.asarray(panel.residual_line.y)
    assert np.isnan(residual[~result.used]).all()
    assert np.nanstd(residual) == pytest.approx(np.median(result.error[result.used]), rel=0.2)
    assert "converged" in panel.status.value
    assert panel.progress.value == 1.0 and panel.corner.layout.display == "none"


def test_a_new_spectrum_clears_the_last_fit(panel):
    panel.fit()
    panel.test_index.value = 1
    assert panel.result is None and panel.table.value == ""
    assert not panel.model_line.visible and not panel.residual_line.visible


def test_sampling_in_the_background_shows_percentiles_and_a_corner_plot(generator, grid):
    panel = FitPanel(generator, grid)
    panel.snr.value = 200.0
    panel.sample.value = True
    panel.n_steps.value = 40
    panel.fit_button.click()
    result = panel.wait(timeout=300)
    assert result is panel.result and panel.posterior is not None
    assert panel.posterior.n_steps == 40 and not panel.posterior.stopped
    assert "posterior median" in panel.table.value
    assert panel.corner.value[:4] == b"\x89PNG" and panel.corner.layout.display is None
    assert panel.progress.value == 1.0 and not panel.fit_button.disabled
    assert "acceptance" in panel.status.value


def test_stop_ends_the_sampling_early(generator, grid):
    panel = FitPanel(generator, grid)
    panel.snr.value = 200.0
    panel.stop()  # a Stop before the fit does not carry over
    stopped_at = []

    def stop_when_sampling(change):
        if change["new"] > 0.2 and not stopped_at:  # sampling has begun
            stopped_at.append(change["new"])
            panel.stop_button.click()

    panel.progress.observe(stop_when_sampling, names="value")
    panel.n_steps.value = 100000
    panel.fit_in_background(sample=True)
    panel.wait(timeout=300)
    assert stopped_at and panel.posterior.stopped
    assert 5 <= panel.posterior.n_steps < 1000


def test_files_and_given_spectra_are_fitted_and_bad_files_are_reported(
    generator, grid, tmp_path
):
    flux = clean(generator)
    Table({"wavelength": generator.wavelength, "flux": flux}).write(tmp_path / "star.csv")
    panel = FitPanel(generator, grid, threaded=False)
    panel.source.value = "file"
    panel.load(tmp_path / "missing.csv")
    assert "Could not read it" in panel.status.value and "missing.csv" in panel.status.value
    panel.path.value = str(tmp_path / "star.csv")
    panel.load_button.click()
    assert panel.observed.source.endswith("star.csv")
    panel.fix_resolution.value = False
    result = panel.fit()
    assert result.fixed == () and abs(result.parameters["teff"] - TRUTH[0]) < 10.0
    assert result.physics_caveats == [] and "&#9888;" not in panel.table.value
    hot = TRUTH.copy()
    hot[0] = 9800.0  # the grid's physics has no He I: the table says so under the fit
    panel.set_spectrum((generator.wavelength, clean(generator, hot)))
    assert "no He I lines" in panel.fit().physics_caveats[0]
    assert "&#9888; no He I lines" in panel.table.value

    given = FitPanel(generator, spectrum=(generator.wavelength, flux), threaded=False)
    assert given.source.options == ("file", "given") and given.source.value == "given"
    assert given.observed.source == "given spectrum"
    given.source.value = "file"
    given.set_spectrum((generator.wavelength[:1000], flux[:1000]), truth={"teff": TRUTH[0]})
    assert given.source.value == "given"
    given.fix_resolution.value = False
    given.fit_button.click()  # usable pixels span less than 50 A: refused, said
    assert given.result is None and "Cannot fit it" in given.status.value


def test_something_that_is_no_spectrum_is_refused_as_spectrum_input(generator):
    panel = FitPanel(generator, threaded=False)
    with pytest.raises(SpectrumInputError, match="pass an ObservedSpectrum"):
        panel.set_spectrum("star.fits")
    panel.source.value = "file"  # nothing loaded yet
    with pytest.raises(SpectrumInputError, match="no spectrum to fit"):
        panel.fit()
