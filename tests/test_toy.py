import numpy as np

from spectral_cvae.grid.toy import H_BETA, toy_spectrum
from spectral_cvae.grid.wavelength import uniform_grid

WAVELENGTH = uniform_grid(4450.0, 5400.0, 0.02)


def depth_at(flux, centre):
    return 1.0 - flux[np.abs(WAVELENGTH - centre) < 0.2].min()


def test_toy_metal_lines_deepen_with_metallicity_and_fade_in_hot_stars():
    poor, rich = (toy_spectrum(WAVELENGTH, 5800, 4.4, mh, 1.0) for mh in (-1.0, 0.5))
    hot = toy_spectrum(WAVELENGTH, 9500, 4.0, 0.5, 1.0)
    assert depth_at(rich, 5269.54) > depth_at(poor, 5269.54)
    assert depth_at(rich, 5269.54) > 2 * depth_at(hot, 5269.54)


def test_toy_h_beta_is_strongest_in_a_stars_and_flux_stays_in_unit_interval():
    cool, a_star = (toy_spectrum(WAVELENGTH, t, 4.0, 0.0, 2.0) for t in (5000, 9500))
    assert depth_at(a_star, H_BETA) > 0.7 > depth_at(cool, H_BETA)
    assert 0 < min(cool.min(), a_star.min()) and max(cool.max(), a_star.max()) <= 1.0
