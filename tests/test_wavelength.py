import numpy as np
import pytest

from spectral_cvae.errors import GridInputError
from spectral_cvae.grid.wavelength import (
    paper_wavelength,
    resample,
    uniform_grid,
    vacuum_to_air,
)


def test_paper_grid_has_19000_points_from_4450_at_005_angstrom():
    wavelength = paper_wavelength()
    assert wavelength.size == 19000
    assert wavelength[0] == 4450.0 and wavelength[-1] == pytest.approx(5399.95)
    np.testing.assert_allclose(np.diff(wavelength), 0.05, rtol=1e-9)


def test_flux_conserving_resampling_keeps_an_unresolved_line_that_point_sampling_misses():
    fine = uniform_grid(5000.0, 5010.0, 0.005)
    line = 1.0 - 0.8 * np.exp(-0.5 * ((fine - 5005.0125) / 0.01) ** 2)
    coarse = uniform_grid(5001.0, 5009.0, 0.05)
    kept = resample(fine, line, coarse, conserve_flux=True)
    sampled = resample(fine, line, coarse, conserve_flux=False)
    width = np.trapezoid(1 - line, fine)
    assert np.sum(1 - kept) * 0.05 == pytest.approx(width, rel=1e-6)
    assert abs(np.sum(1 - sampled) * 0.05 - width) > 0.05 * width


def test_resampling_a_straight_line_is_exact_both_ways():
    x = uniform_grid(5000.0, 5010.0, 0.013)
    out = uniform_grid(5001.0, 5009.0, 0.05)
    for conserve in (True, False):
        np.testing.assert_allclose(resample(x, 0.5 + 0.01 * x, out, conserve), 0.5 + 0.01 * out)


def test_resampling_refuses_a_window_the_spectrum_does_not_cover():
    x = uniform_grid(5000.0, 5010.0, 0.01)
    with pytest.raises(GridInputError, match=r"spec\.txt: spectrum covers 5000\.000-5009\.990 A"):
        resample(x, np.ones_like(x), uniform_grid(4990.0, 5005.0, 0.05), source="spec.txt")
    with pytest.raises(GridInputError, match="flux has 3 pixels but the wavelength grid has 1000"):
        resample(x, np.ones(3), x[:10])


def test_vacuum_to_air_shifts_5000_angstrom_by_1_39_and_refuses_the_far_uv():
    assert 5000.0 - vacuum_to_air(np.array([5000.0]))[0] == pytest.approx(1.394, abs=2e-3)
    with pytest.raises(GridInputError, match="above 2000 A"):
        vacuum_to_air(np.array([1500.0, 5000.0]))
