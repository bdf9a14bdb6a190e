"""The streaming PCA and the PCA inverter: accuracy, persistence and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from spectral_cvae.cli.main import main
from spectral_cvae.errors import GridFileError, GridInputError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.grid.toy import toy_spectrum
from spectral_cvae.grid.wavelength import resample, uniform_grid
from spectral_cvae.inversion import NotFittedError, PCAInverter, fit_pca
from spectral_cvae.inversion.spectra import read_spectra

from .conftest import random_parameters


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
    with pytest.raises(GridInputError, match="n_components = 6 exceeds what 5 spectra"):
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
    with pytest.raises(GridFileError, match="no such inverter file"):
        PCAInverter.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(GridFileError, match="not a spectral-cvae PCA inverter"):
        PCAInverter.load(tmp_path / "other.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(GridFileError, match="broken.npz"):
        PCAInverter.load(tmp_path / "broken.npz")


def test_wrong_shapes_and_wavelengths_are_refused(toy_grid, fitted):
    grid, _ = toy_grid
    with pytest.raises(
        GridInputError, match=r"expected spectra of shape \(n, 600\).*received shape \(3, 599\)"
    ):
        fitted.predict(np.ones((3, 599)))
    with pytest.raises(ValueError, match="does not match its 600 wavelengths"):
        fitted.predict(np.ones((2, 601)), wavelength=grid.wavelength)
    narrow = uniform_grid(5165.0, 5185.0, 0.05)
    with pytest.raises(GridInputError, match="does not cover the requested 5160.000-5189.950 A"):
        fitted.predict(np.ones((1, narrow.size)), wavelength=narrow)
    flux = grid.read_flux([0, 1, 2]).astype(float)
    flux[1, 10] = np.nan
    with pytest.raises(GridInputError, match="spectrum 1 has non-finite flux"):
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
