"""Bad input never gives a wrong answer, a hang, a traceback or lost data.

The table :data:`CLI_CASES` holds one command line per kind of bad input and the words its
one-line error must contain; every case must end with exit status 2 before any work. A new
reader or command joins the table with its own cases.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable

from spectral_cvae.cli.main import main
from spectral_cvae.errors import GridInputError, ParameterError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import tiny_config

SUN = {"teff": 5800.0, "logg": 4.4, "vsini": 2.0, "mh": 0.0, "vmic": 1.0, "resolution": 50000.0}
POINT = [f"--{name}={value}" for name, value in SUN.items()]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A small grid, an untrained model on its wavelengths and a few bad inputs."""
    from spectral_cvae.model import CVAE, SpectrumGenerator

    folder = tmp_path_factory.mktemp("bad")
    wavelength = np.linspace(5000.0, 5010.0, 64)
    rng = np.random.default_rng(0)
    parameters = rng.uniform(PAPER_SPACE.minimum, PAPER_SPACE.maximum, (12, 6))
    flux = (1 - 0.3 * rng.random((12, 64))).astype(np.float32)
    grid = SpectralGrid(wavelength, flux, parameters).save(folder / "grid.h5")
    metadata = {"wavelength": wavelength.tolist(), "space": PAPER_SPACE.to_dict()}
    model = CVAE(tiny_config(), 64, seed=0, metadata=metadata)
    model.build_all()
    SpectrumGenerator(model).save(folder / "model.keras")
    (folder / "existing.csv").write_text("keep me\n")
    return {"folder": folder, "grid": grid, "model": folder / "model.keras"}


def table(folder: Path, text: str, name: str = "points.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


HEADER = "teff,logg,vsini,mh,vmic,resolution\n"

CLI_CASES = [
    # (command line with {grid}, {model}, {folder} placeholders, words the message names)
    ("grid build --n-models 3 --out {folder}/b.h5 --workers 0", ["--workers", "at least 1"]),
    ("grid build --n-models 0 --out {folder}/b.h5", ["--n-models", "at least 1"]),
    ("grid build --n-models 3 --draws-per-model -1 --out {folder}/b.h5", ["--draws-per-model"]),
    ("generate --model {model} --out {folder}/g.csv --n-samples 0", ["--n-samples"]),
    ("generate --model {model} --out {folder}/g.csv --seed -1", ["--seed", "at least 0"]),
    ("train --grid {grid} --out {folder}/m.keras --checkpoint-every 0", ["--checkpoint-every"]),
    ("train --grid {grid} --out {folder}/m.keras --patience -1", ["--patience"]),
    ("train --grid {grid} --out {folder}/m.keras --beta nan", ["--beta", "finite"]),
    ("train --grid {grid} --out {folder}/m.keras --beta inf", ["--beta", "finite"]),
    ("grid split {grid} --test nan", ["--test", "finite"]),
    ("grid plot {grid} -1 --out {folder}/p.png", ["indices", "at least 0"]),
    ("train --grid {grid} --out {folder}/m.h5", ["m.h5", ".keras"]),
    ("generate --model {model} --out {folder}/g.xyz " + " ".join(POINT), ["g.xyz", "format"]),
    ("generate --model {model} --out {folder}/existing.csv " + " ".join(POINT),
     ["existing.csv", "--overwrite"]),
]


@pytest.mark.parametrize("command, words", CLI_CASES, ids=[c[0][:40] for c in CLI_CASES])
def test_bad_command_lines_end_with_one_line_naming_the_problem(files, capsys, command, words):
    argv = command.format(**{k: str(v) for k, v in files.items()}).split()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err
    assert (files["folder"] / "existing.csv").read_text() == "keep me\n"
    assert not list(files["folder"].glob("*.h5.lock")) and not (files["folder"] / "m.h5").exists()


# -- 1: parameter tables: missing values and units ---------------------------------------------
def test_an_empty_table_cell_is_refused_by_row_and_column(files, capsys):
    points = table(files["folder"], HEADER + "5800,4.4,2,0,1,50000\n5800,4.4,,0,1,50000\n")
    out = files["folder"] / "empty.csv"
    argv = ["generate", "--model", str(files["model"]), "--table", str(points), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "points.csv, spectrum 1: parameter 'vsini' has no value" in err
    assert not out.exists()


def test_a_non_numeric_table_cell_is_refused_by_row_and_column():
    rows = {**{k: [v, v] for k, v in SUN.items()}, "mh": ["0", "solar"]}
    with pytest.raises(ParameterError, match="t.csv, spectrum 1: parameter 'mh' is not a number"):
        PAPER_SPACE.as_array(rows, source="t.csv")


def test_columns_with_units_are_converted_to_the_space_units(files):
    points = QTable({k: [v] for k, v in SUN.items()})
    points["vsini"] = [200.0] * u.m / u.s
    points["teff"] = [5526.85] * u.deg_C
    array = PAPER_SPACE.as_array(points)
    np.testing.assert_allclose(array[0, :3], [5800.0, 4.4, 0.2])
    ecsv = files["folder"] / "units.ecsv"
    points.write(ecsv, overwrite=True)
    out = files["folder"] / "units.fits"
    argv = ["generate", "--model", str(files["model"]), "--table", str(ecsv), "--out", str(out)]
    assert main(argv) == 0
    with SpectralGrid.open(files["grid"]):
        pass
    from astropy.io import fits

    with fits.open(out) as hdul:
        assert hdul["SPECTRA"].data["vsini"][0] == pytest.approx(0.2)


def test_a_unit_of_another_kind_is_refused_by_name():
    points = QTable({k: [v] for k, v in SUN.items()})
    points["vmic"] = [1.0] * u.s
    with pytest.raises(ParameterError, match="'vmic' is given in s, which cannot be converted"):
        PAPER_SPACE.as_array(points, source="p.ecsv")
    with pytest.raises(ParameterError, match="mixes the units"):
        PAPER_SPACE.as_array(np.ones(6) * u.km / u.s)


# -- 5: outputs are never replaced without --overwrite -----------------------------------------
def test_generate_replaces_an_existing_output_only_with_overwrite(files, capsys):
    out = files["folder"] / "twice.csv"
    argv = ["generate", "--model", str(files["model"]), *POINT, "--out", str(out)]
    assert main(argv) == 0
    first = out.read_text()
    out.write_text("other\n")
    assert main(argv) == 2
    assert "twice.csv already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "other\n"
    assert main([*argv, "--overwrite"]) == 0 and out.read_text() == first


def test_saving_a_model_over_an_existing_file_is_refused(files, tmp_path):
    from spectral_cvae.model import SpectrumGenerator

    generator = SpectrumGenerator.load(files["model"])
    target = tmp_path / "kept.keras"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="kept.keras already exists"):
        generator.save(target)
    assert target.read_bytes() == b"keep"
    generator.save(target, overwrite=True)
    assert SpectrumGenerator.load(target).n_pixels == 64


def test_a_finished_train_is_not_rerun_over_its_model(files, capsys, tmp_path):
    out = tmp_path / "done.keras"
    out.write_bytes(b"a finished model")
    assert main(["train", "--grid", str(files["grid"]), "--out", str(out)]) == 2
    assert "done.keras already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"a finished model"
    assert not out.with_name("done.keras.checkpoint").exists()


# -- 2: one training run per output ------------------------------------------------------------
def test_a_second_training_run_to_the_same_output_is_refused(files, capsys, tmp_path):
    from spectral_cvae.files import exclusive

    out = tmp_path / "busy.keras"
    with exclusive(out, "training run"):
        assert main(["train", "--grid", str(files["grid"]), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "busy.keras: another training run is writing this output" in err
        assert not out.with_name("busy.keras.checkpoint").exists()
    assert not out.with_name("busy.keras.lock").exists()
    with exclusive(out, "training run"):  # free again once the first run ended
        pass


# -- 8: damaged or edited model files ----------------------------------------------------------
def edited(source: Path, target: Path, member: str, change) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            new.writestr(item, change(data) if item.filename == member else data)
    return target


def test_a_model_file_edited_after_saving_is_refused_naming_the_file(files, tmp_path, capsys):
    def scale(data: bytes) -> bytes:
        config = json.loads(data)
        config["config"]["config"]["flux_scale"] = 2.5
        return json.dumps(config).encode()

    model = edited(files["model"], tmp_path / "edited.keras", "config.json", scale)
    argv = ["generate", "--model", str(model), *POINT, "--out", str(tmp_path / "g.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "edited.keras: the file was changed after it was saved (config.json" in err
    assert not (tmp_path / "g.csv").exists()


def test_non_finite_generated_flux_is_refused(files):
    from spectral_cvae.errors import ModelFileError
    from spectral_cvae.model import SpectrumGenerator

    generator = SpectrumGenerator.load(files["model"])
    weights = generator.model.decoder.get_weights()
    generator.model.decoder.set_weights([np.full_like(w, np.nan) for w in weights])
    with pytest.raises(ModelFileError, match="model.keras: the model generated non-finite flux"):
        generator.generate(SUN)
    with pytest.raises(ModelFileError, match="non-finite"):
        generator.sample(SUN, 3, seed=0)


# -- 12: many draws of one point in bounded memory ---------------------------------------------
def test_many_draws_give_the_mean_and_spread_of_all_draws(files):
    from spectral_cvae.model import SpectrumGenerator

    generator = SpectrumGenerator.load(files["model"])
    result = generator.sample([list(SUN.values())] * 2, 1500, seed=3)
    z = np.random.default_rng(3).standard_normal((3000, generator.config.latent_dim),
                                                 dtype=np.float32)
    condition = generator.space.normalize([list(SUN.values())] * 3000)
    draws = generator.decode(z, condition).reshape(2, 1500, -1)
    np.testing.assert_allclose(result.mean, draws.mean(axis=1), atol=1e-5)  # float32 batches
    np.testing.assert_allclose(result.std, draws.std(axis=1, ddof=1), rtol=1e-3, atol=1e-5)


# -- 7: wavelengths checked when a grid is opened ----------------------------------------------
@pytest.mark.parametrize("damage, words", [
    (lambda w: np.where(np.arange(w.size) == 5, np.nan, w), "wavelength[5] = nan"),
    (lambda w: w[::-1].copy(), "not strictly increasing"),
])
def test_a_grid_with_damaged_wavelengths_is_refused_when_opened(files, tmp_path, capsys,
                                                               damage, words):
    import h5py

    path = tmp_path / "damaged.h5"
    path.write_bytes(files["grid"].read_bytes())
    with h5py.File(path, "r+") as handle:
        handle["wavelength"][...] = damage(handle["wavelength"][:])
    for command in (["grid", "info", str(path)], ["grid", "split", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "damaged.h5" in err and words in err and len(err.strip().splitlines()) == 1


# -- 9: raising sites that leaked tracebacks ---------------------------------------------------
def test_a_plot_index_beyond_the_grid_is_a_one_line_error(files, capsys):
    assert main(["grid", "plot", str(files["grid"]), "99", "--out",
                 str(files["folder"] / "p.png")]) == 2
    assert "grid.h5: spectrum 99 does not exist: the grid has 12 spectra" in capsys.readouterr().err


def test_ctrl_c_ends_with_a_hint_to_resume(files, capsys, monkeypatch):
    from spectral_cvae.cli import grid as grid_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(grid_cli, "run_info", interrupted)
    assert main(["grid", "info", str(files["grid"])]) == 130
    assert capsys.readouterr().err.strip() == (
        "spectral-cvae: error: interrupted; run the same command to resume"
    )


def test_an_inverter_file_with_inconsistent_shapes_is_refused(tmp_path):
    from spectral_cvae.errors import ModelFileError
    from spectral_cvae.inversion import PCAInverter
    from spectral_cvae.inversion.pca import PCABasis

    inverter = PCAInverter(n_components=3)
    inverter.pca_ = PCABasis(mean=np.ones(10), components=np.eye(3, 10),
                             explained_variance=np.ones(3), total_variance=3.0)
    inverter.coefficient_scale_ = np.ones(3)
    inverter.weights_ = [(np.ones((3, 4)), np.zeros(4)), (np.ones((4, 6)), np.zeros(6))]
    inverter.wavelength_ = np.linspace(5000, 5010, 10)
    inverter.space_ = PAPER_SPACE
    inverter.history_ = []
    inverter.n_features_in_ = 10
    good = inverter.save(tmp_path / "good.npz")
    assert PCAInverter.load(good).n_features_in_ == 10
    inverter.weights_[1] = (np.ones((5, 6)), np.zeros(6))
    with pytest.raises(ModelFileError, match="bad.npz: inverter file is inconsistent: kernel_1"):
        PCAInverter.load(inverter.save(tmp_path / "bad.npz"))


# -- 4: the inverter takes continuum-normalized flux only and flags extrapolations -------------
def test_flux_that_is_not_continuum_normalized_is_refused(rng):
    from spectral_cvae.grid.checks import check_normalized

    flux = 1 - 0.5 * rng.random((4, 200)) ** 8
    assert check_normalized(flux) is flux
    for bad in (flux * 100, np.zeros_like(flux), -flux):
        with pytest.raises(GridInputError, match=r"star.fits, spectrum 0: flux is not "
                                                 r"continuum-normalized"):
            check_normalized(bad, "star.fits")


def test_inverter_predictions_outside_the_domain_are_flagged(tmp_path):
    from spectral_cvae.errors import OutOfDomainWarning
    from spectral_cvae.inversion import PCAInverter
    from spectral_cvae.inversion.pca import PCABasis

    inverter = PCAInverter(n_components=2)
    inverter.pca_ = PCABasis(mean=np.ones(10), components=np.eye(2, 10),
                             explained_variance=np.ones(2), total_variance=2.0)
    inverter.coefficient_scale_ = np.ones(2)
    inverter.weights_ = [(np.zeros((2, 6)), np.array([0.5, 0.5, 0.5, 0.5, 0.5, 3.0]))]
    inverter.wavelength_ = np.linspace(5000, 5010, 10)
    inverter.space_ = PAPER_SPACE
    inverter.n_features_in_ = 10
    with pytest.warns(OutOfDomainWarning, match="1 of 1 predictions lie outside"):
        predicted = inverter.predict(np.ones(10))
    assert not inverter.in_domain(predicted).any()
    with pytest.raises(GridInputError, match="not continuum-normalized"):
        inverter.predict(np.full(10, 100.0))


# -- 13: grid convert refuses implausible grids ------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda w, f: (w / 10, f), "wavelengths 500-501.995 are not Angstrom (nm? multiply by 10)"),
    (lambda w, f: (w, f * 100), "mine.npz, spectrum 0: flux is not continuum-normalized"),
])
def test_grid_convert_refuses_implausible_grids(tmp_path, small_grid_arrays, capsys,
                                                change, words):
    wavelength, flux, parameters = small_grid_arrays
    wavelength, flux = change(wavelength, flux)
    source = tmp_path / "mine.npz"
    np.savez(source, wavelength=wavelength, flux=flux,
             **{name: parameters[:, k] for k, name in enumerate(PAPER_SPACE.names)})
    out = tmp_path / "converted.h5"
    assert main(["grid", "convert", str(source), "--out", str(out)]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


# -- 6: a SYNSPEC index reads regular files only and never quotes them -------------------------
@pytest.mark.parametrize("listed, words", [
    ("/dev/zero", "/dev/zero: not a regular file"),
    ("secret.txt", "secret.txt, line 1: expected 2 columns"),
])
def test_a_synspec_index_reads_regular_files_only_and_never_quotes_them(tmp_path, capsys,
                                                                        listed, words):
    (tmp_path / "secret.txt").write_text("hunter2:x:0:0:/home/hunter2\n")
    (tmp_path / "index.csv").write_text(f"flux_file,teff,logg,mh,vmic\n{listed},5800,4.4,0,1\n")
    argv = ["grid", "convert", str(tmp_path / "index.csv"), "--out", str(tmp_path / "g.h5")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "hunter2" not in err
