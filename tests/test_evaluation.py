"""Residual statistics, heat maps, marginals, accuracy table and report, checked against
generators whose residuals are known exactly."""

from __future__ import annotations

import json
import sys
import time
import types

import numpy as np
import pytest

from spectral_cvae.cli import evaluate as evaluate_cli
from spectral_cvae.cli.main import main
from spectral_cvae.errors import ParameterError, SpectrumInputError
from spectral_cvae.evaluation import (
    ResidualAccumulator,
    check_compatible,
    evaluate_model,
    heat_map,
    marginals,
    parameter_errors,
    residual_statistics,
    speed_report,
    time_generation,
)
from spectral_cvae.evaluation.residuals import PIXEL_BINS_PER_DECADE
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.inversion import PCAInverter
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import line_spectrum, random_parameters


class OffsetGenerator:
    """Returns the grid's own spectrum at each parameter point plus a known residual."""

    def __init__(self, grid: SpectralGrid, delta: np.ndarray) -> None:
        self.grid, self.delta = grid, delta
        self.wavelength, self.space = grid.wavelength, grid.space
        self.calls: list[str] = []

    def generate(self, parameters: np.ndarray, latent: str = "mean") -> np.ndarray:
        self.calls.append(latent)
        rows = [int(np.flatnonzero((self.grid.parameters == p).all(axis=1))[0]) for p in parameters]
        return self.grid.read_flux(rows).astype(np.float64) + self.delta[rows]


@pytest.fixture
def known(rng, small_grid_arrays):
    """A 50 x 400 grid and residuals with signs, an all-zero spectrum and a pixel pattern."""
    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters)
    delta = rng.normal(0.0, 1e-3, (50, wavelength.size)) + 5e-4 * np.sin(wavelength)
    delta[7] = 0.0
    return grid, delta


def test_statistics_match_the_known_residuals(known):
    grid, delta = known
    generator = OffsetGenerator(grid, delta)
    stats = residual_statistics(generator, grid, batch_size=7, progress=False)
    # What the statistics see is generated - synthetic as computed in float64.
    exact = (grid.flux.astype(np.float64) + delta) - grid.flux
    absolute = np.abs(exact)
    np.testing.assert_array_equal(stats.indices, np.arange(50))
    np.testing.assert_allclose(stats.pixel_bias, exact.mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(stats.pixel_scatter, exact.std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(stats.pixel_mean_abs, absolute.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.spectrum_mean_abs, absolute.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(stats.spectrum_median_abs, np.median(absolute, axis=1))
    np.testing.assert_allclose(stats.spectrum_bias, exact.mean(axis=1), atol=1e-15)
    assert stats.spectrum_max_abs[7] == 0.0
    overall = stats.overall
    assert overall["max"] == pytest.approx(absolute.max(), rel=1e-12)
    assert overall["mean"] == pytest.approx(absolute.mean(), rel=1e-12)
    assert overall["rms"] == pytest.approx(np.sqrt((exact**2).mean()), rel=1e-12)
    assert overall["bias"] == pytest.approx(exact.mean(), abs=1e-15)
    for name, q in (("median", 0.5), ("p68", 0.68), ("p95", 0.95), ("p99", 0.99)):
        assert overall[name] == pytest.approx(np.quantile(absolute, q), rel=3e-3), name
    assert set(generator.calls) == {"mean"}


def test_per_pixel_quantiles_lie_within_one_bin_of_the_order_statistics(rng):
    wavelength = np.linspace(5000.0, 5001.0, 30)
    # The same draws at every pixel, scaled: pixel 29 has ten times pixel 0's residuals.
    delta = np.abs(rng.normal(0.0, 1e-3, (400, 1))) * np.linspace(0.5, 5.0, 30)
    accumulator = ResidualAccumulator(wavelength)
    for start in range(0, 400, 64):
        rows = np.arange(start, min(start + 64, 400))
        accumulator.add(rows, np.zeros((len(rows), 6)), -delta[rows])
    stats = accumulator.result()
    ratio = 10 ** (1 / PIXEL_BINS_PER_DECADE)
    ordered = np.sort(delta, axis=0)
    for k, q in enumerate((0.5, 0.68, 0.95, 0.99)):
        rank = int(np.ceil(q * 400)) - 1
        assert np.all(stats.pixel_quantiles[k] >= ordered[rank] / ratio)
        assert np.all(stats.pixel_quantiles[k] <= ordered[min(rank + 1, 399)] * ratio)
    ratios = stats.pixel_quantiles[:, -1] / stats.pixel_quantiles[:, 0]
    np.testing.assert_allclose(ratios, 10.0, rtol=0.07)


def test_statistics_do_not_depend_on_the_batch_size(known):
    grid, delta = known
    a = residual_statistics(OffsetGenerator(grid, delta), grid, batch_size=50, progress=False)
    b = residual_statistics(OffsetGenerator(grid, delta), grid, batch_size=3, progress=False)
    np.testing.assert_array_equal(a.pixel_quantiles, b.pixel_quantiles)
    np.testing.assert_allclose(a.pixel_bias, b.pixel_bias, atol=1e-16)
    assert a.overall["median"] == b.overall["median"]


def test_only_the_requested_rows_are_compared(known):
    grid, delta = known
    delta = delta.copy()
    delta[[2, 5]] = 0.1  # would dominate every statistic if these rows were read
    stats = residual_statistics(
        OffsetGenerator(grid, delta), grid, indices=[0, 1, 3], progress=False
    )
    assert stats.n_spectra == 3
    assert stats.overall["max"] < 0.01


def test_a_model_on_other_wavelengths_is_refused(known):
    grid, delta = known
    generator = OffsetGenerator(grid, delta)
    generator.wavelength = grid.wavelength[:-1]
    with pytest.raises(SpectrumInputError, match="399 pixels.*the grid has 400"):
        residual_statistics(generator, grid, progress=False)
    generator.wavelength = grid.wavelength + 0.01
    with pytest.raises(SpectrumInputError, match="wavelength 0 is 5000.0000 A in the grid"):
        check_compatible(generator, grid)


def test_a_generator_returning_the_wrong_shape_is_reported(known):
    grid, delta = known
    generator = OffsetGenerator(grid, delta)
    generator.generate = lambda parameters, latent="mean": np.zeros((len(parameters), 10))
    with pytest.raises(ValueError, match=r"shape \(4, 10\); expected \(4, 400\)"):
        residual_statistics(generator, grid, batch_size=4, progress=False)


def test_heat_map_bins_counts_and_means_are_right():
    space = PAPER_SPACE
    base = np.array([7500.0, 3.5, 10.0, 0.0, 2.0, 50000.0])
    points = np.tile(base, (6, 1))
    # Teff bins of 1000 K over 4000-11000, log g bins of 1 dex over 2-5.
    points[:, 0] = [4100.0, 4900.0, 4500.0, 10999.0, 11000.0, 12000.0]
    points[:, 1] = [2.1, 2.9, 2.5, 4.5, 5.0, 3.0]
    values = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 99.0])
    result = heat_map(points, values, space, "teff", "logg", bins=(7, 3))
    assert result.count.shape == (7, 3)
    expected_count = np.zeros((7, 3), dtype=int)
    expected_count[0, 0] = 3
    expected_count[6, 2] = 2  # the upper edges 11000 K and 5.0 dex belong to the last bins
    np.testing.assert_array_equal(result.count, expected_count)
    assert result.mean[0, 0] == pytest.approx(2.0)
    assert result.mean[6, 2] == pytest.approx(15.0)
    assert np.isnan(result.mean[3, 1])
    assert result.n_outside == 1
    assert result.maximum == pytest.approx(15.0)
    data = result.to_dict()
    assert data["n_empty_bins"] == 19 and data["mean"][3][1] is None
    with pytest.raises(ParameterError, match="no parameter 'gravity'"):
        heat_map(points, values, space, "teff", "gravity")


def test_marginals_bin_each_parameter_over_its_domain():
    rng = np.random.default_rng(1)
    points = random_parameters(2000, rng)
    # The value grows with Teff only.
    values = points[:, 0] / 1000.0 + rng.normal(0, 0.01, 2000)
    result = marginals(points, values, PAPER_SPACE, bins=7)
    assert list(result) == list(PAPER_SPACE.names)
    teff = result["teff"]
    assert teff.count.sum() == 2000
    np.testing.assert_allclose(teff.median, teff.centres / 1000.0, atol=0.1)
    assert teff.spearman > 0.95
    assert abs(result["logg"].spearman) < 0.1
    assert np.all(teff.p16 <= teff.median) and np.all(teff.median <= teff.p84)


def test_parameter_errors_give_mae_rms_and_bias():
    true = np.zeros((4, 6))
    predicted = np.zeros((4, 6))
    predicted[:, 0] = [100.0, -100.0, 300.0, -300.0]
    errors = parameter_errors(true, predicted, PAPER_SPACE)
    assert errors["teff"] == {
        "mae": 200.0,
        "rms": pytest.approx(np.sqrt(50000.0)),
        "bias": 0.0,
        "unit": "K",
    }
    assert errors["logg"]["mae"] == 0.0


def test_speed_compares_generation_with_one_synthesis(known, monkeypatch):
    grid, delta = known
    generator = OffsetGenerator(grid, delta)
    generation = time_generation(generator, grid.parameters, repeats=2)
    assert generation["single_seconds"] > 0 and generation["batch_size"] == 50

    calls = []

    def synthesize(teff, logg, mh, vmic, window, step):
        calls.append((teff, logg, mh, vmic, window, step))
        time.sleep(0.05)

    monkeypatch.setitem(
        sys.modules, "spectral_cvae.grid.synthesis", types.SimpleNamespace(synthesize=synthesize)
    )
    report = speed_report(generator, grid.parameters, grid.space.names)
    teff, logg, _, mh, vmic, _ = grid.parameters[0]
    assert calls == [(teff, logg, mh, vmic, (5000.0, grid.wavelength[-1]), pytest.approx(0.05))]
    assert report["synthesis"]["measured"] and report["synthesis"]["seconds"] >= 0.05
    assert report["speedup_single"] == pytest.approx(
        report["synthesis"]["seconds"] / report["generation"]["single_seconds"]
    )

    # Without the SYNSPEC builder the synthesis is reported as not measured, with the reason.
    monkeypatch.setitem(sys.modules, "spectral_cvae.grid.synthesis", None)
    report = speed_report(generator, grid.parameters, grid.space.names)
    assert not report["synthesis"]["measured"] and "not available" in report["synthesis"]["reason"]
    assert "speedup_single" not in report


@pytest.fixture
def grid_file(tmp_path, rng, small_wavelength):
    flux = np.stack([line_spectrum(small_wavelength, rng) for _ in range(60)]).astype(np.float32)
    path = SpectralGrid(small_wavelength, flux, random_parameters(60, rng)).save(
        tmp_path / "grid.h5"
    )
    return path


def test_evaluate_model_writes_every_number_figure_and_summary(grid_file, tmp_path, rng):
    with SpectralGrid.open(grid_file) as grid:
        delta = rng.normal(0.0, 1e-3, (grid.n_spectra, grid.n_pixels))
        split = grid.split(test=0.2, validation=0.2, seed=1)
        inverter = PCAInverter(n_components=4, hidden=(16,), epochs=3, batch_size=16)
        given = dict(vars(inverter))
        report = evaluate_model(
            OffsetGenerator(grid, delta),
            grid,
            split,
            tmp_path / "report",
            inverter=inverter,
            bins=(4, 3),
            signal_to_noise=(50,),
            synthesis=False,
            progress=False,
        )
    # A copy was fitted: the caller's inverter is the unfitted object it was.
    assert not inverter.is_fitted and vars(inverter) == given
    assert PCAInverter.load(tmp_path / "report" / "inverter.npz").get_params() == given
    out = tmp_path / "report"
    for name in (
        "report.json",
        "report.md",
        "report.html",
        "residual_spectrum.png",
        "heat_map.png",
        "marginals.png",
        "example.png",
        "accuracy_table.png",
        "inverter.npz",
    ):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "report.json").read_text())
    assert saved["residuals"]["n_spectra"] == 12
    assert saved["residuals"]["overall"]["median"] == pytest.approx(
        report["residuals"]["overall"]["median"]
    )
    assert sum(map(sum, saved["heat_map"]["count"])) == 12
    assert set(saved["accuracy"]["parts"]) == {
        "train",
        "validation",
        "test",
        "generated",
        "mean_predictor",
    }
    assert list(saved["accuracy"]["noise"]["signal_to_noise"]) == ["50"]
    assert saved["speed"]["synthesis"] == {"measured": False, "reason": "not requested"}
    summary = (out / "report.md").read_text()
    assert "< 1.8e-03" in summary and "30 / 45 / 60 / 65" in summary
    assert "<table>" in (out / "report.html").read_text()


def test_evaluate_command_runs_on_a_grid_and_a_split(grid_file, tmp_path, monkeypatch, capsys):
    def fake_load(path):
        grid = SpectralGrid.open(grid_file)
        return OffsetGenerator(grid, np.full((grid.n_spectra, grid.n_pixels), 1e-3))

    monkeypatch.setattr(evaluate_cli, "load_generator", fake_load)
    assert main(["grid", "split", str(grid_file), "--test", "10", "--validation", "10"]) == 0
    args = [
        "evaluate",
        "--model",
        "m.keras",
        "--grid",
        str(grid_file),
        "--out",
        str(tmp_path / "r"),
        "--split",
        str(grid_file.with_suffix(".split.json")),
    ]
    assert main([*args, "--no-inverter", "--no-synthesis", "--bins", "3", "3"]) == 0
    out = capsys.readouterr().out
    assert "median |Delta F| 1.00e-03" in out
    assert "sharp-lined (v sin i < 20 km/s, R > 20,000)" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["residuals"]["n_spectra"] == 10 and "accuracy" not in report
    assert report["split"]["origin"] == "given" and not report["split"]["checked"]
    sharp = report["breakdown"]["rows"][1]
    assert sharp["median"]["mean"] == pytest.approx(1e-3, rel=0.02)


def test_evaluate_command_names_a_bad_pair(grid_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        evaluate_cli,
        "load_generator",
        lambda path: OffsetGenerator(SpectralGrid.open(grid_file), np.zeros((60, 400))),
    )
    args = ["evaluate", "--model", "m", "--grid", str(grid_file), "--out", str(tmp_path / "r")]
    assert main([*args, "--no-inverter", "--pair", "teff", "age"]) == 2
    assert "no parameter 'age'" in capsys.readouterr().err


def test_evaluate_command_refuses_stars_the_model_trained_on_unless_asked(
    tmp_path, monkeypatch, capsys
):
    from spectral_cvae.grid.toy import build_toy_grid
    from spectral_cvae.provenance import describe_training

    path = build_toy_grid(tmp_path / "toy.h5", n_models=10, draws_per_model=4, seed=0)

    def fake_load(_):
        grid = SpectralGrid.open(path)
        generator = OffsetGenerator(grid, np.full((grid.n_spectra, grid.n_pixels), 1e-3))
        generator.provenance = describe_training(grid, grid.split(test=0.2, validation=0.2), 0)
        return generator

    monkeypatch.setattr(evaluate_cli, "load_generator", fake_load)
    with SpectralGrid.open(path) as grid:
        grid.leaky_row_split(test=0.2, validation=0.2).save(tmp_path / "leaky.json")
    arguments = ["evaluate", "--model", "m.keras", "--grid", str(path), "--out",
                 str(tmp_path / "r"), "--no-inverter", "--no-synthesis", "--bins", "3", "3"]
    assert main(arguments) == 0  # the model's own split: stars it never saw
    assert "None of them is a star (base model) the model was trained on" in capsys.readouterr().out
    leaky = [*arguments, "--split", str(tmp_path / "leaky.json")]
    assert main(leaky) == 2
    assert "are stars the model was trained on" in capsys.readouterr().err
    assert main([*leaky, "--allow-seen-base-models"]) == 0
    assert "LEAKY" in capsys.readouterr().out


def test_the_breakdown_shares_the_statistics_pass_and_gives_the_same_numbers(known):
    from spectral_cvae.evaluation.breakdown import BreakdownAccumulator, residual_breakdown

    grid, delta = known
    generator = OffsetGenerator(grid, delta)
    shared = BreakdownAccumulator(grid.space, ("mean",))
    residual_statistics(
        generator, grid, batch_size=16,
        on_batch=lambda parameters, d: shared.add("mean", parameters, np.abs(d)),
    )
    assert generator.calls == ["mean"] * 4  # 50 spectra in batches of 16: one pass
    alone = residual_breakdown(generator, grid, batch_size=16, latents=("mean",))
    assert shared.result() == alone
    assert alone["rows"][0]["n_spectra"] == 50
