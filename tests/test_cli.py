import json

import numpy as np
import pytest

from spectral_cvae.cli.main import main
from spectral_cvae.grid import GridSplit, GridWriter, SpectralGrid
from spectral_cvae.grid.toy import build_toy_grid


@pytest.fixture
def grid_file(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    return SpectralGrid(wavelength, flux, parameters, provenance={"made_by": "test"}).save(
        tmp_path / "grid.h5"
    )


def test_grid_info_prints_size_window_and_parameter_coverage(grid_file, capsys):
    assert main(["grid", "info", str(grid_file)]) == 0
    out = capsys.readouterr().out
    assert "spectra      50" in out
    assert "400 (5000.00-5019.95 A, step 0.05 A)" in out
    assert "made_by: test" in out
    assert main(["grid", "info", "--json", str(grid_file)]) == 0
    assert json.loads(capsys.readouterr().out)["n_pixels"] == 400


def test_grid_split_writes_a_reproducible_split_file(grid_file, tmp_path, capsys):
    out = tmp_path / "split.json"
    args = ["grid", "split", str(grid_file), "--test", "10", "--validation", "0.2", "--seed", "3"]
    assert main([*args, "--out", str(out)]) == 0
    assert "train 30, validation 10, test 10" in capsys.readouterr().out
    split = GridSplit.load(out, n_spectra=50)
    assert split.seed == 3
    np.testing.assert_array_equal(split.test, GridSplit.make(50, 10, 0.2, seed=3).test)
    assert main(args) == 0
    assert grid_file.with_suffix(".split.json").exists()


def test_grid_plot_writes_a_png(grid_file, tmp_path):
    out = tmp_path / "spectra.png"
    assert main(["grid", "plot", str(grid_file), "0", "5", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_errors_about_data_end_with_a_message_not_a_traceback(tmp_path, capsys):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x00" * 64)
    assert main(["grid", "info", str(broken)]) == 2
    assert "broken.h5: cannot be read as HDF5" in capsys.readouterr().err


def test_toy_grid_build_resumes_after_an_interruption(tmp_path, monkeypatch):
    path = tmp_path / "toy.h5"
    calls = []
    original = GridWriter.append

    def interrupted(self, flux, parameters, source=None, base_model=None):
        calls.append(len(flux))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, flux, parameters, source, base_model)

    monkeypatch.setattr(GridWriter, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_toy_grid(path, n_models=5, draws_per_model=2, seed=4)
    monkeypatch.setattr(GridWriter, "append", original)
    assert not path.exists()
    build_toy_grid(path, n_models=5, draws_per_model=2, seed=4)
    fresh = build_toy_grid(tmp_path / "fresh.h5", n_models=5, draws_per_model=2, seed=4)
    with SpectralGrid.open(path) as resumed, SpectralGrid.open(fresh) as reference:
        assert len(resumed) == 10 and resumed.n_pixels == 19000
        np.testing.assert_array_equal(resumed.parameters, reference.parameters)
        np.testing.assert_array_equal(resumed.read_flux(), reference.read_flux())


def test_demo_command_trains_generates_and_writes_the_evaluation_report(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--grid", "toy", "--n-models", "10", "--epochs", "2"]
    assert main([*args, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "40 spectra x 19000 pixels, 4450.00-5399.95 A" in printed
    assert "demo preset, 2 epochs" in printed
    median = float(printed.split("median |Delta F| = ")[1].split(",")[0])
    assert 0 < median < 0.5
    assert GridSplit.load(out / "toy-grid.split.json", n_spectra=40).n_spectra == 40
    for name in ("toy-grid-examples.png", "cvae-vs-held-out.png", "demo-model.keras",
                 "report/report.json", "report/report.md"):
        assert (out / name).exists(), name
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["residuals"]["overall"]["median"] == pytest.approx(median, rel=6e-3)
    assert set(report["accuracy"]["parts"]) >= {"train", "validation", "test", "generated"}
    # Honest numbers: the test stars were never trained on, and the leaky number is beside it.
    assert report["split"]["by"] == "base_model" and report["split"]["origin"] == "the model's own split"
    assert report["split"]["seen"] == {"test_spectra": 0, "base_models": 0}
    assert "spectra of 1 stars never trained on (split by base model)" in printed
    leaky = float(printed.split("leaky  median |Delta F| = ")[1].split(",")[0])
    assert 0 < leaky < 0.5
    assert "sharp-lined (v sin i < 20 km/s, R > 20,000)" in printed


def test_grid_convert_reads_an_npz_table_onto_a_chosen_wavelength_grid(tmp_path, small_grid_arrays, capsys):
    wavelength, flux, parameters = small_grid_arrays
    source = tmp_path / "mine.npz"
    np.savez(source, wavelength=wavelength, flux=flux,
             **{name: parameters[:, k] for k, name in enumerate(["teff", "logg", "vsini", "mh", "vmic", "resolution"])})
    out = tmp_path / "converted.h5"
    args = ["grid", "convert", str(source), "--out", str(out), "--wavelength", "5005", "5015", "0.1"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    with SpectralGrid.open(out) as grid:
        assert grid.n_pixels == 100 and len(grid) == 50
        assert grid.provenance["format"] == "table"
        np.testing.assert_array_equal(grid.parameters, parameters)
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_grid_convert_builds_broadened_spectra_from_synspec_output(tmp_path, capsys):
    wavelength = np.arange(4440.0, 5410.0, 0.01)
    flux = 1.0 - 0.6 * np.exp(-0.5 * ((wavelength - 4861.33) / 0.05) ** 2)
    np.savetxt(tmp_path / "fort.7", np.column_stack([wavelength, flux]))
    (tmp_path / "index.csv").write_text("flux_file,teff,logg,mh,vmic\nfort.7,5800,4.4,0.0,1.0\n")
    out = tmp_path / "synspec.h5"
    assert main(["grid", "convert", str(tmp_path / "index.csv"), "--out", str(out),
                 "--vsini", "30", "--resolution", "20000"]) == 0
    with SpectralGrid.open(out) as grid:
        assert grid.n_pixels == 19000
        np.testing.assert_array_equal(grid.parameters[0], [5800, 4.4, 30, 0.0, 1.0, 20000])
        spectrum = grid.spectrum(0)
        assert 0.6 < spectrum.min() < 0.95
        equivalent_width = np.sum(1 - spectrum) * 0.05
        assert equivalent_width == pytest.approx(0.6 * 0.05 * np.sqrt(2 * np.pi), rel=1e-3)


def test_grid_convert_drops_out_of_range_spectra_when_asked(tmp_path, small_grid_arrays, capsys):
    wavelength, flux, parameters = small_grid_arrays
    parameters = parameters.copy()
    parameters[3, 0] = 20000.0
    source = tmp_path / "mine.npz"
    np.savez(source, wavelength=wavelength, flux=flux, parameters=parameters,
             names=np.array(["teff", "logg", "vsini", "mh", "vmic", "resolution"]))
    out = tmp_path / "kept.h5"
    assert main(["grid", "convert", str(source), "--out", str(out)]) == 2
    assert "teff = 20000 K is outside [4000, 11000]" in capsys.readouterr().err
    assert main(["grid", "convert", str(source), "--out", str(out), "--on-out-of-range", "drop"]) == 0
    assert "1 outside the parameter ranges dropped" in capsys.readouterr().out


def test_grid_split_by_star_and_the_leaky_split_say_what_they_are(tmp_path, capsys):
    path = build_toy_grid(tmp_path / "toy.h5", n_models=10, draws_per_model=4, seed=0)
    assert main(["grid", "split", str(path), "--test", "0.2", "--validation", "0.2"]) == 0
    honest = capsys.readouterr().out
    assert "split by base_model" in honest
    assert "10 base models; 0 of them in more than one subset, 0 test spectra" in honest
    out = tmp_path / "leaky.json"
    arguments = ["grid", "split", str(path), "--test", "0.2", "--validation", "0.2"]
    assert main([*arguments, "--leaky-by-row", "--out", str(out)]) == 0
    leaky = capsys.readouterr().out
    assert "split by row (leaky)" in leaky and " 0 of them" not in leaky
    assert GridSplit.load(out).by == "row (leaky)"


def test_train_physics_trains_on_the_starter_grid_and_records_its_split(tmp_path, capsys):
    out = tmp_path / "physics.keras"
    arguments = ["train-physics", "--out", str(out), "--epochs", "1", "--n-components", "8",
                 "--latent-dim", "2", "--batch-size", "128", "--quiet"]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "base grid starter-grid.h5 (shipped): 600 models, sha256" in printed
    assert "split by base model: train 480, validation 60, test 60 stars" in printed
    assert out.exists()
    assert main(arguments) == 2  # an existing model is not replaced without --overwrite
    assert "already exists" in capsys.readouterr().err
