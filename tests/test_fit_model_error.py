"""The generator's own error in the fit: honest pulls, the sandwich, the shipped file."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.fitting import ModelError, fit_spectrum, make_observation
from spectral_cvae.fitting.model_error import (
    NO_MODEL_ERROR,
    calibrate,
    model_covariance,
    provenance_digest,
    resolve,
)
from spectral_cvae.fitting.posterior import _Posterior
from spectral_cvae.grid.store import in_memory_grid
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import TRUTH, AnalyticGenerator, clean

WIDTH = 0.3
"""Angstrom: the injected error is white noise smoothed by a Gaussian of this width."""
FIXED = {"vmic": TRUTH[4], "logg": TRUTH[1]}


@pytest.fixture(scope="module")
def generator() -> AnalyticGenerator:
    return AnalyticGenerator()


def injected_sigma(generator: AnalyticGenerator) -> np.ndarray:
    """The injected error's standard deviation: largest in the lines, as a generator's."""
    return 0.001 + 0.02 * (1.0 - clean(generator))


def known_error(generator: AnalyticGenerator, sigma: np.ndarray) -> ModelError:
    """A ModelError that describes the injected error exactly."""
    step = float(np.median(np.diff(generator.wavelength)))
    lags = np.arange(0.0, 3.0 + step / 2, step)
    # Smoothing white noise by a Gaussian of width w gives correlation exp(-d^2 / 4 w^2).
    correlation = np.exp(-(lags**2) / (4.0 * WIDTH**2))
    return ModelError(
        wavelength=generator.wavelength, teff=np.array([6000.0]), rms=sigma[None, :],
        vsini=np.array([50.0]), scale=np.array([1.0]), correlation=correlation[None, :],
        lag_step=step, provenance={"model_provenance_sha256": provenance_digest(None)},
    )


def correlated_error(n: int, step: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise correlated as exp(-d^2 / 4 WIDTH^2)."""
    half = int(np.ceil(5 * WIDTH / step))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / WIDTH) ** 2)
    noise = np.convolve(rng.standard_normal(n + 2 * half), kernel, mode="valid")
    return noise / np.sqrt(np.sum(kernel**2))


def pulls(generator, model_error, n_spectra=16, snr=1000.0, seed=0):
    """(fit - truth) / error of Teff, v sin i and [M/H] for spectra carrying the injected
    error the generator does not know about, at a noise far below it."""
    sigma = injected_sigma(generator)
    step = float(np.median(np.diff(generator.wavelength)))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_spectra):
        true = clean(generator) + sigma * correlated_error(sigma.size, step, rng)
        observed = make_observation(generator.wavelength, true, snr=snr, seed=seed + i)
        result = fit_spectrum(
            generator, observed, resolution=TRUTH[5], fixed=FIXED, n_starts=1,
            n_candidates=8, radial_velocity=0.0, model_error=model_error,
        )
        out.append([(result.parameters[n] - TRUTH[j]) / result.uncertainties[n]
                     for j, n in enumerate(PAPER_SPACE.names) if n in ("teff", "vsini", "mh")])
    return np.array(out)


def test_pulls_are_honest_only_with_the_model_error_term(generator):
    # The spectra err by a correlated error 10-20 times the photon noise: fits that count
    # the noise alone claim errors several times too small; with the term, pulls are ~1.
    error = known_error(generator, injected_sigma(generator))
    without = pulls(generator, "none")
    with_term = pulls(generator, error)
    assert np.std(without) > 3.0
    assert 0.6 < np.std(with_term) < 1.5
    assert 0.5 < np.median(np.abs(with_term)) / 0.6745 < 1.5


def test_model_covariance_equals_the_dense_matrix():
    rng = np.random.default_rng(1)
    wavelength = 5000.0 + 0.05 * np.arange(300)
    sigma = rng.uniform(0.001, 0.01, 300)
    columns = rng.normal(size=(300, 3))
    lags = np.arange(0, 41) * 0.05
    correlation = np.exp(-lags / 0.4) * (1.0 - lags / lags[-1])
    error = ModelError(wavelength, np.array([6000.0]), sigma[None, :], np.array([0.0]),
                       np.array([1.0]), correlation[None, :], 0.05)
    distance = np.abs(wavelength[:, None] - wavelength[None, :])
    dense = np.outer(sigma, sigma) * np.interp(distance / 0.05, np.arange(41), correlation,
                                               right=0.0)
    expected = columns.T @ dense @ columns
    assert model_covariance(error, 0.0, wavelength, sigma, columns) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


def test_sigma_interpolates_between_teff_bins_and_scales_with_vsini():
    wavelength = np.arange(4.0)
    error = ModelError(wavelength, np.array([5000.0, 7000.0]),
                       np.array([[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.0]]),
                       np.array([10.0, 100.0]), np.array([2.0, 1.0]), np.ones((2, 3)), 0.05)
    assert error.sigma(6000.0, 10.0) == pytest.approx([4.0, 4.0, 4.0, 4.0])
    assert error.sigma(4000.0, 200.0) == pytest.approx([1.0, 2.0, 3.0, 4.0])
    assert error.sigma(7000.0, 55.0) == pytest.approx(1.5 * np.array([3.0, 2.0, 1.0, 0.0]))
    error.factor = 2.0
    assert error.sigma(4000.0, 200.0) == pytest.approx([2.0, 4.0, 6.0, 8.0])


def test_calibration_recovers_an_injected_error(generator):
    rng = np.random.default_rng(2)
    step = float(np.median(np.diff(generator.wavelength)))
    parameters = np.repeat(TRUTH[None, :], 60, axis=0)
    parameters[:, 0] = rng.uniform(5000.0, 5900.0, 60)
    sigma = injected_sigma(generator)
    flux = np.asarray(generator.generate(parameters), float) - sigma * np.stack(
        [correlated_error(sigma.size, step, rng) for _ in range(60)]
    )
    grid = in_memory_grid(generator.wavelength, flux.astype(np.float32), parameters,
                          PAPER_SPACE, {}, np.arange(60))
    error = calibrate(generator, grid, teff_edges=(4000.0, 6000.0),
                      vsini_edges=(0.0, 300.0), max_lag=3.0)
    assert error.rms.shape == (1, sigma.size)
    assert np.median(error.rms[0] / sigma) == pytest.approx(1.0, abs=0.1)
    expected = np.exp(-(np.array([0.1, 0.3, 0.6]) ** 2) / (4.0 * WIDTH**2))
    assert error.correlation_at(50.0, [0.1, 0.3, 0.6]) == pytest.approx(expected, abs=0.1)


def test_model_error_round_trips_through_its_file(generator, tmp_path):
    error = known_error(generator, injected_sigma(generator))
    loaded = ModelError.load(error.save(tmp_path / "model.model-error.npz"))
    assert loaded.wavelength == pytest.approx(generator.wavelength)
    assert loaded.rms == pytest.approx(error.rms, rel=1e-3)
    assert loaded.provenance == error.provenance
    assert loaded.matches(generator)


def test_a_generator_without_a_file_fits_with_the_noise_only_and_says_so(generator):
    assert resolve(generator, "auto")[0] is None
    result = fit_spectrum(generator, make_observation(generator.wavelength, clean(generator)),
                          resolution=TRUTH[5], n_starts=1, n_candidates=8)
    assert result.model_error.startswith(NO_MODEL_ERROR)
    assert "no model-error file" in result.model_error
    assert result.model_sigma is None
    assert "model error: none" in result.summary()
    with pytest.raises(ValueError, match="model_error must be"):
        resolve(generator, "always")


def test_the_posterior_counts_the_fit_s_model_error(generator):
    error = known_error(generator, injected_sigma(generator))
    observed = make_observation(generator.wavelength, clean(generator), snr=300.0)
    fit = fit_spectrum(generator, observed, resolution=TRUTH[5], n_starts=1, n_candidates=8,
                       model_error=error)
    assert fit.model_error_inflation > 1.0
    assert fit.noise_uncertainties["teff"] < fit.uncertainties["teff"]
    target = _Posterior(generator, fit)
    used = fit.used
    expected = 1.0 / np.sqrt(fit.error[used] ** 2
                             + fit.model_error_inflation * fit.model_sigma[used] ** 2)
    assert target.model.weight == pytest.approx(expected)


def test_the_shipped_model_error_belongs_to_the_shipped_model():
    from spectral_cvae.pretrained import load_pretrained, pretrained_path

    generator = load_pretrained()
    path = pretrained_path().with_name("pretrained.model-error.npz")
    assert path.stat().st_size < 1_000_000
    error = ModelError.load(path)
    assert error.matches(generator)
    assert ModelError.for_generator(generator) is not None
    record = error.provenance
    assert record["subset"].startswith("validation stars")
    assert {"file": "reference-sobol101.h5", "sha256": "724f5d88662a8f4df2eda39abf1ce2ffac137bc"
            "033925a179ccb5d5c7ef9c01d"} in record["grids"]
    # Measured on the model's validation stars: as many as its split holds.
    assert record["stars"] == generator.provenance["split"]["validation"]
    # Its factor is the median spread of the validation fits' pulls it was set from.
    spreads = record["pull_calibration"]["robust_pull_spread_with_factor_1"]
    assert error.factor == pytest.approx(np.median(list(spreads.values())))


def test_without_uncertainties_the_noise_is_estimated_beside_the_model_error(generator):
    sigma = injected_sigma(generator)
    step = float(np.median(np.diff(generator.wavelength)))
    true = clean(generator) + sigma * correlated_error(sigma.size, step,
                                                       np.random.default_rng(4))
    observed = make_observation(generator.wavelength, true, snr=200.0, seed=4)
    result = fit_spectrum(
        generator, observed.wavelength, observed.flux, None, observed.mask,
        resolution=TRUTH[5], fixed=FIXED, n_starts=1, n_candidates=8,
        model_error=known_error(generator, sigma),
    )
    assert result.noise_estimated
    assert result.noise == pytest.approx(1.0 / 200.0, rel=0.25)
    assert all(np.isfinite(result.uncertainties[n]) for n in ("teff", "vsini", "mh"))
