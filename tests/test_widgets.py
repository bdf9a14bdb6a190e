"""Notebook widgets: state changes on simulated input (sliders moved, buttons clicked)."""

from __future__ import annotations

import signal
import threading
import time

import keras
import numpy as np
import pytest
from astropy import units as u

from spectral_cvae.errors import GridInputError
from spectral_cvae.grid import paper_wavelength
from spectral_cvae.io import read_spectra, read_spectrum, write_spectra
from spectral_cvae.model import TimeLimit, train
from spectral_cvae.widgets import (
    BackgroundTraining,
    SpectrumExplorer,
    Throttle,
    TrainingDashboard,
)
from spectral_cvae.widgets.explorer import H_BETA_WINDOW, MG_B_WINDOW

from .helpers import explorer_grid, tiny_config, toy_grid

TINY = tiny_config(epochs=4)


class FakeClock:
    """The kernel's clock and event loop for a Throttle: time moves only when told to."""

    def __init__(self) -> None:
        self.now = time.monotonic() + 3600.0  # after any run the real clock timed
        self.timers: list[list] = []  # [when, callback, cancelled]

    def monotonic(self) -> float:
        return self.now

    def get_running_loop(self) -> FakeClock:
        return self

    def call_later(self, delay: float, callback) -> FakeTimer:
        timer = [self.now + delay, callback, False]
        self.timers.append(timer)
        return FakeTimer(timer)

    def advance(self, seconds: float) -> None:
        """Move the clock on, running the timers that fall due on the way, in order."""
        end = self.now + seconds
        while due := [t for t in self.timers if t[0] <= end and not t[2]]:
            timer = min(due, key=lambda t: t[0])
            self.timers.remove(timer)
            self.now = max(self.now, timer[0])
            timer[1]()
        self.now = end


class FakeTimer:
    def __init__(self, timer: list) -> None:
        self.timer = timer

    def cancel(self) -> None:
        self.timer[2] = True


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """Throttles see this clock and event loop instead of the real ones."""
    from spectral_cvae.widgets import throttle

    fake = FakeClock()
    monkeypatch.setattr(throttle, "time", fake)
    monkeypatch.setattr(throttle, "asyncio", fake)
    return fake


@pytest.fixture(scope="module")
def grid():
    return explorer_grid()


@pytest.fixture(scope="module")
def generator(grid):
    return train(grid, TINY, seed=0, verbose=0)


@pytest.fixture
def explorer(generator, grid):
    return SpectrumExplorer(generator, grid)


def test_explorer_has_one_slider_per_parameter_bounded_by_the_training_domain(explorer):
    space = explorer.generator.space
    assert list(explorer.sliders) == list(space.names)
    for name, slider in explorer.sliders.items():
        assert (slider.min, slider.max) == (space[name].minimum, space[name].maximum)
    assert "(K)" in explorer.sliders["teff"].description
    assert "(km/s)" in explorer.sliders["vsini"].description
    assert explorer.parameters["teff"] == 5800.0


def test_out_of_domain_values_cannot_be_chosen(explorer):
    explorer.sliders["teff"].value = 20000.0
    explorer.sliders["logg"].value = -3.0
    assert explorer.parameters["teff"] == 11000.0
    assert explorer.parameters["logg"] == 2.0
    # ... and what is drawn was generated there, without an out-of-domain error.
    expected = explorer.generator.generate(explorer.parameters, latent="mean")[0]
    np.testing.assert_allclose(explorer.line.y, expected, atol=1e-6)


def test_moving_teff_redraws_the_spectrum_and_its_band_in_place(explorer):
    figure, line, band = explorer.figure, explorer.line, explorer.band
    before, band_before = np.array(line.y), np.array(band.y)
    explorer.sliders["teff"].value = 9500.0
    assert explorer.figure is figure and figure.marks[1] is line and figure.marks[0] is band
    assert not np.allclose(line.y, before)
    expected = explorer.generator.generate(explorer.parameters, latent="mean")[0]
    np.testing.assert_allclose(line.y, expected, atol=1e-6)
    assert band.y.shape == (2, explorer.wavelength.size)
    assert not np.allclose(band.y, band_before)
    spread = explorer.generator.sample(explorer.parameters, 16, seed=0)
    np.testing.assert_allclose(band.y[0], spread.mean[0] - spread.std[0], atol=1e-6)
    np.testing.assert_allclose(band.y[1], spread.mean[0] + spread.std[0], atol=1e-6)
    assert np.all(band.y[1] >= band.y[0])


def test_the_overlay_is_the_nearest_grid_spectrum_and_the_residual_is_the_difference(
    explorer, grid
):
    row = grid.parameters[7]
    for name, value in zip(grid.space.names, row):
        explorer.sliders[name].value = float(value)
    assert explorer.nearest_index == 7
    np.testing.assert_allclose(explorer.grid_line.y, grid.spectrum(7), atol=1e-6)
    np.testing.assert_allclose(
        explorer.residual_line.y, explorer.line.y - grid.spectrum(7), atol=1e-6
    )


def test_the_explorer_warns_where_the_grid_physics_lacks_molecules_or_helium(explorer):
    explorer.sliders["mh"].value = 0.0
    explorer.sliders["logg"].value = 4.5
    explorer.sliders["teff"].value = 6500.0
    assert explorer.caveats == [] and explorer.caveat_box.value == ""
    explorer.sliders["teff"].value = 4100.0
    assert "TiO" in explorer.caveats[0] and "TiO" in explorer.caveat_box.value
    explorer.sliders["teff"].value = 10000.0
    assert any("He I" in text for text in explorer.caveats)
    assert "grid build --helium" in explorer.caveat_box.value


def test_zoom_buttons_set_the_wavelength_window(explorer):
    explorer.zoom_buttons["hbeta"].click()
    assert (explorer.x_scale.min, explorer.x_scale.max) == H_BETA_WINDOW
    assert explorer.x_scale.min < 4861.3 < explorer.x_scale.max
    explorer.zoom_buttons["mgb"].click()
    assert (explorer.x_scale.min, explorer.x_scale.max) == (5160.0, 5190.0) == MG_B_WINDOW
    explorer.zoom_buttons["full"].click()
    assert explorer.x_scale.min == explorer.wavelength[0]
    assert explorer.x_scale.max == explorer.wavelength[-1]


@pytest.mark.parametrize("suffix", [".fits", ".csv", ".h5"])
def test_save_writes_the_current_spectrum_in_the_layout_of_write_spectra(
    explorer, tmp_path, suffix
):
    explorer.sliders["mh"].value = -0.5
    explorer.save_name.value = str(tmp_path / f"spectrum{suffix}")
    explorer.save_button.click()
    assert "saved" in explorer.status.value
    saved = read_spectra(tmp_path / f"spectrum{suffix}")
    reference = tmp_path / f"reference{suffix}"
    point = [list(explorer.parameters.values())]
    write_spectra(
        reference, explorer.wavelength, explorer.flux, point, explorer.space, explorer.std
    )
    written = read_spectra(reference)
    for spectra in (saved, written):
        np.testing.assert_allclose(spectra.wavelength, explorer.wavelength)
        np.testing.assert_allclose(spectra.flux[0], explorer.flux, atol=1e-6)
        np.testing.assert_allclose(spectra.std[0], explorer.std, atol=1e-6)
        assert spectra.parameters["mh"][0] == -0.5 * u.dex
    assert read_spectrum(tmp_path / f"spectrum{suffix}").parameters["mh"] == -0.5 * u.dex


def test_save_reports_a_file_it_cannot_write(explorer, tmp_path):
    explorer.save_name.value = str(tmp_path / "spectrum.png")
    explorer.save_button.click()
    assert "Not saved" in explorer.status.value and "unknown output format" in explorer.status.value
    assert not (tmp_path / "spectrum.png").exists()


def test_a_drag_is_throttled_but_ends_on_the_last_value(explorer, clock):
    explorer._throttled_update.interval = 0.2
    calls_before = explorer._throttled_update.calls
    for teff in np.linspace(5000.0, 7000.0, 20):  # a drag of 0.1 s, shorter than the interval
        explorer.sliders["teff"].value = float(teff)
        clock.advance(0.005)
    assert explorer._throttled_update.calls - calls_before == 1  # the first value, at once
    clock.advance(0.5)
    assert explorer._throttled_update.calls - calls_before == 2  # and the last one
    expected = explorer.generator.generate(explorer.parameters, latent="mean")[0]
    np.testing.assert_allclose(explorer.line.y, expected, atol=1e-6)
    assert explorer.parameters["teff"] == 7000.0


def test_throttle_merges_calls_and_runs_the_newest_arguments(clock):
    seen = []
    throttle = Throttle(seen.append, interval=0.1)
    for k in range(10):
        throttle(k)
    assert seen == [0]
    clock.advance(0.1)
    assert seen == [0, 9]
    clock.advance(1.0)
    throttle(10)  # long after the last run: at once
    assert seen == [0, 9, 10]


def test_a_long_drag_redraws_once_per_interval_while_it_lasts(clock):
    interval, duration, step = 0.2, 1.0, 0.01
    values = np.arange(round(duration / step))
    sent, runs = [], []  # values given to the throttle; (time, value, values sent by then)
    throttle = Throttle(lambda value: runs.append((clock.now, value, len(sent))), interval)
    for value in values:
        sent.append(value)
        throttle(value)
        clock.advance(step)
    clock.advance(2 * interval)
    times = np.array([t for t, _, _ in runs])
    assert np.all(np.diff(times) >= interval - 1e-9)
    # A throttle, not a debounce: the view follows the drag while it lasts.
    assert duration / interval <= len(runs) <= duration / interval + 2 < len(values)
    assert all(value == values[n - 1] for _, value, n in runs)  # always the newest value
    assert runs[-1][1] == values[-1]


def test_dashboard_draws_a_point_per_epoch_of_every_curve(grid):
    dashboard = TrainingDashboard()
    train(grid, TINY.replace(epochs=3), seed=1, callbacks=[dashboard], verbose=0)
    assert len(dashboard.history) == 3
    for name in ("reconstruction_loss", "kl_loss", "loss"):
        for key in (name, "val_" + name):
            np.testing.assert_array_equal(dashboard.lines[key].x, [0, 1, 2])
            np.testing.assert_allclose(
                dashboard.lines[key].y, [max(h[key], 1e-12) for h in dashboard.history]
            )
    np.testing.assert_allclose(dashboard.lr_line.y, [TINY.learning_rate] * 3, rtol=1e-6)
    assert dashboard.progress.value == dashboard.progress.max == 3
    best = int(np.argmin([h["val_reconstruction_loss"] for h in dashboard.history]))
    assert dashboard.best.x.tolist() == [best]
    assert "finished after 3 epochs" in dashboard.eta.value


def test_dashboard_marks_learning_rate_cuts():
    dashboard = TrainingDashboard()
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    dashboard.set_model(model)
    dashboard.set_params({"epochs": 5})
    dashboard.on_train_begin()
    logs = {"loss": 1.0, "reconstruction_loss": 0.5, "kl_loss": 0.0}
    dashboard.on_epoch_end(0, logs)
    model.optimizer.learning_rate.assign(5e-4)
    dashboard.on_epoch_end(1, logs)
    assert dashboard.lr_cuts.x.tolist() == [1.0]
    np.testing.assert_allclose(dashboard.lr_cuts.y, [5e-4], rtol=1e-6)
    assert dashboard.lines["kl_loss"].y.tolist() == [1e-12, 1e-12]
    assert "epoch 2/5" in dashboard.eta.value and "left" in dashboard.eta.value


def test_stop_button_ends_training_and_keeps_a_model(grid):
    dashboard = TrainingDashboard()

    class ClickStopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                dashboard.stop_button.click()

    generator = train(
        grid,
        TINY.replace(epochs=20),
        seed=2,
        callbacks=[ClickStopAfterFirstEpoch(), dashboard],
        verbose=0,
    )
    assert dashboard.stop_requested
    assert dashboard.model.stop_training
    assert len(dashboard.history) == 1
    assert "stopped by the Stop button" in dashboard.eta.value
    assert generator.provenance["epochs_trained"] == 1


def test_dashboard_says_when_training_ended_before_its_last_epoch(grid):
    dashboard = TrainingDashboard()
    train(grid, TINY.replace(epochs=6), seed=3, callbacks=[TimeLimit(0.0), dashboard], verbose=0)
    assert len(dashboard.history) == 1
    assert "ended early" in dashboard.eta.value
    assert "best epoch 0, its weights kept" in dashboard.eta.value


def _wait_for_epochs(dashboard: TrainingDashboard, run: BackgroundTraining, n: int) -> None:
    """Wait until ``n`` epochs are drawn; fail if the training ends before."""
    while len(dashboard.history) < n:
        if run.done():
            run.result()  # raises the training's error, if any
            pytest.fail(f"training ended after {len(dashboard.history)} of {n} epochs")
        time.sleep(0.01)


def test_background_training_returns_the_model_and_draws_every_epoch(grid):
    dashboard = TrainingDashboard()
    run = BackgroundTraining(dashboard, grid, TINY.replace(epochs=3), seed=4)
    generator = run.result(timeout=120)
    assert run.done()
    assert [h["epoch"] for h in dashboard.history] == [0, 1, 2]
    assert dashboard.lines["loss"].x.tolist() == [0, 1, 2]
    assert generator.provenance["epochs_trained"] == 3
    assert generator.generate(grid.parameters[:2]).shape == (2, grid.wavelength.size)


def test_stop_clicked_while_training_in_the_background_ends_it_with_a_model(grid):
    dashboard = TrainingDashboard()
    run = BackgroundTraining(dashboard, grid, TINY.replace(epochs=500), seed=5)
    _wait_for_epochs(dashboard, run, 1)
    assert not run.done()
    dashboard.stop_button.click()  # from this (the kernel's) thread, as a real click is
    generator = run.result(timeout=120)
    assert 1 <= generator.provenance["epochs_trained"] < 500
    assert "stopped by the Stop button" in dashboard.eta.value


def test_interrupting_the_wait_stops_training_cleanly(grid):
    dashboard = TrainingDashboard()
    run = BackgroundTraining(dashboard, grid, TINY.replace(epochs=500), seed=6)

    def interrupt_after_an_epoch():
        _wait_for_epochs(dashboard, run, 1)
        # What the notebook's interrupt-kernel button sends: a real SIGINT, which wakes the
        # main thread from its wait (_thread.interrupt_main() would not).
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    # A kernel turns SIGINT into KeyboardInterrupt while a cell runs; libraries used by
    # earlier tests may have installed another handler, so set the kernel's one here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_after_an_epoch, daemon=True).start()
        generator = run.result()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert dashboard.stop_requested
    assert generator.provenance["epochs_trained"] < 500


def test_background_training_errors_reach_the_caller_and_the_dashboard(grid):
    dashboard = TrainingDashboard()
    wrong = grid.subset(np.arange(10)).split(test=2, validation=2)
    run = BackgroundTraining(dashboard, grid, TINY, split=wrong)
    with pytest.raises(GridInputError, match="split drawn for 10 spectra"):
        run.result(timeout=60)
    assert "training failed" in dashboard.eta.value


def test_a_full_size_spectrum_is_drawn_at_screen_resolution_and_in_full_when_zoomed():
    wavelength = paper_wavelength()
    grid = toy_grid(wavelength, 24, seed=7)
    explorer = SpectrumExplorer(train(grid, TINY.replace(epochs=1), seed=0, verbose=0), grid)
    flux = explorer.flux
    assert len(explorer.line.x) <= explorer.max_points < wavelength.size
    assert explorer.line.y.min() == flux.min() and explorer.line.y.max() == flux.max()
    assert explorer.band.y.shape == (2, len(explorer.band.x)) and len(explorer.band.x) <= 2000
    assert len(explorer.grid_line.x) <= 2000 and len(explorer.residual_line.x) <= 2000
    # Zoomed to H-beta: every pixel of the window (and one beyond each edge), nothing else.
    explorer.zoom_buttons["hbeta"].click()
    window = (wavelength >= H_BETA_WINDOW[0]) & (wavelength <= H_BETA_WINDOW[1])
    assert window.sum() + 2 == len(explorer.line.x)
    np.testing.assert_array_equal(explorer.line.x[1:-1], wavelength[window])
    np.testing.assert_allclose(explorer.line.y[1:-1], flux[window])
    # Saving still writes every pixel.
    assert explorer.flux.size == wavelength.size


def test_dashboard_axes_tick_whole_epochs_and_round_log_values(grid):
    dashboard = TrainingDashboard()
    train(grid, TINY.replace(epochs=3), seed=1, callbacks=[dashboard], verbose=0)
    for figure in (dashboard.loss_figure, dashboard.lr_figure):
        assert figure.axes[0].tick_values.tolist() == [0, 1, 2]
    ticks = dashboard.loss_figure.axes[1].tick_values
    drawn = np.concatenate([line.y for line in dashboard.lines.values()])
    assert ticks[0] < drawn.min() and drawn.max() < ticks[-1]
    mantissas = ticks / 10.0 ** np.floor(np.log10(ticks))
    assert set(np.round(mantissas, 6)) <= {1.0, 2.0, 5.0}
    scale = dashboard.loss_figure.axes[1].scale
    assert (scale.min, scale.max) == (ticks[0], ticks[-1])
    # The constant learning rate, 3e-3, sits between the two round values around it.
    np.testing.assert_allclose(dashboard.lr_figure.axes[1].tick_values, [2e-3, 5e-3])
