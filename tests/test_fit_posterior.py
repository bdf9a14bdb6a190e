"""Posterior sampling of fits: agreement with least squares, bounds, seeds, outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spectral_cvae.fitting import (
    PosteriorSamples,
    fit_spectrum,
    make_observation,
    sample_posterior,
)
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import TRUTH, AnalyticGenerator, clean

SIGMA = 0.01


@pytest.fixture(scope="module")
def generator() -> AnalyticGenerator:
    return AnalyticGenerator()


@pytest.fixture(scope="module")
def noisy(generator):
    """A noisy spectrum of the stand-in (S/N 100) and its least-squares fit, R known."""
    rng = np.random.default_rng(3)
    flux = clean(generator) + rng.normal(0.0, SIGMA, generator.wavelength.size)
    error = np.full(flux.size, SIGMA)
    fit = fit_spectrum(generator, generator.wavelength, flux, error=error, resolution=35000.0)
    return flux, error, fit


@pytest.fixture(scope="module")
def posterior(generator, noisy) -> PosteriorSamples:
    return sample_posterior(generator, noisy[2], n_steps=600, seed=1)


def test_posterior_median_and_spread_agree_with_least_squares(posterior):
    # At S/N 100 the stand-in's posterior is close to Gaussian: its median is the optimum
    # and its covariance the least-squares one, within sampling error. With 24 walkers x
    # 450 kept steps and tau ~ 30 steps there are ~350 independent draws: a median within
    # 0.05 sigma and a spread within 4 % of the truth, typically.
    assert posterior.names == ("teff", "logg", "vsini", "mh", "vmic", "radial_velocity")
    assert posterior.fixed == {"resolution": 35000.0}
    sample_sigma = np.sqrt(np.diag(posterior.sample_covariance()))
    for j, name in enumerate(posterior.names):
        error = posterior.best_fit_errors[name]
        assert abs(posterior.median[name] - posterior.best_fit[name]) < 0.3 * error, name
        assert sample_sigma[j] == pytest.approx(error, rel=0.2), name
        low, high = posterior.errors[name]
        assert low == pytest.approx(error, rel=0.25) and high == pytest.approx(error, rel=0.25)
    correlation = posterior.sample_covariance() / np.outer(sample_sigma, sample_sigma)
    expected = posterior.covariance / np.outer(*(2 * [np.sqrt(np.diag(posterior.covariance))]))
    assert np.abs(correlation - expected).max() < 0.2
    assert 0.2 < posterior.acceptance_fraction.mean() < 0.7
    assert np.all(np.isfinite(posterior.autocorrelation_time))
    assert posterior.chain.shape == (600, 24, 6) and posterior.n_burn == 150
    assert posterior.samples.shape == (450 * 24, 6)


def test_the_truth_lies_within_the_posterior(posterior):
    for name, truth in zip(PAPER_SPACE.names, TRUTH):
        if name in posterior.percentiles:
            low, mid, high = posterior.percentiles[name]
            assert mid - 5 * (mid - low) < truth < mid + 5 * (high - mid), name
    low, mid, high = posterior.percentiles["radial_velocity"]
    assert mid - 5 * (mid - low) < 0.0 < mid + 5 * (high - mid)


def test_seeded_sampling_repeats_and_another_seed_differs(generator, noisy):
    fit = noisy[2]
    first = sample_posterior(generator, fit, n_steps=15, seed=7)
    again = sample_posterior(generator, fit, n_steps=15, seed=7)
    other = sample_posterior(generator, fit, n_steps=15, seed=8)
    np.testing.assert_array_equal(first.chain, again.chain)
    np.testing.assert_array_equal(first.log_probability, again.log_probability)
    assert not np.allclose(first.chain, other.chain)


def test_walkers_stay_inside_the_domain_where_the_optimum_is_on_a_bound(generator):
    truth = TRUTH.copy()
    truth[2] = 0.0  # v sin i at the lower edge of the domain
    flux = clean(generator, truth) + np.random.default_rng(5).normal(
        0.0, SIGMA, generator.wavelength.size
    )
    fit = fit_spectrum(generator, generator.wavelength, flux, error=np.full(flux.size, SIGMA),
                       resolution=35000.0, n_starts=1)
    posterior = sample_posterior(generator, fit, n_steps=120, seed=0)
    vsini = posterior.chain[..., posterior.names.index("vsini")]
    assert vsini.min() >= 0.0  # flat prior inside the domain, zero outside
    assert np.all(posterior.chain >= posterior.lower) and np.all(posterior.chain <= posterior.upper)
    assert np.isfinite(posterior.log_probability).all()


def test_arguments_run_the_fit_first_and_progress_can_stop_sampling(generator):
    spectrum = make_observation(generator.wavelength, clean(generator), snr=200.0,
                                radial_velocity=30.0, tilt=0.05, mask_fraction=0.01, seed=2)
    calls = []

    def progress(step, n_steps):
        calls.append((step, n_steps))
        return step < 10

    posterior = sample_posterior(generator, spectrum, resolution=35000.0, n_walkers=16,
                                 n_steps=100, seed=0, progress=progress)
    assert posterior.stopped and posterior.n_steps == 10 and calls[-1] == (10, 100)
    assert posterior.n_walkers == 16
    assert posterior.best_fit["radial_velocity"] == pytest.approx(30.0, abs=0.5)
    with pytest.raises(ValueError, match="either a FitResult"):
        sample_posterior(generator, fit_spectrum(generator, spectrum, n_starts=1), flux=1.0)
    with pytest.raises(ValueError, match="n_walkers must be even"):
        sample_posterior(generator, spectrum, n_walkers=7, n_steps=5)


def test_estimated_noise_weights_the_posterior_like_the_fit(generator, noisy):
    flux = noisy[0]
    fit = fit_spectrum(generator, generator.wavelength, flux, resolution=35000.0,
                       radial_velocity=0.0)  # no errors given; radial velocity known
    posterior = sample_posterior(generator, fit, n_steps=300, seed=3)
    assert posterior.noise_estimated and posterior.noise == pytest.approx(SIGMA, rel=0.05)
    assert "radial_velocity" not in posterior.names
    assert posterior.fixed["radial_velocity"] == 0.0
    sample_sigma = np.sqrt(np.diag(posterior.sample_covariance()))
    for j, name in enumerate(posterior.names):
        assert sample_sigma[j] == pytest.approx(fit.uncertainties[name], rel=0.3), name


def test_chains_corner_plot_and_summary_are_written(posterior, tmp_path):
    posterior.save(tmp_path / "chains.npz")
    with np.load(tmp_path / "chains.npz") as data:
        np.testing.assert_array_equal(data["chain"], posterior.chain)
        assert list(data["names"]) == list(posterior.names)
        summary = json.loads(str(data["summary"]))
    assert summary["n_steps"] == 600 and summary["percentiles"]["teff"][1] == pytest.approx(
        posterior.median["teff"])
    json.dumps(posterior.to_dict())
    figure = posterior.corner(tmp_path / "corner.png")
    assert (tmp_path / "corner.png").read_bytes()[:4] == b"\x89PNG"
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 6 * 7 // 2
    assert "radial_velocity" in posterior.summary() and "teff" in repr(posterior)


def test_a_simulated_observation_carries_its_truth(generator):
    spectrum = make_observation(generator.wavelength, clean(generator), snr=50.0,
                                radial_velocity=-80.0, tilt=0.1, scale=2.0,
                                mask_fraction=0.02, masked_band=3.0, seed=4)
    assert spectrum.meta["radial_velocity"] == -80.0
    assert spectrum.wavelength[0] > generator.wavelength[0]
    step = np.diff(spectrum.wavelength)
    assert step.mean() == pytest.approx(1.3 * 0.05)
    np.testing.assert_allclose(spectrum.error, spectrum.meta["continuum"] / 50.0)
    continuum = spectrum.meta["continuum"]
    assert continuum[0] == pytest.approx(2.0 * 0.9) and continuum[-1] == pytest.approx(2.0 * 1.1)
    assert 0.02 < spectrum.mask.mean() < 0.1
