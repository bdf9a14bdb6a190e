"""Generating spectra from a trained model: API, domain guard, command line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from spectral_cvae.cli.main import main
from spectral_cvae.errors import ConfigError, OutOfDomainError, SpectrumInputError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.io import read_spectra, read_spectrum
from spectral_cvae.model import ExtrapolationWarning, GenerationResult

SUN = {"teff": 5800.0, "logg": 4.4, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000.0}


def test_generate_returns_float32_flux_per_point_for_any_batch_size(trained):
    generator, _ = trained
    one = generator.generate(SUN)
    assert one.shape == (1, generator.n_pixels) and one.dtype == np.float32
    points = np.tile(list(SUN.values()), (1500, 1))  # more than one decoder call
    many = generator.generate(points)
    assert many.shape == (1500, generator.n_pixels)
    np.testing.assert_allclose(many[[0, 1024, 1499]], np.repeat(one, 3, axis=0), atol=1e-6)
    assert np.all((many > 0) & (many < generator.config.flux_scale))


def test_generate_returns_one_array_whatever_the_latent_and_sample_the_mean_and_spread(trained):
    generator, _ = trained
    points = [list(SUN.values()), [9000.0, 3.0, 150.0, -1.0, 3.0, 2000.0]]
    for latent in ("mean", "sample"):
        flux = generator.generate(points, latent=latent, seed=5)
        assert isinstance(flux, np.ndarray) and flux.shape == (2, generator.n_pixels)
    np.testing.assert_array_equal(
        generator.generate(points, latent="sample", seed=5),
        generator.generate(points, latent="sample", seed=5),
    )
    result = generator.sample(points, 16, seed=1)
    assert isinstance(result, GenerationResult) and result.n_samples == 16
    assert result.mean.shape == result.std.shape == (2, generator.n_pixels)
    assert np.all(result.std >= 0) and result.std.max() > 0
    np.testing.assert_array_equal(result.mean, generator.sample(points, 16, seed=1).mean)
    assert not np.array_equal(result.mean, generator.sample(points, 16, seed=2).mean)
    with pytest.raises(ConfigError, match="at least 2"):
        generator.sample(points, 1)
    with pytest.raises(TypeError):
        generator.generate(points, n_samples=4)  # the old flag is gone, not ignored


def test_parameters_outside_the_training_domain_are_refused_unless_allowed(trained):
    generator, _ = trained
    hot = dict(SUN, teff=12000.0)
    with pytest.raises(OutOfDomainError, match=r"teff = 12000 K is outside \[4000, 11000\]"):
        generator.generate(hot)
    with pytest.warns(ExtrapolationWarning, match="1 of 1 parameter points"):
        flux = generator.generate(hot, allow_extrapolation=True)
    assert flux.shape == (1, generator.n_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generator.generate(SUN, allow_extrapolation=True)


def test_generated_spectra_become_specutils_spectra_in_angstrom(trained):
    generator, _ = trained
    flux = generator.generate(SUN)
    spectrum = generator.to_spectrum(flux, SUN)
    assert spectrum.spectral_axis.unit == "Angstrom"
    assert spectrum.flux.shape == (generator.n_pixels,)
    np.testing.assert_allclose(spectrum.flux.value, flux[0])
    assert spectrum.meta["teff (K)"] == 5800.0 and spectrum.uncertainty is None
    points = [list(SUN.values())] * 2
    result = generator.sample(points, 4, seed=0)
    spread = generator.to_spectrum(result.mean, points, std=result.std)
    assert spread.flux.shape == spread.uncertainty.array.shape == (2, generator.n_pixels)
    assert spread.meta["teff (K)"] == [5800.0, 5800.0]
    with pytest.raises(SpectrumInputError, match="flux of shape"):
        generator.to_spectrum(flux, points)


def test_cli_trains_then_generates_fits_csv_and_grid_files(grid_file, tmp_path, capsys):
    model = tmp_path / "cli.keras"
    args = ["train", "--grid", str(grid_file), "--preset", "demo", "--out", str(model)]
    tiny = ["--epochs", "2", "--batch-size", "8", "--latent-dim", "4", "--quiet"]
    assert main([*args, *tiny]) == 0
    assert "trained 2 epochs" in capsys.readouterr().out
    point = [f"--{name}={value}" for name, value in SUN.items()]

    assert main(["generate", "--model", str(model), *point, "--out", str(tmp_path / "s.csv")]) == 0
    rows = [line for line in (tmp_path / "s.csv").read_text().splitlines() if line[0] != "#"]
    assert rows[0] == "wavelength,flux" and len(rows) == 1 + 299
    star = read_spectrum(tmp_path / "s.csv")
    assert star.parameters["logg"] == 4.4 * u.dex and star.flux.shape == (299,)

    fits_out = tmp_path / "s.fits"
    cmd = ["generate", "--model", str(model), *point, "--n-samples", "8", "--out", str(fits_out)]
    assert main(cmd) == 0
    with fits.open(fits_out) as hdus:
        assert hdus["SPECTRA"].data["FLUX"].shape == hdus["SPECTRA"].data["FLUX_STD"].shape
        assert hdus["SPECTRA"].data["FLUX"].shape == (1, 299)
        assert hdus["WAVELENGTH"].header["BUNIT"] == "Angstrom"
        assert hdus["SPECTRA"].data["teff"][0] == 5800.0
    spread = read_spectra(fits_out).std
    assert spread.shape == (1, 299) and spread.max() > 0

    table = tmp_path / "points.csv"
    table.write_text(
        "teff,logg,vsini [m/s],mh,vmic,resolution\n5800,4.4,2000,0,1,50000\n"
        "7000,4,50000,0.5,2,20000\n"
    )
    grid_out = tmp_path / "generated.h5"
    cmd = ["generate", "--model", str(model), "--table", str(table), "--out", str(grid_out)]
    assert main(cmd) == 0
    with SpectralGrid.open(grid_out) as generated:
        assert generated.n_spectra == 2 and generated.n_pixels == 299
        np.testing.assert_allclose(generated.parameters[1], [7000, 4, 50, 0.5, 2, 20000])


def test_cli_errors_end_with_a_message_not_a_traceback(tmp_path, capsys):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"\x00" * 100)
    args = [f"--{name}={value}" for name, value in SUN.items()]
    assert main(["generate", "--model", str(broken), *args, "--out", str(tmp_path / "x.csv")]) == 2
    assert "broken.keras: not a readable .keras model archive" in capsys.readouterr().err
    assert main(["generate", "--model", str(broken), "--teff=5000", "--out", "x.csv"]) == 2
