"""The streaming PCA and the PCA inverter: accuracy, persistence and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from spectral_cvae.cli.main import main
from spectral_cvae.errors import ConfigError, GridInputError, ModelFileError, SpectrumInputError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.grid.toy import toy_spectrum
from spectral_cvae.grid.wavelength import resample, uniform_grid
from spectral_cvae.inversion import NotFittedError, PCAInverter, fit_pca
from spectral_cvae.io import read_spectra

from .helpers import random_parameters


def test_streaming_pca_finds_the_leading_components(rng):
    n, p, k = 300, 120, 4
    basis, _ = np.linalg.qr(rng.normal(size=(p, k)))
    scales = np.array([5.0, 2.0, 1.0, 0.5])
    data = 1.0 + rng.normal(size=(n, k)) * scales @ basis.T + 1e-3 * rng.normal(size=(n, p))
    pca = fit_pca(lambda: (data[s : s + 64] for s in range(0, n, 64)), n_components=k)
    _, singular, vt = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(pca.mean, data.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(pca.explained_variance, singular[:k] ** 2 / n, rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components @ vt[:k].T), np.eye(k), atol=1e-6)
    rebuilt = pca.inverse_transform(pca.transform(data))
    assert np.abs(rebuilt - data).max() < 1e-2
    assert pca.explained_variance.sum() / pca.total_variance > 0.99


def test_pca_refuses_more_components_than_spectra(rng):
    data = rng.normal(size=(5, 50))
    with pytest.raises(ConfigError, match="n_components = 6 exceeds what 5 spectra"):
        fit_pca(lambda: [data], 6)


@pytest.fixture(scope="module")
def toy_grid():
    """Toy spectra of the Mg b region over Teff, log g, [M/H] and xi_t (no broadening)."""
    rng = np.random.default_rng(7)
    wavelength = uniform_grid(5160.0, 5190.0, 0.05)
    parameters = random_parameters(400, rng)
    parameters[:, 2], parameters[:, 5] = 0.0, 115000.0  # unbroadened
    flux = np.stack([toy_spectrum(wavelength, *row[[0, 1, 3, 4]]) for row in parameters])
    grid = SpectralGrid(wavelength, flux.astype(np.float32), parameters)
    return grid, grid.split(test=0.15, validation=0.15, seed=1)


@pytest.fixture(scope="module")
def fitted(toy_grid):
    grid, split = toy_grid
    # Full-batch steps: on a small grid the per-step overhead dominates the training time.
    inverter = PCAInverter(
        n_components=12,
        hidden=(128, 64),
        learning_rate=1e-2,
        batch_size=512,
        epochs=120,
        patience=30,
    )
    return inverter.fit(grid, split)


def test_inverter_recovers_parameters_better_than_the_mean(toy_grid, fitted):
    grid, split = toy_grid
    true = grid.parameters[split.test]
    predicted = fitted.predict(grid.read_flux(split.test))
    assert predicted.shape == (len(split.test), 6)
    error = np.abs(predicted - true).mean(axis=0)
    floor = np.abs(true - grid.parameters[split.train].mean(axis=0)).mean(axis=0)
    # teff, logg, mh, vmic shape the toy lines; the inverter must beat the mean on each.
    for k, name in ((0, "teff"), (1, "logg"), (3, "mh"), (4, "vmic")):
        assert error[k] < (0.7 if name == "logg" else 0.5) * floor[k], name


def test_fit_stores_hyperparameters_only_in_the_constructor(fitted):
    fresh = PCAInverter(n_components=12)
    assert not fresh.is_fitted and not hasattr(fresh, "pca_")
    assert fitted.n_features_in_ == 600 and fitted.pca_.n_components == 12
    assert fitted.history_["loss"] and "val_loss" in fitted.history_
    with pytest.raises(NotFittedError, match="not fitted"):
        fresh.predict(np.ones((1, 600)))


def test_save_and_load_give_the_same_predictions(toy_grid, fitted, tmp_path):
    grid, split = toy_grid
    path = fitted.save(tmp_path / "inverter.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["inverter.npz"]
    loaded = PCAInverter.load(path)
    flux = grid.read_flux(split.test)
    np.testing.assert_array_equal(loaded.predict(flux), fitted.predict(flux))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.space_ == grid.space
    np.testing.assert_array_equal(loaded.wavelength_, grid.wavelength)


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="no such inverter file"):
        PCAInverter.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(ModelFileError, match="not a spectral-cvae PCA inverter"):
        PCAInverter.load(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="broken.npz"):
        PCAInverter.load(tmp_path / "broken.npz")


def test_wrong_shapes_and_wavelengths_are_refused(toy_grid, fitted):
    grid, _ = toy_grid
    with pytest.raises(
        SpectrumInputError, match=r"expected spectra of shape \(n, 600\).*received shape \(3, 599\)"
    ):
        fitted.predict(np.ones((3, 599)))
    with pytest.raises(ValueError, match="does not match its 600 wavelengths"):
        fitted.predict(np.ones((2, 601)), wavelength=grid.wavelength)
    narrow = uniform_grid(5165.0, 5185.0, 0.05)
    with pytest.raises(GridInputError, match="does not cover the requested 5160.000-5189.950 A"):
        fitted.predict(np.ones((1, narrow.size)), wavelength=narrow)
    flux = grid.read_flux([0, 1, 2]).astype(float)
    flux[1, 10] = np.nan
    with pytest.raises(SpectrumInputError, match="spectrum 1 has non-finite flux"):
        fitted.predict(flux)


def test_spectra_on_another_grid_are_resampled_onto_the_inverter_wavelengths(toy_grid, fitted):
    grid, split = toy_grid
    fine = uniform_grid(5155.0, 5195.0, 0.01)
    rows = split.test[:5]
    flux = np.stack([toy_spectrum(fine, *row[[0, 1, 3, 4]]) for row in grid.parameters[rows]])
    resampled = resample(fine, flux, grid.wavelength)
    np.testing.assert_array_equal(fitted.check_flux(flux, wavelength=fine), resampled)
    np.testing.assert_array_equal(fitted.predict(flux, wavelength=fine), fitted.predict(resampled))
    # Spectra already on the inverter's wavelengths are used as they are.
    native = grid.read_flux(rows)
    np.testing.assert_array_equal(fitted.check_flux(native, grid.wavelength), native)


def test_invert_command_reads_grids_fits_and_text(toy_grid, fitted, tmp_path, capsys):
    grid, split = toy_grid
    model = fitted.save(tmp_path / "inverter.npz")
    grid_path = grid.subset(split.test).save(tmp_path / "test.h5")
    out = tmp_path / "parameters.csv"
    assert (
        main(["invert", "--model", str(model), "--spectra", str(grid_path), "--out", str(out)]) == 0
    )
    captured = capsys.readouterr()
    assert "mean absolute error against the file's parameters: teff" in captured.err
    lines = out.read_text().splitlines()
    assert lines[0] == (
        "spectrum,teff [K],logg [dex],vsini [km/s],mh [dex],vmic [km/s],resolution,in_domain"
    )
    assert len(lines) == len(split.test) + 1
    expected = fitted.predict(grid.read_flux(split.test[0]))[0]
    np.testing.assert_allclose([float(v) for v in lines[1].split(",")[1:-1]], expected, rtol=1e-5)

    # One spectrum as a FITS image with a linear wavelength WCS, in nm.
    header = fits.Header({"CRVAL1": 516.0, "CDELT1": 0.005, "CRPIX1": 1.0, "CUNIT1": "nm"})
    fits.PrimaryHDU(grid.read_flux(split.test[0]), header=header).writeto(tmp_path / "star.fits")
    assert main(["invert", "--model", str(model), "--spectra", str(tmp_path / "star.fits")]) == 0
    row = capsys.readouterr().out.splitlines()[1].split(",")
    np.testing.assert_allclose([float(v) for v in row[1:-1]], expected, rtol=1e-4)

    # A text table covering only part of the window is refused with the ranges.
    text = tmp_path / "short.csv"
    half = grid.wavelength[:300]
    text.write_text("wavelength,flux\n" + "".join(f"{w},{f}\n" for w, f in zip(half, np.ones(300))))
    spectra = read_spectra(text)
    assert spectra.flux.shape == (1, 300)
    assert main(["invert", "--model", str(model), "--spectra", str(text)]) == 2
    assert "does not cover the requested" in capsys.readouterr().err


def test_get_params_and_set_params_follow_the_clone_contract():
    hidden = (32, 16)
    inverter = PCAInverter(n_components=7, hidden=hidden, epochs=5, seed=3)
    params = inverter.get_params(deep=True)
    assert set(params) == {
        "n_components",
        "hidden",
        "learning_rate",
        "batch_size",
        "epochs",
        "patience",
        "lr_patience",
        "lr_factor",
        "min_learning_rate",
        "pca_iterations",
        "seed",
        "verbose",
    }
    # clone(): each parameter is the object given, and a rebuilt estimator has the same ones.
    assert params["hidden"] is hidden and params == inverter.get_params(deep=False)
    clone = type(inverter)(**inverter.get_params())
    assert clone is not inverter and not clone.is_fitted
    for name, value in inverter.get_params().items():
        assert clone.get_params()[name] is value, name
    assert inverter.set_params(epochs=9, hidden=(8,)) is inverter
    assert inverter.epochs == 9 and inverter.hidden == (8,)
    with pytest.raises(ConfigError, match="no parameter 'n_layers'.*n_components"):
        inverter.set_params(epochs=1, n_layers=3)
    assert inverter.epochs == 9  # nothing changed by a refused call


def test_loading_gives_back_the_hidden_widths_as_a_tuple(fitted, tmp_path):
    loaded = PCAInverter.load(fitted.save(tmp_path / "inverter.npz"))
    assert loaded.hidden == (128, 64) and isinstance(loaded.hidden, tuple)


def test_fitting_leaves_the_global_random_generators_as_they_were(toy_grid):
    import random

    grid, split = toy_grid
    np.random.seed(12345)  # noqa: NPY002 - the global generator is what is checked
    random.seed(54321)
    expected_numpy, expected_python = np.random.random(3), random.random()  # noqa: NPY002
    np.random.seed(12345)  # noqa: NPY002
    random.seed(54321)
    PCAInverter(n_components=4, hidden=(8,), epochs=2, batch_size=64, seed=5).fit(grid, split)
    np.testing.assert_array_equal(np.random.random(3), expected_numpy)  # noqa: NPY002
    assert random.random() == expected_python


def test_fitting_twice_with_one_seed_gives_the_same_network(toy_grid):
    grid, split = toy_grid
    first, second = (
        PCAInverter(n_components=4, hidden=(8,), epochs=2, batch_size=64, seed=5).fit(grid, split)
        for _ in range(2)
    )
    for (kernel_a, bias_a), (kernel_b, bias_b) in zip(first.weights_, second.weights_):
        np.testing.assert_array_equal(kernel_a, kernel_b)
        np.testing.assert_array_equal(bias_a, bias_b)


def test_fit_shows_the_epochs_and_the_time_left_when_asked(toy_grid, capsys):
    grid, split = toy_grid
    PCAInverter(n_components=4, hidden=(8,), epochs=3, patience=10, batch_size=64).fit(
        grid, split, progress=True
    )
    shown = capsys.readouterr().err
    assert "inverter, epochs" in shown and "3/3" in shown
    assert "epoch/s" in shown or "s/epoch" in shown  # the rate, whichever way tqdm gives it
    PCAInverter(n_components=4, hidden=(8,), epochs=3, patience=10, batch_size=64).fit(
        grid, split, progress=False
    )
    assert "inverter, epochs" not in capsys.readouterr().err


def test_keras_seeded_gives_the_generators_back_even_after_an_error():
    import random

    from spectral_cvae.seeding import keras_seeded

    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    with pytest.raises(RuntimeError, match="inside"), keras_seeded(3):
        np.random.random(5)  # noqa: NPY002
        raise RuntimeError("inside")
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(after[1], numpy_state[1])
    assert after[2] == numpy_state[2] and random.getstate() == python_state
