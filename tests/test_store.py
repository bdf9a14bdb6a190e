import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc

import h5py
import numpy as np
import pytest

from spectral_cvae.errors import GridFileError, GridInputError, OutOfDomainError, ParameterError
from spectral_cvae.grid import GridSplit, GridWriter, SpectralGrid
from spectral_cvae.parameters import PAPER_SPACE

from .helpers import random_parameters


def test_save_then_open_gives_back_the_same_spectra_parameters_and_provenance(
    tmp_path, small_grid_arrays
):
    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters, provenance={"code": "test"})
    path = grid.save(tmp_path / "grid.h5")
    with SpectralGrid.open(path) as stored:
        assert len(stored) == 50 and stored.n_pixels == wavelength.size
        np.testing.assert_array_equal(stored.wavelength, wavelength)
        np.testing.assert_array_equal(stored.read_flux(), flux)
        np.testing.assert_array_equal(stored.parameters, parameters)
        assert stored.space == PAPER_SPACE
        assert stored.provenance["code"] == "test"
        assert isinstance(stored.flux, h5py.Dataset)
    with h5py.File(path) as handle:
        assert handle["flux"].compression == "gzip" and handle["flux"].chunks[1] == wavelength.size
        assert handle["wavelength"].attrs["unit"] == "Angstrom"


def test_read_flux_returns_rows_in_the_order_asked_for(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    path = SpectralGrid(wavelength, flux, parameters).save(tmp_path / "grid.h5")
    with SpectralGrid.open(path) as grid:
        rows = [7, 3, 3, 49, 0]
        np.testing.assert_array_equal(grid.read_flux(rows), flux[rows])
        np.testing.assert_array_equal(grid.read_flux(slice(10, 20, 3)), flux[10:20:3])
        np.testing.assert_array_equal(grid.spectrum(-1), flux[-1])
        with pytest.raises(IndexError, match="grid has 50 spectra"):
            grid.spectrum(50)


def test_reading_one_spectrum_does_not_load_the_whole_file(tmp_path, rng):
    wavelength = np.linspace(5000.0, 5100.0, 4000)
    flux = rng.uniform(0.2, 1.0, (800, 4000)).astype(np.float32)  # 12.8 MB of flux
    with GridWriter(tmp_path / "big.h5", wavelength, compression=None) as writer:
        for start in range(0, 800, 100):
            writer.append(flux[start : start + 100], random_parameters(100, rng))
    tracemalloc.start()
    with SpectralGrid.open(tmp_path / "big.h5") as grid:
        one = grid.spectrum(400)
        rows = grid.read_flux(slice(100, 110))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(one, flux[400])
    np.testing.assert_array_equal(rows, flux[100:110])
    assert peak < 2_000_000, f"opening and reading 11 spectra allocated {peak} bytes"


def test_iter_batches_covers_the_requested_rows_once(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    path = SpectralGrid(wavelength, flux, parameters).save(tmp_path / "grid.h5")
    wanted = np.array([5, 6, 7, 30, 2, 44])
    with SpectralGrid.open(path) as grid:
        batches = list(grid.iter_batches(batch_size=4, indices=wanted))
    assert [len(rows) for rows, _, _ in batches] == [4, 2]
    np.testing.assert_array_equal(np.concatenate([f for _, _, f in batches]), flux[wanted])
    np.testing.assert_array_equal(np.concatenate([p for _, p, _ in batches]), parameters[wanted])


def test_writer_appends_in_chunks_and_only_finished_file_gets_the_final_name(
    tmp_path, small_grid_arrays
):
    wavelength, flux, parameters = small_grid_arrays
    path = tmp_path / "grid.h5"
    writer = GridWriter(path, wavelength, chunk_rows=8)
    writer.append(flux[:20], parameters[:20])
    writer.append(flux[20], parameters[20])
    assert writer.n_spectra == 21
    assert not path.exists() and writer.partial_path.exists()
    writer.append(flux[21:], parameters[21:])
    assert writer.finish() == path
    assert path.exists() and not writer.partial_path.exists()
    with SpectralGrid.open(path) as grid:
        np.testing.assert_array_equal(grid.read_flux(), flux)


def test_interrupted_build_resumes_where_it_stopped(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    path = tmp_path / "grid.h5"
    with pytest.raises(RuntimeError):
        with GridWriter(path, wavelength) as writer:
            writer.append(flux[:30], parameters[:30])
            raise RuntimeError("the build was interrupted")
    assert not path.exists()
    with GridWriter(path, wavelength) as writer:
        assert writer.n_spectra == 30
        np.testing.assert_array_equal(writer.parameters, parameters[:30])
        writer.append(flux[30:], parameters[30:])
    with SpectralGrid.open(path) as grid:
        np.testing.assert_array_equal(grid.read_flux(), flux)


KILLED_ROWS, KILLED_PIXELS, KILLED_BATCHES = 20, 3000, 5

# A build of KILLED_BATCHES batches that, given a moment, stops there once KILLED_COMMITTED
# batches are committed, says so and waits to be killed. The moments are reached by wrapping
# h5py inside this process only, so the writer under test is the one that ships.
KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    import h5py, numpy as np
    from spectral_cvae.grid import GridWriter

    path, moment, committed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ROWS, PIXELS, BATCHES = 20, 3000, 5

    def wait_to_be_killed():
        print("stopped", flush=True)
        time.sleep(600)

    def only_committed_batches_counted(handle):
        return int(handle.attrs["n_committed"]) == committed * ROWS

    if moment == "mid-batch":
        # The next batch's flux is written (not flushed), its parameters are not.
        write = h5py.Dataset.__setitem__

        def write_then_stop(self, key, value):
            if self.name == "/parameters" and only_committed_batches_counted(self.file):
                wait_to_be_killed()
            write(self, key, value)

        h5py.Dataset.__setitem__ = write_then_stop
    elif moment == "before-count":
        # The next batch's rows are written and flushed; the row count is not updated yet.
        flush = h5py.File.flush

        def flush_then_stop(self):
            flush(self)
            rows = self["flux"].shape[0]
            if rows > self.attrs["n_committed"] and only_committed_batches_counted(self):
                wait_to_be_killed()

        h5py.File.flush = flush_then_stop

    wavelength = np.linspace(5000.0, 5050.0, PIXELS)
    writer = GridWriter(path, wavelength)
    print("resumed at", writer.n_spectra, file=sys.stderr, flush=True)
    for batch in range(writer.n_spectra // ROWS, BATCHES):
        if moment == "between-batches" and batch == committed:
            wait_to_be_killed()
        flux = np.random.default_rng(batch).uniform(0.1, 1.0, (ROWS, PIXELS))
        parameters = np.tile([5800, 4.4, 2.0, 0.0, 1.0, 50000.0], (ROWS, 1))
        parameters[:, 0] = 4000 + batch
        writer.append(flux, parameters)
    writer.finish()
    print("finished", flush=True)
    """
)


def run_killed_build(path, moment: str, committed: int = 0) -> tuple[str, str, int]:
    """Run the build to the given moment and SIGKILL it there (or to its end: "none")."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(path), moment, str(committed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = process.stdout.readline().strip()
        if said == "stopped":
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=120)
    finally:
        process.kill()
        process.wait()
    return said, process.stderr.read(), process.returncode


@pytest.mark.parametrize("moment", ["between-batches", "mid-batch", "before-count"])
def test_a_build_killed_with_sigkill_resumes_from_its_last_committed_batch(tmp_path, moment):
    path = tmp_path / "grid.h5"
    said, errors, returncode = run_killed_build(path, moment, committed=3)
    assert said == "stopped" and returncode == -signal.SIGKILL, errors
    assert not path.exists()

    # The same command again: it continues after the 3 committed batches and finishes.
    said, errors, returncode = run_killed_build(path, "none")
    assert said == "finished" and returncode == 0, errors
    assert f"resumed at {3 * KILLED_ROWS}" in errors
    with SpectralGrid.open(path) as grid:
        assert len(grid) == KILLED_BATCHES * KILLED_ROWS
        rows = np.arange(len(grid))
        np.testing.assert_array_equal(grid.parameters[:, 0], 4000 + rows // KILLED_ROWS)
        expected = np.concatenate(
            [
                np.random.default_rng(batch).uniform(0.1, 1.0, (KILLED_ROWS, KILLED_PIXELS))
                for batch in range(KILLED_BATCHES)
            ]
        )
        np.testing.assert_array_equal(grid.read_flux(), expected.astype(np.float32))


def test_bad_spectrum_is_refused_without_losing_what_is_stored(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    path = tmp_path / "grid.h5"
    writer = GridWriter(path, wavelength)
    writer.append(flux[:10], parameters[:10])
    bad = flux[10:15].copy()
    bad[3, 17] = np.nan
    with pytest.raises(
        GridInputError, match=r"grid\.h5, spectrum 13: flux is not finite.*pixel 17 at 5000\.850 A"
    ):
        writer.append(bad, parameters[10:15])
    negative = flux[10:15].copy()
    negative[0, 2] = -0.1
    with pytest.raises(GridInputError, match=r"spectrum 10: flux is negative"):
        writer.append(negative, parameters[10:15])
    with pytest.raises(GridInputError, match=r"does not match the wavelength grid of 400 points"):
        writer.append(flux[10:15, :-1], parameters[10:15])
    assert writer.n_spectra == 10
    writer.append(flux[10:], parameters[10:])
    writer.finish()
    with SpectralGrid.open(path) as grid:
        np.testing.assert_array_equal(grid.read_flux(), flux)


def test_out_of_range_spectra_raise_by_default_or_are_dropped_and_counted(
    tmp_path, small_grid_arrays
):
    wavelength, flux, parameters = small_grid_arrays
    parameters = parameters.copy()
    parameters[[4, 9], 1] = 5.5
    with pytest.raises(
        OutOfDomainError, match=r"spectrum 4: logg = 5\.5 dex is outside \[2, 5\] \(2 of 50"
    ):
        SpectralGrid(wavelength, flux, parameters)
    with GridWriter(tmp_path / "grid.h5", wavelength, on_out_of_range="drop") as writer:
        checked = writer.append(flux, parameters)
        assert checked.dropped_rows.tolist() == [4, 9]
        assert writer.n_spectra == 48 and writer.n_dropped == 2
    with SpectralGrid.open(tmp_path / "grid.h5") as grid:
        assert grid.provenance["n_dropped_out_of_range"] == 2
        np.testing.assert_array_equal(grid.read_flux(), np.delete(flux, [4, 9], axis=0))


def test_missing_parameters_and_mismatched_rows_are_named(small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    columns = {name: parameters[:, k] for k, name in enumerate(PAPER_SPACE.names) if name != "mh"}
    with pytest.raises(ParameterError, match=r"my-grid: missing parameter\(s\) mh"):
        SpectralGrid(wavelength, flux, columns, source="my-grid")
    with pytest.raises(GridInputError, match="50 spectra but 49 parameter rows"):
        SpectralGrid(wavelength, flux, parameters[:49])


def test_non_monotonic_wavelength_is_refused_with_its_index(small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    swapped = wavelength.copy()
    swapped[[100, 101]] = swapped[[101, 100]]
    with pytest.raises(
        GridInputError,
        match=r"not strictly increasing at index 101 \(5005\.0500 A followed by 5005\.0000 A\)",
    ):
        SpectralGrid(swapped, flux, parameters)


def test_truncated_or_foreign_files_give_a_clear_error(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    path = SpectralGrid(wavelength, flux, parameters).save(tmp_path / "grid.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GridFileError, match=r"truncated\.h5: cannot be read as HDF5"):
        SpectralGrid.open(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(GridFileError, match="garbage.h5"):
        SpectralGrid.open(garbage)
    with h5py.File(tmp_path / "foreign.h5", "w") as handle:
        handle["flux"] = flux
    with pytest.raises(GridFileError, match="not a spectral-cvae grid file"):
        SpectralGrid.open(tmp_path / "foreign.h5")
    with pytest.raises(GridFileError, match="no such file"):
        SpectralGrid.open(tmp_path / "absent.h5")


def test_unfinished_build_is_pointed_out_when_opening_the_final_name(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    writer = GridWriter(tmp_path / "grid.h5", wavelength)
    writer.append(flux[:5], parameters[:5])
    writer.close()
    with pytest.raises(GridFileError, match=r"unfinished build is in grid\.h5\.partial"):
        SpectralGrid.open(tmp_path / "grid.h5")
    with pytest.raises(GridFileError, match="different wavelength grid"):
        GridWriter(tmp_path / "grid.h5", wavelength * 1.001)


def test_existing_file_is_not_overwritten_unless_asked(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters)
    path = grid.save(tmp_path / "grid.h5")
    with pytest.raises(FileExistsError, match="already exists"):
        grid.save(path)
    SpectralGrid(wavelength, flux[:3], parameters[:3]).save(path, overwrite=True)
    with SpectralGrid.open(path) as again:
        assert len(again) == 3


def test_split_is_reproducible_disjoint_and_complete(tmp_path):
    split = GridSplit.make(1000, test=100, validation=0.2, seed=7)
    assert split.sizes() == {"train": 700, "validation": 200, "test": 100}
    together = np.concatenate([split.train, split.validation, split.test])
    np.testing.assert_array_equal(np.sort(together), np.arange(1000))
    again = GridSplit.make(1000, test=100, validation=0.2, seed=7)
    np.testing.assert_array_equal(again.test, split.test)
    other = GridSplit.make(1000, test=100, validation=0.2, seed=8)
    assert not np.array_equal(other.test, split.test)
    loaded = GridSplit.load(split.save(tmp_path / "split.json"), n_spectra=1000)
    np.testing.assert_array_equal(loaded.validation, split.validation)
    with pytest.raises(GridInputError, match="drawn for 1000 spectra, but the grid has 999"):
        GridSplit.load(tmp_path / "split.json", n_spectra=999)
    with pytest.raises(GridInputError, match="leave nothing to train on"):
        GridSplit.make(10, test=5, validation=5)
    assert json.loads((tmp_path / "split.json").read_text())["seed"] == 7


def test_spectrum_exports_to_specutils_and_astropy_table_with_units(small_grid_arrays):
    from astropy import units as u

    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters)
    spectrum = grid.to_spectrum(3)
    assert spectrum.spectral_axis.unit == u.AA
    np.testing.assert_allclose(spectrum.spectral_axis.value, wavelength)
    np.testing.assert_allclose(spectrum.flux.value, flux[3])
    assert spectrum.meta["teff (K)"] == pytest.approx(parameters[3, 0])
    table = grid.to_table(3)
    assert table["wavelength"].unit == u.AA
    np.testing.assert_allclose(table["flux"].value, flux[3])
    assert grid.parameter_table()["vsini"].unit == u.km / u.s


def test_plot_draws_the_spectrum_and_names_its_parameters(small_grid_arrays):
    import matplotlib

    matplotlib.use("Agg")
    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters)
    ax = grid.plot(2)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), flux[2])
    assert "Teff = " in ax.get_title() and "K" in ax.get_title()
    assert ax.get_xlabel() == "wavelength [Angstrom]"


def test_subset_keeps_rows_and_info_reports_coverage(small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    grid = SpectralGrid(wavelength, flux, parameters)
    part = grid.subset([4, 1])
    np.testing.assert_array_equal(part.read_flux(), flux[[4, 1]])
    info = grid.info()
    assert info["n_spectra"] == 50 and info["n_pixels"] == 400
    assert info["parameters"]["teff"]["grid"][0] == pytest.approx(parameters[:, 0].min())
    assert info["wavelength_step_angstrom"][0] == pytest.approx(0.05)


def test_flux_beyond_float32_range_is_named_not_called_infinite(small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    huge = flux.astype(np.float64)
    huge[2, 5] = 1e39
    with pytest.raises(GridInputError, match="spectrum 2: flux is too large for float32"):
        SpectralGrid(wavelength, huge, parameters)


def test_a_file_locked_by_a_running_build_is_named_as_busy_not_corrupt(tmp_path, small_grid_arrays):
    wavelength, flux, parameters = small_grid_arrays
    writer = GridWriter(tmp_path / "grid.h5", wavelength)
    writer.append(flux[:3], parameters[:3])
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from spectral_cvae.grid import SpectralGrid; SpectralGrid.open(sys.argv[1])",
         str(writer.partial_path)], capture_output=True, text=True,
    )
    writer.close()
    assert "open for writing by another process" in probe.stderr
