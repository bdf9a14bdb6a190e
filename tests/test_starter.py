"""The starter grid shipped inside the package, and its packed storage.

How fast it loads is measured by benchmarks/starter_load.py.
"""

import numpy as np
import pytest

from spectral_cvae.grid.store import in_memory_grid
from spectral_cvae.grid.wavelength import paper_wavelength, uniform_grid
from spectral_cvae.parameters import BASE_SPACE, PAPER_SPACE
from spectral_cvae.starter import (
    QUANTUM,
    load_starter_base_grid,
    load_starter_grid,
    pack_base_grid,
    read_packed_base_grid,
    starter_path,
)

from .helpers import line_spectrum


@pytest.fixture(scope="module")
def base():
    return load_starter_base_grid()


def test_packing_keeps_flux_to_better_than_2e_5(tmp_path, rng):
    wavelength = uniform_grid(5000.0, 5100.0, 0.02)
    flux = np.stack([line_spectrum(wavelength, rng, 30) for _ in range(20)]).astype(np.float32)
    flux[0, :5] = 1.0004  # a little above the continuum, as SYNSPEC gives at times
    parameters = rng.uniform(BASE_SPACE.minimum, BASE_SPACE.maximum, (20, 4))
    grid = in_memory_grid(wavelength, flux, parameters, BASE_SPACE, {"made_by": "test"})
    path = pack_base_grid(grid, tmp_path / "packed.h5")
    back = read_packed_base_grid(path)
    error = np.abs(back.flux - flux).max()
    assert error <= QUANTUM / 2 + 1e-7 and error < 2e-5
    np.testing.assert_allclose(back.wavelength, wavelength, atol=1e-9)
    np.testing.assert_array_equal(back.parameters, parameters)
    assert back.space == BASE_SPACE and back.provenance["made_by"] == "test"
    assert path.stat().st_size < flux.nbytes / 2


def test_the_starter_base_grid_spans_the_paper_ranges(base):
    assert base.space == BASE_SPACE
    assert base.wavelength[0] == pytest.approx(4440.0) and base.wavelength[-1] == pytest.approx(5409.98)
    np.testing.assert_allclose(np.diff(base.wavelength), 0.02, atol=1e-9)
    low, high = base.parameters.min(axis=0), base.parameters.max(axis=0)
    span = BASE_SPACE.maximum - BASE_SPACE.minimum
    assert np.all(low < BASE_SPACE.minimum + 0.25 * span), low
    assert np.all(high > BASE_SPACE.maximum - 0.25 * span), high
    flux = base.flux
    assert np.isfinite(flux).all() and flux.min() >= 0 and flux.max() < 1.05


def test_the_starter_grid_records_how_it_was_built(base):
    provenance = base.provenance
    assert provenance["sampling"]["method"] == "sobol"
    assert provenance["command"].startswith("spectral-cvae grid build")
    assert f"--seed {provenance['sampling']['seed']}" in provenance["command"]
    assert provenance["finished_models"] == base.n_spectra
    # 600 models at 0.02 A take ~34 MB; this guards against an accidental float32 or 0.01 A file.
    assert starter_path().stat().st_size < 40e6


def test_starter_spectra_get_weaker_metal_lines_as_stars_get_hotter(base):
    teff = base.parameters[:, 0]
    # Mean absorption away from H-beta, 5000-5400 A, mostly from metal lines.
    window = base.wavelength > 5000
    absorption = 1.0 - base.flux[:, window].mean(axis=1)
    cool, hot = teff < 6000, teff > 9000
    assert absorption[cool].mean() > 4 * absorption[hot].mean()


def test_load_starter_grid_broadens_every_base_model_and_is_cached(base, tmp_path, monkeypatch):
    # Broadening all shipped models takes about a minute: use the first 12 of them.
    small = pack_base_grid(base.subset(np.arange(12)), tmp_path / "small.h5")
    monkeypatch.setattr("spectral_cvae.starter.starter_path", lambda: small)
    monkeypatch.setenv("SPECTRAL_CVAE_CACHE", str(tmp_path))
    small_base = read_packed_base_grid(small)
    grid = load_starter_grid(draws_per_model=1, seed=3)
    assert grid.space == PAPER_SPACE and grid.n_spectra == small_base.n_spectra
    np.testing.assert_array_equal(grid.wavelength, paper_wavelength())
    for name in ("teff", "logg", "mh", "vmic"):
        k = PAPER_SPACE.names.index(name)
        np.testing.assert_array_equal(grid.parameters[:, k], small_base.parameters[:, BASE_SPACE.names.index(name)])
    assert np.all(PAPER_SPACE.contains(grid.parameters))

    def broaden_again(*args, **kwargs):
        raise AssertionError("the cached grid was broadened again")

    monkeypatch.setattr("spectral_cvae.starter.augment", broaden_again)
    again = load_starter_grid(draws_per_model=1, seed=3)
    assert again.path == grid.path
    np.testing.assert_array_equal(again.read_flux([0, -1]), grid.read_flux([0, -1]))
    grid.close()
    again.close()
