"""Fitting observed spectra: recovery, radial velocity, continuum, pixels left out, inputs, CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spectral_cvae.cli.main import main
from spectral_cvae.constants import SPEED_OF_LIGHT
from spectral_cvae.errors import OutOfDomainError, SpectrumFileError
from spectral_cvae.fitting import ObservationError, ObservationModel, fit_spectrum
from spectral_cvae.fitting.jacobian import perturbed_spectra
from spectral_cvae.fitting.observation import prepare_observation
from spectral_cvae.fitting.optimizer import RACE_EVALUATIONS
from spectral_cvae.fitting.threads import _controls, single_blas_thread
from spectral_cvae.grid import uniform_grid
from spectral_cvae.grid.synthesis.linelist import air_to_vacuum
from spectral_cvae.grid.wavelength import resample
from spectral_cvae.io import from_specutils, read_spectrum
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import TRUTH, AnalyticGenerator, clean, tiny_config, toy_grid

SPAN = PAPER_SPACE.maximum - PAPER_SPACE.minimum


class DifferentiableGenerator(AnalyticGenerator):
    """The same, offering ``jacobian`` (here by finite differences of its own)."""

    def __init__(self) -> None:
        super().__init__()
        self.jacobian_calls = 0

    def jacobian(self, params):
        self.jacobian_calls += 1
        theta = self.space.as_array(params)
        flux = super().generate(theta).astype(float)
        steps = 1e-4 * SPAN
        columns = []
        for i, step in enumerate(steps):
            up, down = theta.copy(), theta.copy()
            up[:, i] = min(theta[0, i] + step, self.space.maximum[i])
            down[:, i] = max(theta[0, i] - step, self.space.minimum[i])
            difference = super().generate(up).astype(float) - super().generate(down)
            columns.append(difference / (up[0, i] - down[0, i]))
        return flux, np.stack(columns, axis=-1)


@pytest.fixture(scope="module")
def generator() -> AnalyticGenerator:
    return AnalyticGenerator()


def assert_recovered(result, truth=TRUTH, tolerance=1e-3):
    found = np.array([result.parameters[n] for n in PAPER_SPACE.names])
    error = np.abs(found - truth) / SPAN
    assert np.all(error < tolerance), dict(zip(PAPER_SPACE.names, error.round(5)))


def doppler(radial_velocity: float) -> float:
    beta = radial_velocity / SPEED_OF_LIGHT
    return np.sqrt((1 + beta) / (1 - beta))


# -- recovery -------------------------------------------------------------------------------------
def test_noiseless_generated_spectrum_is_recovered_to_a_thousandth_of_each_range(generator):
    result = fit_spectrum(generator, generator.wavelength, clean(generator))
    assert_recovered(result)
    assert result.converged and not result.on_bound
    assert abs(result.radial_velocity) < 0.01
    assert result.noise_estimated and result.reduced_chi2 == pytest.approx(1.0)
    assert set(result.uncertainties) == set(PAPER_SPACE.names)


def test_radial_velocity_and_continuum_tilt_are_recovered(generator):
    rv = 87.3
    wavelength = generator.wavelength * doppler(rv)  # the rest spectrum, redshifted
    x = (wavelength - 5030.0) / 120.0
    continuum = 1.7 * (1.0 + 0.12 * x - 0.05 * x**2)
    result = fit_spectrum(
        generator, wavelength, clean(generator) * continuum, error=np.full(x.size, 1e-3)
    )
    assert result.radial_velocity == pytest.approx(rv, abs=0.01)
    assert_recovered(result)
    used = result.used
    np.testing.assert_allclose(result.continuum()[used], continuum[used], rtol=1e-5)
    np.testing.assert_allclose(result.model[used], result.flux[used], atol=1e-5)
    assert result.chi2 < 1e-3  # noiseless data, errors of 1e-3
    assert np.isfinite(result.radial_velocity_error) and len(result.continuum_errors) == 3


def test_blueshift_is_negative(generator):
    wavelength = generator.wavelength * doppler(-140.0)
    result = fit_spectrum(generator, wavelength, clean(generator), n_starts=1)
    assert result.radial_velocity == pytest.approx(-140.0, abs=0.01)


def test_a_coarser_observed_grid_is_fitted_through_pixel_averages(generator):
    coarse = uniform_grid(4903.03, 5147.0, 0.11)
    flux = resample(generator.wavelength, clean(generator), coarse)
    result = fit_spectrum(generator, coarse, flux)
    # The grid is resampled as a linear interpolant averaged over each 0.11 A pixel, the
    # fit averages over sqrt(0.11^2 - 0.05^2) A (its own pixels being averages already):
    # close, not identical.
    assert_recovered(result, tolerance=2e-2)
    assert abs(result.radial_velocity) < 0.5


def test_noise_given_or_estimated_gives_consistent_errors(generator):
    rng = np.random.default_rng(3)
    sigma = 0.01
    flux = clean(generator) + rng.normal(0.0, sigma, generator.wavelength.size)
    given = fit_spectrum(generator, generator.wavelength, flux, error=np.full(flux.size, sigma))
    estimated = fit_spectrum(generator, generator.wavelength, flux)
    assert not given.noise_estimated and given.reduced_chi2 == pytest.approx(1.0, abs=0.06)
    assert estimated.noise_estimated and estimated.noise == pytest.approx(sigma, rel=0.05)
    for name, truth in zip(PAPER_SPACE.names, TRUTH):
        error = given.uncertainties[name]
        assert 0 < error < 0.05 * PAPER_SPACE[name].span
        assert abs(given.parameters[name] - truth) < 5 * error, name
        assert estimated.uncertainties[name] == pytest.approx(error, rel=0.1)
    assert abs(given.radial_velocity) < 5 * given.radial_velocity_error


# -- pixels left out ----------------------------------------------------------------------------
def test_masked_pixels_are_left_out(generator):
    flux = clean(generator)
    bad = np.zeros(flux.size, bool)
    bad[np.random.default_rng(1).choice(flux.size, 60, replace=False)] = True
    flux[bad] += 0.5  # cosmic rays
    masked = fit_spectrum(generator, generator.wavelength, flux, mask=bad)
    assert_recovered(masked)
    assert not masked.used[bad].any() and masked.excluded["masked"] == 60
    unmasked = fit_spectrum(generator, generator.wavelength, flux, n_starts=1)
    assert unmasked.noise > 100 * masked.noise


def test_nan_pixels_and_gaps_are_left_out(generator):
    flux = clean(generator)
    flux[100:140] = np.nan
    keep = (generator.wavelength < 5000.0) | (generator.wavelength > 5020.0)  # a chip gap
    result = fit_spectrum(generator, generator.wavelength[keep], flux[keep])
    assert_recovered(result)
    assert result.excluded["not finite"] == 40
    assert result.wavelength.size == keep.sum()
    assert np.isnan(result.model).sum() == 0  # the model exists at NaN pixels too


def test_vacuum_wavelengths_are_converted_to_air(generator):
    vacuum = air_to_vacuum(generator.wavelength)
    result = fit_spectrum(generator, vacuum, clean(generator), medium="vacuum")
    assert_recovered(result)
    assert abs(result.radial_velocity) < 0.01
    assert result.medium == "vacuum" and "Morton" in result.air_conversion
    as_air = fit_spectrum(generator, vacuum, clean(generator), n_starts=1)
    assert as_air.medium == "air" and as_air.air_conversion is None
    assert as_air.radial_velocity == pytest.approx(83.0, abs=3.0)  # 1.4 A at 5000 A


def test_partial_coverage_fits_what_is_covered(generator):
    wavelength = uniform_grid(5040.0, 5300.0, 0.05)
    flux = np.ones_like(wavelength)  # beyond the window nothing is known
    inside = wavelength < 5150.0
    flux[inside] = np.interp(wavelength[inside], generator.wavelength, clean(generator))
    result = fit_spectrum(generator, wavelength, flux)
    assert_recovered(result)
    assert result.used[wavelength > 5150.0].sum() == 0
    assert result.excluded["outside window"] > (wavelength > 5150.0).sum()
    assert np.isnan(result.model[wavelength > 5151.0]).all()
    assert result.air_wavelength[result.used][-1] < 5150.0 / doppler(400.0)


def test_too_little_coverage_or_none_is_refused(generator):
    short = uniform_grid(5120.0, 5300.0, 0.05)
    with pytest.raises(ObservationError, match=r"span only .* at least 50 A"):
        fit_spectrum(generator, short, np.ones_like(short))
    outside = uniform_grid(6000.0, 6500.0, 0.1)
    with pytest.raises(ObservationError, match="outside the model's window 4900.0-5149.9 A"):
        fit_spectrum(generator, outside, np.ones_like(outside))
    all_nan = np.full(generator.wavelength.size, np.nan)
    with pytest.raises(ObservationError, match="no usable pixel"):
        fit_spectrum(generator, generator.wavelength, all_nan)
    with pytest.raises(ObservationError, match="flux has shape"):
        fit_spectrum(generator, generator.wavelength, np.ones(10))


# -- fixed parameters, bounds, derivatives --------------------------------------------------------
def test_known_resolution_is_held_fixed_and_checked(generator):
    result = fit_spectrum(generator, generator.wavelength, clean(generator), resolution=35000)
    assert result.fixed == ("resolution",) and result.parameters["resolution"] == 35000
    assert np.isnan(result.uncertainties["resolution"])
    assert "resolution" not in result.covariance_names
    assert_recovered(result)
    with pytest.raises(OutOfDomainError, match=r"resolution = 200000 is outside"):
        fit_spectrum(generator, generator.wavelength, clean(generator), resolution=2e5)


def test_a_fit_ending_on_a_bound_says_so(generator):
    truth = TRUTH.copy()
    truth[2] = 0.0  # vsini at the lower edge of the domain
    result = fit_spectrum(generator, generator.wavelength, clean(generator, truth))
    assert result.on_bound == {"vsini": "lower"}
    assert "on a bound: vsini (lower)" in result.message
    assert "ON LOWER BOUND" in result.summary()


def test_a_fit_says_what_the_training_grid_physics_lacks_at_the_fitted_star():
    generator = AnalyticGenerator()
    truth = TRUTH.copy()
    truth[0] = 9800.0  # a late-B / early-A star: He I 4922 and 5016 A absent from the grid
    plain = fit_spectrum(generator, generator.wavelength, clean(generator, truth))
    assert len(plain.physics_caveats) == 1 and "no He I lines" in plain.physics_caveats[0]
    assert "physics: no He I lines" in plain.summary()
    assert plain.to_dict()["physics_caveats"] == plain.physics_caveats
    generator.provenance = {"grid_provenance": {"physics": {"helium_i_lines": True}}}
    with_helium = fit_spectrum(generator, generator.wavelength, clean(generator, truth))
    assert with_helium.physics_caveats == []


def test_each_jacobian_is_one_generate_call(generator):
    observation = prepare_observation(
        generator.wavelength, clean(generator), window=(4900.0, 5149.95)
    )
    model = ObservationModel(generator, observation)
    before = len(generator.batch_sizes)
    free = np.arange(6)
    _, upper, lower, distance = perturbed_spectra(model, np.full(6, 0.9995), free)
    assert generator.batch_sizes[before:] == [12]
    assert upper.shape == lower.shape == (6, generator.wavelength.size)
    np.testing.assert_allclose(distance, 2e-3)  # the stencil slid inside the upper bound


def tilted(generator, noise: float = 0.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The clean spectrum times a 10 % tilt, with Gaussian noise of this sigma: flux, error."""
    flux = clean(generator) * (1.0 + 0.1 * np.linspace(-1.0, 1.0, generator.wavelength.size))
    flux += np.random.default_rng(seed).normal(0.0, noise, flux.size)
    return flux, np.full(flux.size, max(noise, 1e-3))


def test_starts_far_worse_after_the_race_are_not_carried_on(generator):
    flux, _ = tilted(generator)
    result = fit_spectrum(generator, generator.wavelength, flux, n_starts=3)
    first, *others = result.starts
    assert first["status"] > 0
    # Both other starts ended the race at chi^2 > 1e5 times the best's: left there.
    assert [(s["status"], s["n_evaluations"]) for s in others] == [(0, RACE_EVALUATIONS)] * 2
    assert result.n_generate_calls <= 40  # 53 with every start carried to convergence
    assert_recovered(result)


def test_a_start_reaching_a_finished_minimum_stops_there(generator):
    flux, error = tilted(generator, noise=0.01)
    result = fit_spectrum(generator, generator.wavelength, flux, error, n_starts=3)
    assert [s["status"] > 0 for s in result.starts] == [True, False, False]
    assert all(s["status"] == -2 for s in result.starts[1:])  # stopped in the first's basin
    assert result.n_generate_calls <= 50  # 58 with every start carried to convergence
    found = np.array([result.parameters[n] for n in PAPER_SPACE.names])
    sigma = np.array([result.uncertainties[n] for n in PAPER_SPACE.names])
    assert np.all(np.abs(found - TRUTH) < 5.0 * sigma), (found - TRUTH) / sigma


def blas_threads() -> list[int]:
    return [get() for get, _ in _controls()]


def test_a_fit_runs_numpy_and_scipy_blas_on_one_thread_and_restores_them(generator):
    if not _controls():
        pytest.skip("no OpenBLAS found beside NumPy and SciPy")
    seen = []

    class Watched(AnalyticGenerator):
        def generate(self, params, latent="mean"):
            seen.append(blas_threads())
            return super().generate(params, latent)

    before = blas_threads()
    watched = Watched()
    flux = clean(watched)
    seen.clear()
    fit_spectrum(watched, watched.wavelength, flux, n_starts=1)
    assert seen and all(counts == [1] * len(before) for counts in seen)
    assert blas_threads() == before
    with pytest.raises(RuntimeError), single_blas_thread():
        raise RuntimeError("restored on errors too")
    assert blas_threads() == before


def test_a_generator_jacobian_replaces_finite_differences():
    differentiable = DifferentiableGenerator()
    result = fit_spectrum(differentiable, differentiable.wavelength, clean(differentiable))
    assert differentiable.jacobian_calls > 0
    assert max(differentiable.batch_sizes) <= 33  # the start design; no 12-point stencils
    assert 12 not in differentiable.batch_sizes
    assert_recovered(result)


def test_result_to_json_and_plot(generator, tmp_path):
    result = fit_spectrum(generator, generator.wavelength, clean(generator), n_starts=1)
    data = json.loads(result.to_json(tmp_path / "fit.json"))
    assert data["parameters"]["teff"] == pytest.approx(TRUTH[0], abs=7.0)
    assert data["medium"] == "air" and data["converged"] is True
    assert data["covariance"]["names"][-4:] == ["radial_velocity", "c0", "c1", "c2"]
    assert json.loads((tmp_path / "fit.json").read_text()) == data
    assert "spectrum" in result.to_dict(spectra=True)
    result.plot(tmp_path / "fit.png")
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"


# -- reading observed spectra -------------------------------------------------------------------
def test_fits_image_with_wcs_table_csv_and_specutils_read_alike(tmp_path, generator):
    wavelength = uniform_grid(4950.0, 5100.0, 0.05)
    flux = np.interp(wavelength, generator.wavelength, clean(generator))
    error = np.full(wavelength.size, 0.01)

    image = fits.PrimaryHDU(flux)
    image.header.update(CRVAL1=4950.0, CDELT1=0.05, CRPIX1=1.0, CUNIT1="Angstrom",
                        CTYPE1="WAVE", OBJECT="HD 1")
    fits.HDUList([image, fits.ImageHDU(error, name="ERROR")]).writeto(tmp_path / "image.fits")
    Table({"wavelength": wavelength / 10 * u.nm, "flux": flux, "ivar": error**-2}).write(
        tmp_path / "table.fits"
    )
    Table({"wave": wavelength, "flux": flux, "err": error}).write(
        tmp_path / "star.csv", format="ascii.csv"
    )
    import specutils

    spectrum_class = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    spectra = {
        "image": read_spectrum(tmp_path / "image.fits"),
        "table": read_spectrum(tmp_path / "table.fits"),
        "csv": read_spectrum(tmp_path / "star.csv"),
        "specutils": from_specutils(
            spectrum_class(spectral_axis=wavelength * u.AA, flux=flux * u.one)
        ),
    }
    for name, spectrum in spectra.items():
        np.testing.assert_allclose(spectrum.wavelength, wavelength, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(spectrum.flux, flux, rtol=1e-6, err_msg=name)
        if name != "specutils":
            np.testing.assert_allclose(spectrum.error, error, rtol=1e-6, err_msg=name)
    assert spectra["image"].medium == "vacuum" and spectra["image"].meta["object"] == "HD 1"
    assert spectra["csv"].medium is None
    result = fit_spectrum(generator, spectra["csv"], n_starts=1)  # an ObservedSpectrum directly
    assert_recovered(result, tolerance=5e-3)
    assert result.source.endswith("star.csv")


def test_unreadable_files_are_named(tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  = nonsense")
    with pytest.raises(SpectrumFileError, match="broken.fits"):
        read_spectrum(bad)
    with pytest.raises(SpectrumFileError, match="missing.csv: no such file"):
        read_spectrum(tmp_path / "missing.csv")
    (tmp_path / "one.csv").write_text("flux\n1\n2\n")
    with pytest.raises(SpectrumFileError, match="one.csv"):
        read_spectrum(tmp_path / "one.csv")


# -- a real trained generator and the command line ------------------------------------------------
@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    from spectral_cvae.model import train

    grid = toy_grid(uniform_grid(4980.0, 5090.0, 0.05), n=48, seed=0)
    out = tmp_path_factory.mktemp("fit-model") / "tiny.keras"
    generator = train(grid, tiny_config(epochs=3), seed=0, out=out, verbose=0)
    return generator, out


def observed_star(generator, rv=-35.0):
    """A generated spectrum, redshifted and tilted: (wavelength, flux, truth)."""
    truth = np.array([6500.0, 4.0, 20.0, 0.0, 1.5, 40000.0])
    wavelength = generator.wavelength * doppler(rv)
    x = (wavelength - 5035.0) / 55.0
    return wavelength, generator.generate(truth)[0] * (1.0 + 0.1 * x), truth


def test_a_trained_generator_is_fitted_through_the_same_api(trained_model):
    generator, _ = trained_model
    wavelength, flux, _ = observed_star(generator)
    result = fit_spectrum(generator, wavelength, flux, error=np.full(flux.size, 1e-3))
    assert result.converged
    assert result.radial_velocity == pytest.approx(-35.0, abs=0.5)
    residual = (result.flux - result.model)[result.used]
    assert np.sqrt(np.mean(residual**2)) < 1e-4
    assert all(generator.space.contains([list(result.parameters.values())]))


def test_command_line_fits_one_spectrum_to_json_and_png(trained_model, tmp_path, capsys):
    generator, model_file = trained_model
    wavelength, flux, _ = observed_star(generator)
    Table({"wavelength": wavelength, "flux": flux}).write(tmp_path / "star.csv")
    status = main(["fit", str(tmp_path / "star.csv"), "--model", str(model_file),
                   "--out", str(tmp_path / "star.json"), "--resolution", "40000",
                   "--model-error", "none"])
    assert status == 0
    data = json.loads((tmp_path / "star.json").read_text())
    assert data["model_error"].startswith("none")
    assert data["parameters"]["resolution"] == 40000 and data["fixed"] == ["resolution"]
    assert data["radial_velocity"] == pytest.approx(-35.0, abs=0.5)
    assert (tmp_path / "star.png").is_file()
    assert "radial_velocity" in capsys.readouterr().out


def test_command_line_sample_writes_chains_corner_plot_and_percentiles(
    trained_model, tmp_path, capsys
):
    generator, model_file = trained_model
    wavelength, flux, _ = observed_star(generator)
    noisy = flux + np.random.default_rng(0).normal(0.0, 0.01, flux.size)
    Table({"wavelength": wavelength, "flux": noisy, "error": np.full(flux.size, 0.01)}).write(
        tmp_path / "star.csv"
    )
    status = main(["fit", str(tmp_path / "star.csv"), "--model", str(model_file),
                   "--out", str(tmp_path / "star.json"), "--resolution", "40000", "--no-plot",
                   "--sample", "--walkers", "12", "--steps", "12", "--seed", "3"])
    assert status == 0
    data = json.loads((tmp_path / "star.json").read_text())
    posterior = data["posterior"]
    assert posterior["n_walkers"] == 12 and posterior["n_steps"] == 12 and posterior["seed"] == 3
    assert set(posterior["percentiles"]) == {"teff", "logg", "vsini", "mh", "vmic",
                                             "radial_velocity"}
    with np.load(tmp_path / "star-samples.npz") as chains:
        assert chains["chain"].shape == (12, 12, 6)
    assert (tmp_path / "star-corner.png").read_bytes()[:4] == b"\x89PNG"
    assert "posterior of" in capsys.readouterr().out
    status = main(["fit", str(tmp_path / "star.csv"), str(tmp_path / "star.csv"), "--model",
                   str(model_file), "--out", str(tmp_path / "all.csv"), "--sample"])
    assert status == 2 and "one spectrum at a time" in capsys.readouterr().err


def test_command_line_refuses_a_spectrum_outside_the_window_with_status_2(
    trained_model, tmp_path, capsys
):
    _, model_file = trained_model
    wavelength = uniform_grid(6000.0, 6200.0, 0.1)
    Table({"wavelength": wavelength, "flux": np.ones_like(wavelength)}).write(
        tmp_path / "red.csv"
    )
    status = main(["fit", str(tmp_path / "red.csv"), "--model", str(model_file)])
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "red.csv" in error and "outside the model's window" in error


def test_table_mode_skips_and_reports_bad_files(trained_model, tmp_path, capsys):
    generator, model_file = trained_model
    wavelength, flux, _ = observed_star(generator)
    Table({"wavelength": wavelength, "flux": flux}).write(tmp_path / "good.csv")
    (tmp_path / "bad.fits").write_bytes(b"not a FITS file at all")
    with open(tmp_path / "list.csv", "w") as handle:
        handle.write("path,resolution\ngood.csv,40000\nbad.fits,\nmissing.csv,\n")
    status = main(["fit", "--table", str(tmp_path / "list.csv"), "--model", str(model_file),
                   "--out", str(tmp_path / "results.csv"), "--jobs", "1",
                   "--details", str(tmp_path / "details")])
    assert status == 0
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["ok", "error", "error"]
    assert float(rows[0]["resolution"]) == 40000
    assert float(rows[0]["radial_velocity"]) == pytest.approx(-35.0, abs=0.5)
    assert "bad.fits" in rows[1]["message"] and "no such file" in rows[2]["message"]
    assert (tmp_path / "details" / "good.json").is_file()
    err = capsys.readouterr().err
    assert "skipped" in err and "bad.fits" in err and "missing.csv" in err


def test_a_generator_conditioned_on_log_r_is_fitted_and_fixed_in_physical_units():
    generator = AnalyticGenerator()
    generator.space = PAPER_SPACE.with_scales(resolution="log")
    flux = clean(generator)
    fixed = fit_spectrum(generator, generator.wavelength, flux, resolution=35000)
    assert fixed.parameters["resolution"] == pytest.approx(35000)
    assert_recovered(fixed)
    free = fit_spectrum(generator, generator.wavelength, flux)
    assert_recovered(free)
    # The errors scale with d R / d(normalized log R) = R ln(115): R's error is in R units.
    noisy = flux + np.random.default_rng(3).normal(0, 0.01, flux.size)
    result = fit_spectrum(generator, generator.wavelength, noisy, error=np.full(flux.size, 0.01))
    pull = (result.parameters["resolution"] - TRUTH[5]) / result.uncertainties["resolution"]
    assert abs(pull) < 5


def test_command_line_fits_with_the_shipped_model_by_default(tmp_path):
    from spectral_cvae.pretrained import load_pretrained

    truth = {"teff": 6100.0, "logg": 4.2, "vsini": 12.0, "mh": -0.2, "vmic": 1.3,
             "resolution": 40000.0}
    generator = load_pretrained()
    window = (generator.wavelength > 5000) & (generator.wavelength < 5300)
    flux = generator.generate(truth)[0][window]
    Table({"wavelength": generator.wavelength[window], "flux": flux}).write(tmp_path / "sun.csv")
    status = main(["fit", str(tmp_path / "sun.csv"), "--out", str(tmp_path / "sun.json"),
                   "--resolution", "40000"])
    assert status == 0
    data = json.loads((tmp_path / "sun.json").read_text())
    assert data["parameters"]["teff"] == pytest.approx(truth["teff"], abs=70)
    assert data["parameters"]["logg"] == pytest.approx(truth["logg"], abs=0.1)
    # The shipped model's own error is counted by default.
    assert "validation stars" in data["model_error"] and data["model_error_inflation"] > 1
