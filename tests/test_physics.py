"""The physics-aware CVAE: base spectra from a network, v sin i and R from exact broadening."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.evaluation import evaluate_model
from spectral_cvae.grid import broaden, paper_wavelength, unseen_stars
from spectral_cvae.grid.groups import base_model_keys
from spectral_cvae.grid.wavelength import log_uniform_grid
from spectral_cvae.model import SpectrumGenerator
from spectral_cvae.model.physics import PhysicsConfig, fit_basis, to_logit
from spectral_cvae.model.physics_training import load_base_grids, log_base_flux, train_physics
from spectral_cvae.provenance import file_sha256, recorded_split, recorded_training_keys
from spectral_cvae.starter import load_starter_base_grid, starter_path

POINTS = np.array([[5800.0, 4.4, 3.0, 0.0, 1.0, 60000.0], [9500.0, 4.0, 150.0, -0.7, 2.0, 3000.0]])


def tiny_physics(**overrides) -> PhysicsConfig:
    settings = dict(
        n_components=8,
        encoder_units=(16,),
        decoder_units=(16, 16),
        latent_dim=2,
        batch_size=8,
        epochs=2,
        basis_dtype="float32",
    )
    return PhysicsConfig.preset("physics", **{**settings, **overrides})


@pytest.fixture(scope="module")
def base():
    return load_starter_base_grid().subset(np.arange(30))


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    out = tmp_path_factory.mktemp("physics") / "physics.keras"
    return train_physics(base, tiny_physics(), seed=0, out=out), out


def test_generated_spectra_are_the_base_spectrum_broadened_exactly(trained):
    generator, _ = trained
    flux = generator.generate(POINTS)
    assert flux.shape == (2, 19000) and np.isfinite(flux).all()
    model = generator.model
    condition = generator.space.normalize(POINTS).astype(np.float32)
    z = np.zeros((2, model.config.latent_dim), np.float32)
    base_flux = np.asarray(model.base_decoder.predict_on_batch([z, condition[:, [0, 1, 3, 4]]]))
    expected = broaden(
        log_uniform_grid(4440.0, 5410.0, model.config.velocity_step),
        base_flux,
        POINTS[:, 2],
        POINTS[:, 5],
        wavelength_out=paper_wavelength(),
        oversample=None,
    )
    np.testing.assert_allclose(flux, expected, atol=1e-5)


def test_the_model_file_reloads_to_the_same_spectra_and_records_its_stars(trained, base):
    generator, path = trained
    again = SpectrumGenerator.load(path)
    np.testing.assert_array_equal(again.generate(POINTS), generator.generate(POINTS))
    split = recorded_split(again.provenance)
    assert split.by == "base_model" and split.n_spectra == 30
    seen = recorded_training_keys(again.provenance)
    keys = base_model_keys(base.parameters, base.space)
    assert set(seen.tolist()) == set(keys[np.r_[split.train, split.validation]].tolist())
    assert not np.isin(keys[split.test], seen).any()


def test_the_basis_never_sees_the_test_stars(base):
    config = tiny_physics(epochs=1)
    split = base.split(seed=3)
    changed = base.subset(np.arange(len(base)))
    changed.flux[split.test] = np.clip(changed.flux[split.test] * 0.5, 0.0, None)
    first = train_physics(base, config, split=split, seed=0).model.basis
    second = train_physics(changed, config, split=split, seed=0).model.basis
    np.testing.assert_array_equal(first.components.numpy(), second.components.numpy())
    np.testing.assert_array_equal(first.mean.numpy(), second.mean.numpy())


def test_the_logit_basis_reconstructs_training_spectra(base):
    flux = log_base_flux(base.subset(np.arange(12)), 1.1)
    basis = fit_basis(flux, 11, 1.1)
    logit = basis.mean + (basis.coefficients(flux, 1.1) * basis.scale) @ basis.components
    np.testing.assert_allclose(logit, to_logit(flux, 1.1), atol=2e-3)
    assert 0.99 < basis.explained <= 1.0 + 1e-9


def test_unseen_stars_evaluate_without_refusal(trained, base, tmp_path):
    generator, _ = trained
    held_out = unseen_stars(base, recorded_training_keys(generator.provenance), 2, seed=4)
    report = evaluate_model(
        generator,
        held_out,
        None,
        tmp_path / "report",
        accuracy=False,
        synthesis=False,
        figures=False,
    )
    assert report["split"]["seen"] == {"test_spectra": 0, "base_models": 0}
    assert report["residuals"]["n_spectra"] == held_out.n_spectra
    assert 0 < report["residuals"]["overall"]["median"] < 0.5


def test_base_grids_are_recorded_with_their_sha256():
    grid = load_base_grids()
    record = grid.provenance["base_grids"][0]
    assert record["sha256"] == file_sha256(starter_path()) and record["n_models"] == len(grid)
