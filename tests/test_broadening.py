import numpy as np
import pytest

from spectral_cvae.constants import SPEED_OF_LIGHT
from spectral_cvae.errors import GridInputError
from spectral_cvae.grid.broadening import broaden, log_wavelength_grid
from spectral_cvae.grid.wavelength import uniform_grid

from .helpers import line_spectrum


@pytest.fixture(scope="module")
def pyasl():
    """PyAstronomy's broadening, the reference: only the comparisons skip without it."""
    return pytest.importorskip("PyAstronomy.pyasl")


def gray_profile(velocity: np.ndarray, vsini: float, epsilon: float) -> np.ndarray:
    """Gray's rotational profile per km/s, written out from the textbook formula."""
    x = velocity / vsini
    inside = np.abs(x) < 1
    root = np.sqrt(np.clip(1 - x * x, 0, None))
    value = (2 * (1 - epsilon) * root + 0.5 * np.pi * epsilon * (1 - x * x)) / (
        np.pi * vsini * (1 - epsilon / 3)
    )
    return np.where(inside, value, 0.0)


@pytest.fixture
def lines(rng):
    wavelength = uniform_grid(4990.0, 5030.0, 0.01)
    return wavelength, line_spectrum(wavelength, rng, n_lines=150)


def equivalent_width(wavelength, flux):
    return np.trapezoid(1.0 - flux, wavelength)


@pytest.mark.parametrize("vsini", [20.0, 80.0])
def test_delta_line_becomes_grays_rotational_profile(vsini):
    # A line one pixel wide on a grid uniform in ln(lambda) is a delta function of known area.
    log_wavelength = np.exp(np.linspace(np.log(4990.0), np.log(5010.0), 30001))
    step = SPEED_OF_LIGHT * np.log(log_wavelength[1] / log_wavelength[0])
    flux = np.ones_like(log_wavelength)
    centre = 15000
    flux[centre] = 0.0
    broadened = broaden(log_wavelength, flux, vsini=vsini, limb_darkening=0.6)
    velocity = step * (np.arange(log_wavelength.size) - centre)
    expected = step * gray_profile(velocity, vsini, 0.6)
    core = np.abs(velocity) < 0.95 * vsini
    np.testing.assert_allclose(1.0 - broadened[core], expected[core], rtol=2e-3)
    assert np.abs(1.0 - broadened[np.abs(velocity) > 1.05 * vsini]).max() < 2e-3 * expected.max()


@pytest.mark.parametrize("resolution", [5000.0, 50000.0])
def test_delta_line_becomes_a_gaussian_of_fwhm_lambda_over_r(resolution):
    log_wavelength = np.exp(np.linspace(np.log(4995.0), np.log(5005.0), 20001))
    step = SPEED_OF_LIGHT * np.log(log_wavelength[1] / log_wavelength[0])
    flux = np.ones_like(log_wavelength)
    flux[10000] = 0.0
    broadened = broaden(log_wavelength, flux, resolution=resolution)
    velocity = step * (np.arange(log_wavelength.size) - 10000)
    sigma = SPEED_OF_LIGHT / resolution / (2 * np.sqrt(2 * np.log(2)))
    expected = step * np.exp(-0.5 * (velocity / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(1.0 - broadened, expected, atol=1e-4 * expected.max())


@pytest.mark.parametrize(
    ("vsini", "resolution"), [(50.0, np.inf), (0.0, 20000.0), (150.0, 3000.0), (3.0, 115000.0)]
)
def test_broadening_conserves_equivalent_width(lines, vsini, resolution):
    wavelength, flux = lines
    isolated = 1.0 - 0.7 * np.exp(-0.5 * ((wavelength - 5010.0) / 0.05) ** 2)
    broadened = broaden(wavelength, isolated, vsini=vsini, resolution=resolution)
    assert equivalent_width(wavelength, broadened) == pytest.approx(
        equivalent_width(wavelength, isolated), rel=1e-6
    )
    assert broadened.min() > isolated.min()


def test_zero_vsini_and_infinite_resolution_are_the_identity(lines):
    wavelength, flux = lines
    np.testing.assert_array_equal(broaden(wavelength, flux, 0.0, np.inf), flux)
    np.testing.assert_allclose(broaden(wavelength, flux, 1e-6, 1e12), flux, atol=2e-4)


@pytest.mark.parametrize("vsini", [20.0, 100.0, 300.0])
def test_rotation_agrees_with_pyastronomy_rotbroad(lines, vsini, pyasl):
    wavelength, flux = lines
    ours = broaden(wavelength, flux, vsini=vsini, limb_darkening=0.6)
    theirs = pyasl.rotBroad(wavelength, flux, 0.6, vsini)
    margin = int(np.ceil(vsini / SPEED_OF_LIGHT * 5030.0 / 0.01)) + 10
    assert np.abs(ours - theirs)[margin:-margin].max() < 1e-3


def test_slow_rotation_agrees_with_pyastronomy_on_a_fine_grid(lines, pyasl):
    wavelength, flux = lines
    fine = uniform_grid(4995.0, 5025.0, 0.002)
    flux = np.interp(fine, wavelength, flux)
    ours = broaden(fine, flux, vsini=3.0)
    theirs = pyasl.rotBroad(fine, flux, 0.6, 3.0)
    assert np.abs(ours - theirs)[100:-100].max() < 1e-3


@pytest.mark.parametrize("resolution", [1000.0, 5000.0, 20000.0, 50000.0, 115000.0])
def test_instrument_agrees_with_pyastronomy_gaussian(lines, resolution, pyasl):
    # PyAstronomy uses one Gaussian width (at the mean wavelength) for the whole window,
    # so compare where lambda is within 0.1 % of the mean.
    wavelength, flux = lines
    ours = broaden(wavelength, flux, resolution=resolution)
    theirs = pyasl.instrBroadGaussFast(
        wavelength, flux, resolution, edgeHandling="firstlast", maxsig=7
    )
    middle = np.abs(wavelength - wavelength.mean()) < 5.0
    assert np.abs(ours - theirs)[middle].max() < 1e-3


def test_one_base_spectrum_gives_one_output_per_vsini_resolution_pair(lines):
    wavelength, flux = lines
    vsini = np.array([0.0, 10.0, 100.0])
    resolution = np.array([np.inf, 50000.0, 2000.0])
    out = uniform_grid(5000.0, 5020.0, 0.05)
    batch = broaden(wavelength, flux, vsini, resolution, wavelength_out=out)
    assert batch.shape == (3, out.size)
    for k in range(3):
        np.testing.assert_allclose(
            batch[k],
            broaden(wavelength, flux, vsini[k], resolution[k], wavelength_out=out),
            atol=1e-12,
        )
    assert batch[2].min() > batch[1].min() > batch[0].min()


def test_rotation_width_scales_with_wavelength_as_a_doppler_shift():
    wavelength = uniform_grid(4500.0, 5500.0, 0.01)
    flux = np.ones_like(wavelength)
    for centre in (4600.0, 5400.0):
        flux -= 0.5 * np.exp(-0.5 * ((wavelength - centre) / 0.02) ** 2)
    broadened = broaden(wavelength, flux, vsini=60.0)
    widths = []
    for centre in (4600.0, 5400.0):
        near = np.abs(wavelength - centre) < 3.0
        widths.append(np.sum(broadened[near] < 1.0 - 1e-6) * 0.01)
    assert widths[1] / widths[0] == pytest.approx(5400.0 / 4600.0, rel=0.02)


def test_bad_broadening_arguments_are_refused(lines):
    wavelength, flux = lines
    with pytest.raises(GridInputError, match="vsini must be >= 0"):
        broaden(wavelength, flux, vsini=-1.0)
    with pytest.raises(GridInputError, match="resolving power must be > 0"):
        broaden(wavelength, flux, resolution=0.0)
    with pytest.raises(GridInputError, match="cannot be paired"):
        broaden(wavelength, np.stack([flux, flux]), vsini=[1.0, 2.0, 3.0])
    with pytest.raises(GridInputError, match="which does not cover the requested 4980.000"):
        broaden(wavelength, flux, 10.0, wavelength_out=uniform_grid(4980.0, 5000.0, 0.05))


def test_log_grid_is_uniform_in_velocity_and_finer_than_the_input():
    wavelength = uniform_grid(4450.0, 5400.0, 0.02)
    grid, step = log_wavelength_grid(wavelength, oversample=2.0)
    velocity_steps = SPEED_OF_LIGHT * np.diff(np.log(grid))
    np.testing.assert_allclose(velocity_steps, step, rtol=1e-6)
    assert np.diff(grid).max() <= 0.0101 and grid[0] == 4450.0 and grid[-1] == wavelength[-1]
