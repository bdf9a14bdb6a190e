import importlib

import numpy as np
import pytest

from spectral_cvae.errors import GridInputError
from spectral_cvae.grid import GridWriter, SpectralGrid, broaden, uniform_grid
from spectral_cvae.grid.augment import augment, draw_broadening
from spectral_cvae.model import data
from spectral_cvae.parameters import BASE_SPACE, PAPER_SPACE, base_space

from .helpers import line_spectrum


@pytest.fixture
def base(rng):
    wavelength = uniform_grid(4995.0, 5025.0, 0.01)
    flux = np.stack([line_spectrum(wavelength, rng) for _ in range(4)])
    parameters = rng.uniform(BASE_SPACE.minimum, BASE_SPACE.maximum, (4, 4))
    return SpectralGrid(wavelength, flux, parameters, BASE_SPACE, {"source": "test"})


OUT = uniform_grid(5000.0, 5020.0, 0.05)


def test_base_space_is_the_synthesis_part_of_the_paper_space():
    assert BASE_SPACE.names == ("teff", "logg", "mh", "vmic")
    assert base_space(PAPER_SPACE)["mh"] == PAPER_SPACE["mh"]


def test_augment_broadens_each_base_model_to_its_draws(base):
    grid = augment(base, draws_per_model=3, seed=5, wavelength=OUT)
    assert len(grid) == 12 and grid.n_pixels == OUT.size and grid.space == PAPER_SPACE
    names = list(PAPER_SPACE.names)
    for row in (0, 7, 11):
        model = row // 3
        values = grid.parameters[row]
        np.testing.assert_array_equal(values[[names.index(n) for n in BASE_SPACE.names]], base.parameters[model])
        expected = broaden(base.wavelength, base.spectrum(model), values[2], values[5], wavelength_out=OUT)
        np.testing.assert_allclose(grid.spectrum(row), expected, atol=1e-6)
    assert PAPER_SPACE.contains(grid.parameters).all()
    assert grid.provenance["source"] == "test" and grid.provenance["augmentation"]["seed"] == 5
    again = augment(base, draws_per_model=3, seed=5, wavelength=OUT)
    np.testing.assert_array_equal(again.parameters, grid.parameters)


def test_on_the_fly_broadening_gives_the_spectra_augment_gives_for_the_same_draws(
    base, monkeypatch
):
    drawn = []

    def recorded(*args, **kwargs):
        drawn.append(draw_broadening(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(data, "draw_broadening", recorded)
    space, draws = data.augmented_space(base.space), 3
    batches = data.make_dataset(
        base, np.arange(len(base)), space, batch_size=6, flux_scale=1.1, seed=4,
        wavelength=OUT, draws_per_model=draws,
    )
    try:
        flux, condition = batches.batch(1)  # the training stream's second batch
    finally:
        batches.close()
    assert len(drawn) == 1 and flux.shape == (6, OUT.size)
    vsini, resolution = drawn[0]

    # The base models the batch broadened, told by their parameters.
    names = list(space.names)
    decoded = space.denormalize(condition)[:, [names.index(n) for n in BASE_SPACE.names]]
    distance = np.abs(decoded[:, None, :] - base.parameters[None]) / (
        BASE_SPACE.maximum - BASE_SPACE.minimum
    )
    models = distance.max(axis=2).argmin(axis=1)
    assert distance.max(axis=2).min(axis=1).max() < 1e-5
    assert np.all(models == np.repeat(models[::draws], draws))

    def same_draws(n, rng, space=PAPER_SPACE, resolution_distribution="uniform"):
        assert n == len(vsini)
        return vsini, resolution

    # The module, not the function of the same name that spectral_cvae.grid exports.
    augment_module = importlib.import_module("spectral_cvae.grid.augment")
    monkeypatch.setattr(augment_module, "draw_broadening", same_draws)
    expected = augment(base.subset(models[::draws]), draws, wavelength=OUT, space=space)
    np.testing.assert_allclose(flux, expected.read_flux(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(condition, space.normalize(expected.parameters), rtol=0, atol=1e-6)


def test_augment_to_a_file_resumes_with_the_next_base_model(base, tmp_path, monkeypatch):
    path = tmp_path / "augmented.h5"
    original, calls = GridWriter.append, []

    def interrupted(self, flux, parameters, source=None, base_model=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, flux, parameters, source, base_model)

    monkeypatch.setattr(GridWriter, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        augment(base, 2, seed=1, wavelength=OUT, path=path)
    monkeypatch.setattr(GridWriter, "append", original)
    with augment(base, 2, seed=1, wavelength=OUT, path=path) as resumed:
        reference = augment(base, 2, seed=1, wavelength=OUT)
        np.testing.assert_array_equal(resumed.parameters, reference.parameters)
        np.testing.assert_allclose(resumed.read_flux(), reference.read_flux(), atol=1e-7)


def test_log_uniform_resolution_draws_fill_every_decade_and_are_recorded(base):
    from spectral_cvae.grid.augment import draw_broadening

    rng = np.random.default_rng(0)
    _, uniform = draw_broadening(20000, rng)
    _, log_uniform = draw_broadening(20000, rng, resolution_distribution="log-uniform")
    assert np.mean(uniform < 10000) == pytest.approx(9000 / 114000, abs=0.01)
    assert np.mean(log_uniform < 10000) == pytest.approx(np.log(10) / np.log(115), abs=0.01)
    assert log_uniform.min() >= 1000 and log_uniform.max() <= 115000
    grid = augment(base, 2, seed=1, wavelength=OUT, resolution_distribution="log-uniform")
    assert grid.provenance["augmentation"]["resolution_distribution"] == "log-uniform"
    with pytest.raises(GridInputError, match="resolution_distribution"):
        draw_broadening(3, rng, resolution_distribution="normal")
