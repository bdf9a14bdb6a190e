"""Drawing fewer points: the visible window, min-max decimation, the band's envelope."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.grid import paper_wavelength
from spectral_cvae.widgets.decimate import envelope, min_max, visible

from .helpers import line_spectrum


@pytest.fixture(scope="module")
def spectrum():
    wavelength = paper_wavelength()
    return wavelength, line_spectrum(wavelength, np.random.default_rng(3), n_lines=400)


def test_visible_keeps_one_pixel_beyond_each_edge(spectrum):
    wavelength, _ = spectrum
    window = visible(wavelength, 4851.3, 4871.3)
    inside = wavelength[window]
    assert inside[0] < 4851.3 <= inside[1] and inside[-2] <= 4871.3 < inside[-1]
    assert visible(wavelength, 0.0, 1e6) == slice(0, wavelength.size)


@pytest.mark.parametrize("max_points", [2000, 1001, 64])
def test_min_max_keeps_every_line_core_and_the_order(spectrum, max_points):
    wavelength, flux = spectrum
    x, y = min_max(wavelength, flux, max_points)
    assert len(x) <= max_points and np.all(np.diff(x) >= 0)
    # Every kept point is a real pixel of the curve.
    np.testing.assert_array_equal(y, flux[np.searchsorted(wavelength, x)])
    # Each bucket's deepest point is kept: the lowest flux between two kept points is never
    # below the lower of the kept ones (no line core dropped).
    assert y.min() == flux.min() and y.max() == flux.max()
    size = -(-flux.size // (max_points // 2))
    for start in range(0, flux.size, size):
        chunk = flux[start : start + size]
        assert chunk.min() in y[(x >= wavelength[start]) & (x <= wavelength[start + len(chunk) - 1])]


def test_min_max_returns_a_short_curve_unchanged(spectrum):
    wavelength, flux = spectrum
    x, y = min_max(wavelength[:500], flux[:500], 2000)
    np.testing.assert_array_equal(x, wavelength[:500])
    np.testing.assert_array_equal(y, flux[:500])


def test_the_envelope_covers_the_whole_band(spectrum):
    wavelength, flux = spectrum
    lower, upper = flux - 0.01, flux + 0.02
    x, band = envelope(wavelength, lower, upper, 2000)
    assert band.shape == (2, len(x)) and len(x) <= 2000 and np.all(np.diff(x) > 0)
    # Each bucket keeps its lowest lower edge and its highest upper edge.
    size = -(-flux.size // 2000)
    for k, start in enumerate(range(0, flux.size, size)):
        assert band[0, k] == lower[start : start + size].min()
        assert band[1, k] == upper[start : start + size].max()
    short_x, short = envelope(wavelength[:100], lower[:100], upper[:100], 2000)
    np.testing.assert_array_equal(short, np.vstack([lower[:100], upper[:100]]))
