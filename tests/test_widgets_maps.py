"""ResidualMapViewer and InverterPanel: state changes on simulated input."""

from __future__ import annotations

import numpy as np
import pytest

from spectral_cvae.evaluation import residual_statistics
from spectral_cvae.inversion import PCAInverter
from spectral_cvae.io import write_spectra
from spectral_cvae.model import train
from spectral_cvae.widgets import InverterPanel, ResidualMapViewer

from .helpers import explorer_grid, tiny_config

TINY = tiny_config(epochs=4)


@pytest.fixture(scope="module")
def grid():
    return explorer_grid(n=64)


@pytest.fixture(scope="module")
def split(grid):
    return grid.split(test=0.25, validation=0.15)


@pytest.fixture(scope="module")
def generator(grid, split):
    return train(grid, TINY, split=split, seed=0, verbose=0)


@pytest.fixture(scope="module")
def inverter(grid, split):
    return PCAInverter(n_components=6, hidden=(16,), epochs=5, batch_size=16).fit(grid, split)


@pytest.fixture
def viewer(generator, grid):
    return ResidualMapViewer(generator, grid, batch_size=20)


def test_residuals_are_the_mean_absolute_difference_of_generated_and_grid(viewer, generator, grid):
    generated = generator.generate(grid.parameters, latent="mean")
    expected = np.mean(np.abs(generated - grid.read_flux()), axis=1)
    np.testing.assert_allclose(viewer.values, expected, rtol=1e-5)


def test_the_viewer_bins_the_residuals_it_is_given_without_generating_again(generator, grid):
    statistics = residual_statistics(generator, grid, progress=False)
    generated = []

    class CountingGenerator:
        wavelength, space = generator.wavelength, generator.space

        def generate(self, parameters, latent="mean"):
            generated.append(len(parameters))
            return generator.generate(parameters, latent=latent)

    viewer = ResidualMapViewer(CountingGenerator(), grid, statistics)
    assert generated == []
    np.testing.assert_array_equal(viewer.values, statistics.spectrum_mean_abs)
    np.testing.assert_array_equal(viewer.indices, statistics.indices)
    viewer.select_bin(*np.unravel_index(int(viewer.map.count.argmax()), viewer.map.count.shape))
    assert sum(generated) == min(viewer.n_lines, len(viewer.bin_rows))  # only the bin's lines


@pytest.mark.parametrize(("x", "y"), [("teff", "logg"), ("vsini", "resolution"), ("mh", "teff")])
def test_dropdowns_rebin_the_map_in_place_with_histogram2d_counts(viewer, x, y):
    heat, figure = viewer.heat, viewer.figure
    viewer.x_dropdown.value = x
    viewer.y_dropdown.value = y
    space = viewer.space
    x_edges = np.linspace(space[x].minimum, space[x].maximum, viewer.bins[0] + 1)
    y_edges = np.linspace(space[y].minimum, space[y].maximum, viewer.bins[1] + 1)
    columns = viewer.parameters[:, space.names.index(x)], viewer.parameters[:, space.names.index(y)]
    count, _, _ = np.histogram2d(*columns, [x_edges, y_edges])
    np.testing.assert_array_equal(viewer.map.count, count)
    assert (viewer.map.x, viewer.map.y) == (x, y)
    # Rows of the drawn colour are y bins; empty bins are NaN, each crossed at its centre.
    assert heat.color.shape == (viewer.bins[1], viewer.bins[0])
    assert np.array_equal(np.isnan(heat.color), count.T == 0)
    empty_x, empty_y = np.nonzero(count == 0)
    centres = (x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2
    np.testing.assert_allclose(viewer.empty_marks.x, centres[0][empty_x])
    np.testing.assert_allclose(viewer.empty_marks.y, centres[1][empty_y])
    # The cells span their bins: bqplot is given the edges, not the centres.
    np.testing.assert_allclose(heat.column, x_edges)
    np.testing.assert_allclose(heat.row, y_edges)
    assert sorted(map(int, viewer.count_labels.text)) == sorted(count[count > 0].astype(int))
    assert viewer.heat is heat and viewer.figure is figure
    assert x in viewer.x_axis.label.lower() or space[x].label in viewer.x_axis.label


def test_select_bin_shows_that_bins_residual_spectra_and_count(viewer):
    i, j = np.unravel_index(np.argmax(viewer.map.count), viewer.map.count.shape)
    count = int(viewer.map.count[i, j])
    viewer.select_bin(int(i), int(j))
    assert viewer.selected_bin == (i, j)
    assert len(viewer.bin_rows) == count
    assert f"{count} spectra" in viewer.bin_label.value
    shown = min(count, viewer.n_lines)
    assert viewer.bin_lines.visible and viewer.bin_lines.y.shape == (shown, viewer.grid.n_pixels)
    np.testing.assert_allclose(
        viewer.bin_lines.y, viewer.residuals(viewer.bin_rows[:shown]), atol=1e-6
    )
    # Each row of the bin lies in the cell's parameter ranges.
    teff = viewer.grid.parameters[viewer.bin_rows, 0]
    assert np.all((teff >= viewer.map.x_edges[i]) & (teff <= viewer.map.x_edges[i + 1]))


def test_a_click_on_a_cell_selects_its_bin_and_an_empty_bin_draws_nothing(viewer):
    i, j = np.argwhere(viewer.map.count == 0)[0]
    # The message the front end sends for a click on cell (row j, column i).
    click = {"event": "element_click", "data": {"rowNum": int(j), "columnNum": int(i)}}
    viewer.heat._handle_custom_msgs(None, click)
    assert viewer.selected_bin == (i, j)
    assert len(viewer.bin_rows) == 0 and not viewer.bin_lines.visible
    assert "0 spectra" in viewer.bin_label.value


def test_the_marginal_dropdown_redraws_median_and_spread(viewer):
    line = viewer.marginal_line
    viewer.marginal_dropdown.value = "vsini"
    marginal = viewer.marginal
    assert marginal.parameter == "vsini" and viewer.marginal_line is line
    filled = marginal.count > 0
    np.testing.assert_allclose(line.x, marginal.centres[filled])
    np.testing.assert_allclose(line.y, marginal.median[filled])
    np.testing.assert_allclose(viewer.marginal_band.y[0], marginal.p16[filled])
    assert np.all(line.x <= viewer.space["vsini"].maximum)
    assert "km/s" in viewer.marginal_x_axis.label


def test_inverter_panel_on_a_test_spectrum_fills_table_and_overlay(
    inverter, generator, grid, split
):
    panel = InverterPanel(inverter, generator, grid, split)
    panel.test_index.value = 3
    row = split.test[3]
    assert len(panel.recovered) == 6
    assert panel.truth == pytest.approx(dict(zip(grid.space.names, grid.parameters[row])))
    np.testing.assert_allclose(panel.input_line.y, grid.spectrum(row), atol=1e-6)
    point = {
        name: np.clip(
            panel.recovered[name], generator.space[name].minimum, generator.space[name].maximum
        )
        for name in generator.space.names
    }
    np.testing.assert_allclose(
        panel.recovered_line.y, generator.generate(point, latent="mean")[0], atol=1e-6
    )
    table = panel.table.value
    assert table.count("<tr>") == 7 and "truth" in table and "K" in table and "km/s" in table
    for name in panel.clipped:
        assert (
            "clipped" in panel.message.value and generator.space[name].label in panel.message.value
        )


def test_inverter_panel_on_generated_and_file_inputs(inverter, generator, grid, tmp_path):
    panel = InverterPanel(inverter, generator, grid)
    panel.source.value = "generated"
    panel.parameter_boxes["teff"].value = 6000.0
    assert panel.truth["teff"] == 6000.0
    np.testing.assert_allclose(
        panel.input_line.y,
        generator.generate({n: b.value for n, b in panel.parameter_boxes.items()}, latent="mean")[
            0
        ],
        atol=1e-6,
    )
    path = tmp_path / "star.npz"
    np.savez(path, wavelength=grid.wavelength, flux=grid.spectrum(5))
    panel.source.value = "file"
    panel.path.value = str(path)
    panel.load_button.click()
    assert panel.truth is None and "truth" not in panel.table.value
    np.testing.assert_allclose(panel.input_line.y, grid.spectrum(5), atol=1e-6)
    panel.load(tmp_path / "missing.fits")
    assert "Could not read it" in panel.message.value
    # A file of generated spectra carries its parameters: they are the truth shown.
    point = generator.space.as_array({n: b.value for n, b in panel.parameter_boxes.items()})
    flux = generator.generate(point)
    panel.load(write_spectra(tmp_path / "generated.csv", generator.wavelength, flux, point,
                             generator.space))
    assert panel.truth["teff"] == pytest.approx(6000.0)
