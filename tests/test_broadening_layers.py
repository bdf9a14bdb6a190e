"""The Keras broadening layer against the NumPy reference, its gradients and its saving."""

import json

import keras
import numpy as np
import pytest
from keras import ops
from scipy.interpolate import make_interp_spline
from scipy.special import j1

from spectral_cvae.constants import SPEED_OF_LIGHT
from spectral_cvae.errors import GridInputError
from spectral_cvae.grid.broadening import broaden
from spectral_cvae.grid.broadening import rotation_transfer as numpy_rotation_transfer
from spectral_cvae.grid.wavelength import (
    log_uniform_grid,
    paper_wavelength,
    uniform_grid,
)
from spectral_cvae.model.broadening_layers import (
    Broadening,
    bessel_j1,
    gaussian_transfer,
    rotation_transfer,
)
from spectral_cvae.starter import load_starter_base_grid

VSINI = (0.0, 2.0, 10.0, 50.0, 300.0)
RESOLUTION = (1000.0, 10000.0, 50000.0, 115000.0)


@pytest.fixture(scope="module")
def layer():
    return Broadening()


@pytest.fixture(scope="module")
def starter_on_log(layer):
    """Three shipped SYNSPEC base spectra (a cool, a middle and a hot model) on the log grid."""
    grid = load_starter_base_grid()
    teff = grid.parameters[:, 0]
    rows = [int(np.argmin(teff)), int(np.argsort(teff)[len(teff) // 2]), int(np.argmax(teff))]
    flux = grid.read_flux()[rows].astype(float)
    return make_interp_spline(grid.wavelength, flux, k=3, axis=1)(layer.log_wavelength)


@pytest.fixture
def float64():
    """float64 that stays float64 under every backend (JAX truncates it to float32 by default)."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def trig_keeps_float64() -> bool:
    """Whether keras.ops.cos computes float64 in float64 (Keras demotes it under JAX/torch)."""
    x = ops.convert_to_tensor(np.ones(1), dtype="float64")
    return keras.backend.standardize_dtype(ops.cos(x).dtype) == "float64"


# Largest error against scipy in each precision (float32 measured: 4.6e-7 for J1 up to
# x = 1000, 2.5e-7 for the transfer function).
TOLERANCE = {"float32": 1e-6, "float64": 1e-10}


def numpy_of(tensor) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(tensor), dtype=float)


def test_log_uniform_grid_has_a_constant_velocity_step():
    grid = log_uniform_grid(4440.0, 5410.0, 1.1)
    velocity = SPEED_OF_LIGHT * np.diff(np.log(grid))
    np.testing.assert_allclose(velocity, 1.1, rtol=1e-9)
    assert grid[0] == 4440.0 and 5410.0 - 1.1 / SPEED_OF_LIGHT * 5410.0 < grid[-1] <= 5410.0
    with pytest.raises(GridInputError):
        log_uniform_grid(5410.0, 4440.0, 1.1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bessel_j1_matches_scipy_over_the_whole_argument_range(float64, dtype):
    if dtype == "float64" and not trig_keeps_float64():
        pytest.skip("this Keras backend computes sin and cos of float64 in float32")
    # 2 pi f_max v sin i reaches ~860 for the 1.1 km/s grid and v sin i = 300 km/s.
    x = np.concatenate([np.linspace(0.0, 20.0, 20001), np.linspace(20.0, 1000.0, 20001)])
    x = np.concatenate([-x[::-1], x]).astype(dtype)
    ours = numpy_of(bessel_j1(ops.convert_to_tensor(x, dtype=dtype)))
    assert np.abs(ours - j1(x.astype(float))).max() < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transfer_functions_match_the_numpy_reference(float64, dtype):
    if dtype == "float64" and not trig_keeps_float64():
        pytest.skip("this Keras backend computes sin and cos of float64 in float32")
    frequency = np.linspace(0.0, 0.5, 5001).astype(dtype)
    for vsini in (0.0, 0.5, 2.0, 10.0, 300.0):
        for epsilon in (0.0, 0.6, 1.0):
            ours = numpy_of(
                rotation_transfer(ops.convert_to_tensor(frequency, dtype), vsini, epsilon)
            )
            reference = numpy_rotation_transfer(frequency.astype(float), vsini, epsilon)
            assert np.abs(ours - reference).max() < TOLERANCE[dtype], (vsini, epsilon)
    sigma = SPEED_OF_LIGHT / 20000.0 / (2 * np.sqrt(2 * np.log(2)))
    ours = numpy_of(gaussian_transfer(ops.convert_to_tensor(frequency, dtype), 20000.0))
    expected = np.exp(-2 * (np.pi * sigma * frequency.astype(float)) ** 2)
    assert np.abs(ours - expected).max() < TOLERANCE[dtype]


def test_layer_matches_broaden_on_synspec_spectra(layer, starter_on_log):
    vsini, resolution = (a.ravel() for a in np.meshgrid(VSINI, RESOLUTION, indexing="ij"))
    worst = np.zeros((len(starter_on_log), len(vsini)))
    for i, base in enumerate(starter_on_log):
        batch = np.repeat(base[None].astype("float32"), len(vsini), axis=0)
        ours = numpy_of(layer(batch, vsini.astype("float32"), resolution.astype("float32")))
        reference = broaden(
            layer.log_wavelength,
            base,
            vsini,
            resolution,
            wavelength_out=paper_wavelength(),
            oversample=None,
        )
        worst[i] = np.abs(ours - reference).max(axis=1)
    assert worst.max() <= 1e-5, worst.max(axis=0).reshape(len(VSINI), len(RESOLUTION))


def test_layer_with_oversampled_reference_differs_only_where_lines_are_unresolved(
    layer, starter_on_log
):
    # broaden's default re-splines onto a 2x finer grid: only barely resolved cases notice.
    base = starter_on_log[0]
    cases = [(50.0, 50000.0), (0.0, 115000.0)]
    vsini, resolution = np.array(cases).T
    ours = numpy_of(layer(np.repeat(base[None], 2, 0), vsini, resolution))
    for row, (vsini, resolution) in zip(ours, cases):
        reference = broaden(
            layer.log_wavelength, base, vsini, resolution, wavelength_out=paper_wavelength()
        )
        difference = np.abs(row - reference).max()
        assert difference < (1e-5 if vsini == 50.0 else 3e-3), (vsini, resolution, difference)


def test_continuum_stays_one_and_output_has_the_paper_shape(layer):
    flat = np.ones((2, layer.log_wavelength.size), dtype="float32")
    out = numpy_of(layer(flat, np.array([0.0, 120.0]), np.array([115000.0, 1000.0])))
    assert out.shape == (2, paper_wavelength().size)
    assert np.abs(out - 1.0).max() < 1e-6


def test_layer_rejects_flux_on_another_grid(layer):
    with pytest.raises(ValueError, match=rf"\(batch, {layer.log_wavelength.size}\)"):
        layer(np.ones((1, 1000), dtype="float32"), np.zeros(1), np.full(1, 1e4))


def test_oversample_none_needs_a_log_uniform_input():
    wavelength = uniform_grid(5000.0, 5010.0, 0.01)
    with pytest.raises(GridInputError, match="uniform in ln"):
        broaden(wavelength, np.ones_like(wavelength), 10.0, 1e4, oversample=None)


def gradients(layer, flux, vsini, resolution, weights):
    """d/d(flux, vsini, R) of sum(weights * layer(...)), by the backend's own autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(flux), tf.Variable(vsini), tf.Variable(resolution)]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(weights * layer(*variables))
        return [np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(loss, variables)]
    if backend == "jax":
        import jax

        def loss(f, v, r):
            return (weights * layer(f, v, r)).sum()

        grads = jax.grad(loss, argnums=(0, 1, 2))(flux, vsini, resolution)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        variables = [torch.tensor(a, requires_grad=True) for a in (flux, vsini, resolution)]
        (torch.as_tensor(weights) * layer(*variables)).sum().backward()
        return [v.grad.numpy() for v in variables]
    pytest.skip(f"no gradient helper for the {backend} backend")


@pytest.mark.parametrize(
    ("vsini", "resolution"), [(0.0, 115000.0), (2.0, 50000.0), (10.0, 10000.0), (50.0, 1000.0)]
)
def test_gradients_match_central_differences(starter_on_log, vsini, resolution, float64):
    layer = Broadening(dtype="float64")
    flux = starter_on_log[1:2]
    weights = np.random.default_rng(0).normal(size=(1, paper_wavelength().size))

    def loss(v, r):
        return float((weights * numpy_of(layer(flux, np.array([v]), np.array([r])))).sum())

    d_flux, d_vsini, d_resolution = gradients(
        layer, flux, np.array([vsini]), np.array([resolution]), weights
    )
    assert np.all(np.isfinite(d_vsini)) and np.all(np.isfinite(d_resolution))
    # The layer passes a constant through unchanged, so raising all of the base flux by d
    # changes the loss by d * sum(weights): the flux gradient sums to sum(weights).
    np.testing.assert_allclose(d_flux.sum(), weights.sum(), rtol=1e-9)
    step = 1e-3 * max(vsini, 1.0)
    numeric_vsini = (loss(vsini + step, resolution) - loss(vsini - step, resolution)) / (2 * step)
    step = 1e-4 * resolution
    numeric_resolution = (loss(vsini, resolution + step) - loss(vsini, resolution - step)) / (
        2 * step
    )
    if vsini == 0.0:
        # The profile is even in v sin i: the exact derivative at 0 is 0.
        assert d_vsini[0] == 0.0 and numeric_vsini == 0.0
    else:
        np.testing.assert_allclose(d_vsini[0], numeric_vsini, rtol=1e-3)
    np.testing.assert_allclose(d_resolution[0], numeric_resolution, rtol=1e-3)


def functional_model(layer: Broadening) -> keras.Model:
    flux = keras.Input((layer.log_wavelength.size,), name="base_flux")
    vsini = keras.Input((1,), name="vsini")
    resolution = keras.Input((1,), name="resolution")
    # A trainable layer in front, so that saving also has weights to carry.
    scaled = keras.layers.Rescaling(0.9, offset=0.1, name="scale")(flux)
    out = layer(scaled, vsini, resolution)
    return keras.Model([flux, vsini, resolution], out, name="broadened")


def test_model_with_the_layer_saves_and_loads_as_keras_file(tmp_path, starter_on_log):
    layer = Broadening(
        wavelength_out=uniform_grid(5000.0, 5100.0, 0.05), limb_darkening=0.4, name="broaden"
    )
    config = layer.get_config()
    assert config["wavelength_out"] == {"start": 5000.0, "step": 0.05, "n": 2000}
    assert len(json.dumps(config)) < 2000
    model = functional_model(layer)
    inputs = [
        starter_on_log[:2].astype("float32"),
        np.array([[5.0], [150.0]], dtype="float32"),
        np.array([[80000.0], [3000.0]], dtype="float32"),
    ]
    before = numpy_of(model(inputs))
    path = tmp_path / "broadened.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("broaden").limb_darkening == 0.4
    np.testing.assert_array_equal(numpy_of(loaded(inputs)), before)


def test_irregular_output_wavelengths_are_kept_in_the_config():
    wavelength = np.array([4500.0, 4861.3, 5183.6])
    layer = Broadening(wavelength_out=wavelength)
    restored = Broadening.from_config(layer.get_config())
    np.testing.assert_array_equal(restored.wavelength_out, wavelength)
