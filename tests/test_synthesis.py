"""The radiative-transfer layer without SYNSPEC: install checks, line lists, atmospheres,
the grid builder (with a stand-in for SYNSPEC) and the handling of failed runs."""

import io
import json
import pickle
import stat
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from spectral_cvae.cli.main import main
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.grid.synthesis import install as install_module
from spectral_cvae.grid.synthesis.atmosphere import Atmosphere, read_atlas9, read_atmosphere
from spectral_cvae.grid.synthesis.builder import (
    base_wavelength,
    build_base_grid,
    failures_path,
    sample_base_parameters,
)
from spectral_cvae.grid.synthesis.errors import (
    CompilerMissingError,
    NotInstalledError,
    SynthesisError,
)
from spectral_cvae.grid.synthesis.install import (
    Artifact,
    Installation,
    _NumpyOnlyUnpickler,
    download,
    find_compiler,
    installation,
    sha256,
)
from spectral_cvae.grid.synthesis.linelist import (
    abo_log_gamma6,
    air_to_vacuum,
    gaia_eso_window,
    read_gaia_eso,
)
from spectral_cvae.grid.synthesis.run import HELIUM_I_LINES, synthesize
from spectral_cvae.grid.wavelength import vacuum_to_air
from spectral_cvae.parameters import BASE_SPACE

# -- installing -------------------------------------------------------------------------------


def test_download_rejects_a_file_whose_sha256_differs(tmp_path, monkeypatch):
    monkeypatch.setattr(
        install_module.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered")
    )
    artifact = Artifact("x", "1", "https://example.invalid/x-1.tar.gz", "0" * 64)
    with pytest.raises(SynthesisError, match="sha256 .* differs from the pinned"):
        download(artifact, tmp_path, report=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_download_reuses_a_cached_file_with_the_right_sha256(tmp_path, monkeypatch):
    (tmp_path / "x-1.tar.gz").write_bytes(b"content")
    artifact = Artifact(
        "x", "1", "https://example.invalid/x-1.tar.gz", sha256(tmp_path / "x-1.tar.gz")
    )

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(install_module.urllib.request, "urlopen", no_network)
    assert download(artifact, tmp_path, report=lambda _: None) == tmp_path / "x-1.tar.gz"


def test_every_pinned_artifact_names_a_version_and_a_sha256():
    for artifact in install_module.ARTIFACTS:
        assert artifact.version in artifact.filename
        assert len(artifact.sha256) == 64 and int(artifact.sha256, 16) >= 0


def test_a_missing_compiler_error_says_how_to_install_one(monkeypatch):
    monkeypatch.delenv("FC", raising=False)
    with pytest.raises(CompilerMissingError) as error:
        find_compiler("no-such-fortran-compiler")
    message = str(error.value)
    assert "apt-get install -y gfortran" in message
    assert "conda-forge gfortran" in message
    assert "brew install gcc" in message


def test_no_installation_says_which_command_installs_it(tmp_path):
    with pytest.raises(NotInstalledError, match="spectral-cvae synspec install"):
        installation(tmp_path / "nothing-here")


def test_the_network_unpickler_loads_arrays_and_refuses_code():
    arrays = [{"w": np.arange(3.0)}]
    loaded = _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays))).load()
    np.testing.assert_array_equal(loaded[0]["w"], np.arange(3.0))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        _NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(print))).load()  # builtins.print
    evil = b"cos\nsystem\n(S'echo hacked'\ntR."
    with pytest.raises(pickle.UnpicklingError):
        _NumpyOnlyUnpickler(io.BytesIO(evil)).load()


# -- line lists -------------------------------------------------------------------------------

TURBOSPECTRUM_LIST = """\
'  26.000            '    1         3
'Fe I    NLTE'
  5000.500  2.000 -1.500  300.250    7.0  1.00E+08 'p' 'd'   0.0    1.0 'Fe I'
  4999.000  1.000 -2.000   -7.500    5.0  0.00E+00 'x' 'x'   0.0    1.0 'Fe I'
  5001.000  3.000 -0.500    2.500    9.0  3.16E+07 'x' 'x'   0.0    1.0 'Fe I'
'  56.138            '    2         1
'Ba II   LTE'
  5000.000  0.500  0.000  300.250    4.0  1.00E+08 'p' 'd'   0.0    1.0 'Ba II'
"""


@pytest.fixture
def turbospectrum_list(tmp_path):
    path = tmp_path / "lines.turbospectrum"
    path.write_text(TURBOSPECTRUM_LIST)
    return path


def test_gaia_eso_lines_are_converted_to_synspec_units(turbospectrum_list):
    lines = read_gaia_eso(turbospectrum_list)
    np.testing.assert_array_equal(lines.wavelength, [4999.0, 5000.0, 5000.5, 5001.0])
    np.testing.assert_allclose(lines.code, [26.00, 56.01, 26.00, 26.00])
    np.testing.assert_allclose(lines.e_low, np.array([1.0, 0.5, 2.0, 3.0]) * 8065.544)
    np.testing.assert_allclose(lines.j_up, [2.0, 1.5, 3.0, 4.0])
    # 138Ba is 71.7 % of barium: its gf carries the isotopic fraction.
    assert lines.log_gf[1] == pytest.approx(np.log10(0.71698))
    np.testing.assert_allclose(lines.log_gamma_rad, [0.0, 8.0, 8.0, 7.5], atol=1e-3)
    # A negative field is log gamma6 already, an Unsold factor becomes 0 (classical).
    assert lines.log_gamma_vdw[0] == -7.5 and lines.log_gamma_vdw[3] == 0.0
    assert -8.0 < lines.log_gamma_vdw[2] < -7.0


def test_abo_damping_grows_with_the_cross_section_and_matches_mg_b():
    one, two = abo_log_gamma6(np.array([300.0, 600.0]), np.array([0.25, 0.25]), 55.845)
    assert two - one == pytest.approx(np.log10(2.0))
    # Mg I 5172.7 (Barklem et al. 2000: sigma = 729, alpha = 0.232): log gamma6 = -7.27.
    assert abo_log_gamma6(np.array([729.0]), np.array([0.232]), 24.305)[0] == pytest.approx(
        -7.27, abs=0.02
    )


def test_synspec_list_has_one_transition_per_line_in_nm(turbospectrum_list, tmp_path):
    path = gaia_eso_window(turbospectrum_list, tmp_path / "cache", 4999.5, 5000.8)
    rows = np.loadtxt(path)
    assert rows.shape == (2, 11)
    np.testing.assert_allclose(rows[:, 0], [500.0, 500.05])
    # E_up - E_low is the transition's vacuum wavenumber.
    np.testing.assert_allclose(
        rows[:, 5] - rows[:, 3], 1e8 / air_to_vacuum(rows[:, 0] * 10), atol=2e-3
    )
    assert gaia_eso_window(turbospectrum_list, tmp_path / "cache", 4999.5, 5000.8) == path


def test_air_to_vacuum_inverts_vacuum_to_air():
    air = np.array([4450.0, 5000.0, 5400.0])
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(air)), air, atol=1e-8)
    assert 1.3 < air_to_vacuum(5000.0) - 5000.0 < 1.5


def test_he_i_wavelengths_follow_from_their_level_energies():
    lines = np.array(HELIUM_I_LINES)
    from_levels = air_to_vacuum(lines[:, 0]) - 1e8 / (lines[:, 4] - lines[:, 2])
    np.testing.assert_allclose(from_levels, 0.0, atol=0.03)


def test_a_broken_line_list_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad"
    path.write_text("'  26.000  '  1  1\n'Fe I'\n  5000.0 abc -1.0 2.5 3.0 1e8 'x' 'x'\n")
    with pytest.raises(SynthesisError, match="bad, line 3"):
        read_gaia_eso(path)


# -- model atmospheres ------------------------------------------------------------------------


def kurucz_model(n=8):
    rhox = np.logspace(-3, 1, n)
    return Atmosphere(
        teff=5777.0,
        logg=4.44,
        mh=0.0,
        rhox=rhox,
        temperature=np.linspace(4000.0, 9000.0, n),
        pressure=rhox * 2.7e4,
        electron_density=np.logspace(10, 15, n),
        source="test",
    )


def test_kurucz_models_round_trip(tmp_path):
    model = kurucz_model()
    back = read_atlas9(model.write_kurucz(tmp_path / "fort.8"))
    assert (back.teff, back.logg, back.n_depths) == (5777.0, 4.44, 8)
    for name in ("rhox", "temperature", "pressure", "electron_density"):
        np.testing.assert_allclose(getattr(back, name), getattr(model, name), rtol=1e-4)


def test_an_unknown_atmosphere_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("nothing like a model\n")
    with pytest.raises(SynthesisError, match="model.txt: neither a Kurucz"):
        read_atmosphere(path)
    with pytest.raises(SynthesisError, match="missing.mod: no such"):
        read_atmosphere(tmp_path / "missing.mod")


# -- one run, with a stand-in program ---------------------------------------------------------


def fake_installation(tmp_path, script: str) -> Installation:
    found = Installation(tmp_path / "fake-install")
    found.binary.parent.mkdir(parents=True)
    found.binary.write_text("#!/bin/sh\n" + script)
    found.binary.chmod(found.binary.stat().st_mode | stat.S_IEXEC)
    found.data.mkdir()
    (tmp_path / "lines").write_text("")
    return found


def test_a_failed_run_raises_with_the_tail_of_the_log(tmp_path):
    found = fake_installation(tmp_path, "echo 'reading model'\necho 'fatal: bad opacity'\nexit 3\n")
    with pytest.raises(SynthesisError) as error:
        synthesize(
            5777,
            4.44,
            0.0,
            1.0,
            (5000, 5001),
            atmosphere=kurucz_model(),
            linelist=tmp_path / "lines",
            install=found,
        )
    message = str(error.value)
    assert "Teff = 5777 K" in message and "exited with status 3" in message
    assert "fatal: bad opacity" in message


def test_nan_flux_is_an_error_not_a_spectrum(tmp_path):
    found = fake_installation(
        tmp_path,
        "printf '4999.9 NaN\\n5000.5 NaN\\n5001.1 NaN\\n' > fort.7\n"
        "printf '4999.0 1.0\\n5002.0 1.0\\n' > fort.17\n",
    )
    with pytest.raises(SynthesisError, match="unusable output.*fort.7, line 1: flux is nan"):
        synthesize(
            5777,
            4.44,
            0.0,
            1.0,
            (5000, 5001),
            atmosphere=kurucz_model(),
            linelist=tmp_path / "lines",
            install=found,
        )


def test_a_run_returns_normalized_flux_on_a_uniform_grid_and_cleans_up(tmp_path):
    found = fake_installation(
        tmp_path,
        f"pwd > {tmp_path}/where\n"
        "printf '4999.9 2.0\\n5000.5 1.0\\n5000.5 1.5\\n5001.1 2.0\\n' > fort.7\n"
        "printf '4999.0 2.0\\n5002.0 2.0\\n' > fort.17\n",
    )
    wavelength, flux = synthesize(
        5777,
        4.44,
        0.0,
        1.0,
        (5000.0, 5001.0),
        0.25,
        atmosphere=kurucz_model(),
        linelist=tmp_path / "lines",
        install=found,
    )
    np.testing.assert_allclose(wavelength, [5000.0, 5000.25, 5000.5, 5000.75])
    np.testing.assert_allclose(
        flux, np.interp(wavelength, [4999.9, 5000.5, 5001.1], [1.0, 0.5, 1.0])
    )
    workdir = (tmp_path / "where").read_text().strip()
    assert "synspec-" in workdir and not Path(workdir).exists()


# -- the grid builder, with a stand-in for SYNSPEC --------------------------------------------

WINDOW, MARGIN, STEP = (5000.0, 5002.0), 1.0, 0.5
calls: list[tuple] = []
crashed_calls: list[tuple] = []
lock = threading.Lock()


def stand_in(teff, logg, mh, vmic, window, step):
    """A fake synthesis: a line whose depth encodes Teff; fails for log g above 4.5."""
    with lock:
        calls.append((teff, logg))
    if logg > 4.5:
        raise SynthesisError(f"log g = {logg} is not allowed here")
    wavelength = np.arange(window[0], window[1] - 1e-9, step)
    return wavelength, 1.0 - (teff / 2e4) * np.exp(-0.5 * (wavelength - 5001.0) ** 2)


def crashing(teff, logg, mh, vmic, window, step):
    """Fails hard (not a SynthesisError) after two models, like a killed build."""
    with lock:
        crashed_calls.append((teff, logg))
        if len(crashed_calls) > 2:
            raise RuntimeError("power cut")
    wavelength = np.arange(window[0], window[1] - 1e-9, step)
    return wavelength, np.ones_like(wavelength)


@pytest.fixture(scope="module")
def in_process_scheduler():
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster),
    ):
        yield cluster.scheduler_address


def build(path, function, address, **options):
    return build_base_grid(
        path,
        12,
        "sobol",
        7,
        window=WINDOW,
        margin=MARGIN,
        step=STEP,
        scheduler=address,
        progress=False,
        synthesize=function,
        **options,
    )


def test_sampling_is_seeded_spans_the_space_and_extends_by_prefix():
    sobol = sample_base_parameters(64, "sobol", seed=1)
    assert sobol.shape == (64, 4) and np.all(BASE_SPACE.contains(sobol))
    np.testing.assert_array_equal(sample_base_parameters(16, "sobol", seed=1), sobol[:16])
    assert not np.array_equal(sample_base_parameters(16, "sobol", seed=2), sobol[:16])
    lhs = sample_base_parameters(10, "lhs", seed=1)
    teff_bins = np.floor((lhs[:, 0] - 4000.0) / 700.0)
    assert sorted(teff_bins) == list(range(10))  # one model per tenth of the Teff range
    for name, low, high in [
        ("teff", 4000, 11000),
        ("logg", 2, 5),
        ("mh", -1.5, 1.5),
        ("vmic", 0, 4),
    ]:
        column = sobol[:, BASE_SPACE.names.index(name)]
        assert low <= column.min() < low + 0.1 * (high - low)
        assert high - 0.1 * (high - low) < column.max() <= high
    with pytest.raises(ValueError, match="method"):
        sample_base_parameters(4, "grid")


def test_build_stores_every_model_and_records_failures(tmp_path, in_process_scheduler):
    calls.clear()
    report = build(tmp_path / "base.h5", stand_in, in_process_scheduler)
    expected = sample_base_parameters(12, "sobol", 7)
    bad = expected[:, 1] > 4.5
    assert report.n_done == (~bad).sum() and report.n_failed == bad.sum() > 0
    assert report.path == tmp_path / "base.h5"
    with SpectralGrid.open(report.path) as grid:
        assert grid.space == BASE_SPACE
        np.testing.assert_array_equal(grid.wavelength, base_wavelength(WINDOW, MARGIN, STEP))
        order = np.lexsort(grid.parameters.T)
        np.testing.assert_array_equal(
            grid.parameters[order], expected[~bad][np.lexsort(expected[~bad].T)]
        )
        depth = 1.0 - grid.read_flux()[:, 4]
        np.testing.assert_allclose(depth, grid.parameters[:, 0] / 2e4, rtol=1e-6)
        assert grid.provenance["sampling"] == {"method": "sobol", "seed": 7, "n_models": 12}
    failures = json.loads(failures_path(report.path).read_text())
    assert len(failures) == bad.sum()
    assert all("is not allowed here" in entry["error"] for entry in failures.values())


def test_a_resumed_build_never_recomputes_a_finished_model(tmp_path, in_process_scheduler):
    path = tmp_path / "base.h5"
    crashed_calls.clear()
    with pytest.raises(RuntimeError, match="power cut"):
        build(path, crashing, in_process_scheduler)
    partial = path.with_name("base.h5.partial")
    assert partial.exists() and not path.exists()
    with h5py.File(partial, "r") as handle:
        stored = {tuple(row) for row in handle["parameters"][: handle.attrs["n_committed"]]}
    assert 1 <= len(stored) <= 2
    calls.clear()
    report = build(path, stand_in, in_process_scheduler)
    assert not set(calls) & {(t, g) for t, g, _, _ in stored}
    assert len(calls) == 12 - len(stored)
    assert report.n_done + report.n_failed == 12 and report.path == path


def test_grid_build_without_synspec_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPECTRAL_CVAE_CACHE", str(tmp_path / "cache"))
    assert main(["grid", "build", "--n-models", "2", "--out", str(tmp_path / "g.h5")]) == 2
    assert "spectral-cvae synspec install" in capsys.readouterr().err


def test_resuming_with_other_draws_is_refused(tmp_path, in_process_scheduler):
    path = tmp_path / "base.h5"
    crashed_calls.clear()
    with pytest.raises(RuntimeError, match="power cut"):
        build(path, crashing, in_process_scheduler)
    with pytest.raises(SynthesisError, match="not among these draws .*seed 8"):
        build_base_grid(
            path,
            12,
            "sobol",
            8,
            window=WINDOW,
            margin=MARGIN,
            step=STEP,
            scheduler=in_process_scheduler,
            progress=False,
            synthesize=stand_in,
        )
