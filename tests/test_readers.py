"""Readers of SYNSPEC, PHOENIX and generic table files, and the pseudo-continuum."""

from __future__ import annotations

import re
from contextlib import nullcontext

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from spectral_cvae.errors import GridFileError, GridInputError, OutOfDomainError
from spectral_cvae.grid import SpectralGrid, uniform_grid, vacuum_to_air
from spectral_cvae.grid.continuum import pseudo_continuum
from spectral_cvae.grid.readers import (
    read_grid,
    read_phoenix,
    read_phoenix_spectrum,
    read_synspec,
    read_synspec_spectrum,
    read_table,
)

NAMES = ("teff", "logg", "vsini", "mh", "vmic", "resolution")
POINTS = np.array(
    [
        [5800.0, 4.5, 0.0, 0.0, 1.0, 115000.0],
        [7000.0, 4.0, 10.0, -0.5, 2.0, 50000.0],
        [9000.0, 3.5, 20.0, 0.5, 3.0, 20000.0],
    ]
)


def gaussian_line(wavelength, centre, depth, sigma):
    """Normalized flux of one Gaussian absorption line."""
    return 1.0 - depth * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)


def planck(wavelength, teff):
    """Planck-like continuum (arbitrary scale) at wavelengths in Angstrom."""
    x = 1.438777e8 / (wavelength * teff)
    return 1e20 / wavelength**5 / np.expm1(x)


def equivalent_width(wavelength, flux):
    """Equivalent width (Angstrom) of a normalized spectrum, trapezoidal rule."""
    depth = 1.0 - flux
    return float(np.sum(0.5 * (depth[1:] + depth[:-1]) * np.diff(wavelength)))


def line_forest(wavelength, seed=0, n_lines=60, gaps=()):
    """Many narrow Gaussian lines, none within the ``gaps`` (start, stop) in Angstrom."""
    rng = np.random.default_rng(seed)
    flux = np.ones_like(wavelength)
    centres = rng.uniform(wavelength[0], wavelength[-1], n_lines)
    depths, sigmas = rng.uniform(0.1, 0.9, n_lines), rng.uniform(0.03, 0.1, n_lines)
    for centre, depth, sigma in zip(centres, depths, sigmas, strict=True):
        if any(start - 1.0 < centre < stop + 1.0 for start, stop in gaps):
            continue
        # Beyond 1 A (10 sigma) a line is exactly 1 to double precision: skip those pixels.
        near = slice(*np.searchsorted(wavelength, [centre - 1.0, centre + 1.0]))
        flux[near] *= gaussian_line(wavelength[near], centre, depth, sigma)
    return flux


# -- pseudo-continuum --------------------------------------------------------------------
def test_pseudo_continuum_recovers_planck_slope_in_line_free_regions():
    wavelength = np.arange(4400.0, 5450.0, 0.02)
    gaps = [(4500.0, 4503.0), (4700.0, 4704.0), (4980.0, 4983.0), (5300.0, 5303.0)]
    lines = line_forest(wavelength, n_lines=2500, gaps=gaps)
    lines *= gaussian_line(wavelength, 4861.3, 0.4, 6.0)  # a Balmer-like broad line
    continuum = planck(wavelength, 6500.0)

    estimate = pseudo_continuum(wavelength, continuum * lines)

    free = np.zeros(wavelength.size, dtype=bool)
    for start, stop in gaps:
        free |= (wavelength >= start) & (wavelength <= stop)
    assert np.all(lines[free] > 0.9999)
    np.testing.assert_allclose(estimate[free] / continuum[free], 1.0, atol=2e-3)


def test_pseudo_continuum_follows_peaks_where_no_window_reaches_the_continuum():
    wavelength = np.arange(5000.0, 5100.0, 0.02)
    blanket = 0.8 * line_forest(wavelength, seed=3, n_lines=100)  # no pixel reaches 1
    estimate = pseudo_continuum(wavelength, blanket)
    assert np.all(estimate < 0.81) and np.median(estimate) > 0.78


def test_pseudo_continuum_names_source_of_bad_flux():
    wavelength = np.linspace(5000.0, 5010.0, 50)
    flux = np.ones(50)
    flux[7] = np.nan
    with pytest.raises(GridInputError, match="lte-test.fits: flux must be finite"):
        pseudo_continuum(wavelength, flux, source="lte-test.fits")


# -- SYNSPEC -----------------------------------------------------------------------------
def fortran(value):
    """A number as Fortran writes it, with a D exponent."""
    return f"{value:.8E}".replace("E", "D")


def write_columns(path, wavelength, values, repeat_at=()):
    """Two-column SYNSPEC file; rows in ``repeat_at`` are written twice, the copy altered."""
    lines = []
    for i, (w, v) in enumerate(zip(wavelength, values, strict=True)):
        lines.append(f"{w:12.4f} {fortran(v)}")
        if i in repeat_at:
            lines.append(f"{w:12.4f} {fortran(v * 0.5)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def synspec_spectrum(wavelength, centre=5000.0, depth=0.6):
    return gaussian_line(wavelength, centre, depth, 0.05)


def coarse_continuum(wavelength):
    return 2.0e7 * (1.0 + 1e-4 * (wavelength - 5000.0))


@pytest.fixture
def synspec_files(tmp_path):
    """fort.7 / fort.17 files of two spectra, with segment joins, in ``tmp_path/models``."""
    folder = tmp_path / "models"
    folder.mkdir()
    native = np.round(np.arange(4990.0, 5010.0 + 1e-9, 0.01), 4)
    coarse = np.arange(4985.0, 5016.0, 1.0)
    for k, centre in enumerate((5000.0, 5002.0)):
        flux = coarse_continuum(native) * synspec_spectrum(native, centre)
        write_columns(folder / f"s{k}.7", native, flux, repeat_at=(500, 1200))
        write_columns(folder / f"s{k}.17", coarse, coarse_continuum(coarse))
    return folder


def write_index(path, rows, columns=("flux_file", "continuum_file", "teff", "logg", "mh", "vmic")):
    table = Table(rows=rows, names=columns)
    table.write(path, format="ascii.csv")
    return path


def test_synspec_reader_divides_by_interpolated_continuum(synspec_files):
    wavelength, flux = read_synspec_spectrum(synspec_files / "s0.7", synspec_files / "s0.17")
    np.testing.assert_allclose(flux, synspec_spectrum(wavelength), rtol=1e-7, atol=1e-8)
    assert flux[np.argmin(np.abs(wavelength - 5000.0))] == pytest.approx(0.4, abs=1e-7)


def test_synspec_reader_keeps_first_of_repeated_wavelengths_and_reads_d_exponents(tmp_path):
    path = tmp_path / "fort.7"
    path.write_text(
        "  4999.0000  1.00000000D+00\n"
        "  4999.5000  5.0D-01\n"
        "  4999.5000  9.9D-01\n"  # segment join: the repeat is dropped
        "\n"
        "  5000.0000  2.5d-1 extra column\n"
    )
    wavelength, flux = read_synspec_spectrum(path)
    np.testing.assert_array_equal(wavelength, [4999.0, 4999.5, 5000.0])
    np.testing.assert_array_equal(flux, [1.0, 0.5, 0.25])


@pytest.mark.parametrize(
    ("flux_text", "continuum_text", "error", "message"),
    [
        ("5000 1\n5001 1D0 \n5002 x.5\n", None, GridInputError, r"fort\.7, line 3: cannot read"),
        ("5000 1\n\n5001\n", None, GridInputError, r"fort\.7, line 3: expected 2 columns"),
        ("5000 1\n5001 NaN\n", None, GridInputError, r"fort\.7, line 2: flux is nan"),
        ("5000 1\n5001 -1D-3\n", None, GridInputError, r"fort\.7, line 2: flux is -0\.001"),
        ("5000 1\n4999 1\n", None, GridInputError, r"fort\.7, line 2: wavelength decreases"),
        ("5000 1\n", None, GridInputError, r"fort\.7: holds 1 data line"),
        ("5000 1\n5001 1\n", "4990 1\n5000.5 1\n", GridInputError,
         r"fort\.17: the continuum covers 4990\.000-5000\.500 A.*fort\.7"),
        ("5000 1\n5001 1\n", "4990 1\n5000 0D0\n5010 1\n", GridInputError,
         r"fort\.17, line 2: continuum flux is 0\.0; expected a finite value > 0"),
        ("5000 1\n5001 1\n", "4990 1\n5010 -2\n", GridInputError,
         r"fort\.17, line 2: continuum flux is -2\.0"),
    ],
)
def test_synspec_reader_rejects_bad_files_naming_file_and_line(
    tmp_path, flux_text, continuum_text, error, message
):
    flux_file = tmp_path / "fort.7"
    flux_file.write_text(flux_text)
    continuum_file = None
    if continuum_text is not None:
        continuum_file = tmp_path / "fort.17"
        continuum_file.write_text(continuum_text)
    with pytest.raises(error, match=message):
        read_synspec_spectrum(flux_file, continuum_file)


def test_synspec_reader_names_missing_file(tmp_path):
    with pytest.raises(GridFileError, match=r"nowhere\.7: no such SYNSPEC file"):
        read_synspec_spectrum(tmp_path / "nowhere.7")


@pytest.fixture
def synspec_index(synspec_files):
    return write_index(
        synspec_files / "index.csv",
        [("s0.7", "s0.17", 5800.0, 4.5, 0.0, 1.0), ("s1.7", "s1.17", 7000.0, 4.0, -0.5, 2.0)],
    )


TARGET = uniform_grid(4995.0, 5005.0, 0.02)


def test_read_synspec_builds_grid_on_target_wavelengths_with_parameters(
    synspec_index, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # file paths are relative to the CSV, not the working dir
    grid = read_synspec(synspec_index, TARGET, vsini=0.0, resolution=115000.0)
    np.testing.assert_array_equal(grid.wavelength, TARGET)
    np.testing.assert_allclose(
        grid.parameters,
        [[5800.0, 4.5, 0.0, 0.0, 1.0, 115000.0], [7000.0, 4.0, 0.0, -0.5, 2.0, 115000.0]],
    )
    # Away from the line the normalized continuum is 1; the line sits where it was put.
    far = np.abs(TARGET - 5000.0) > 1.0
    np.testing.assert_allclose(grid.flux[0][far], 1.0, atol=1e-5)
    assert TARGET[np.argmin(grid.flux[0])] == pytest.approx(5000.0, abs=0.011)
    assert TARGET[np.argmin(grid.flux[1])] == pytest.approx(5002.0, abs=0.011)
    assert grid.provenance["reader"] == "synspec"


def test_read_synspec_broadening_makes_lines_shallower_and_keeps_equivalent_width(
    synspec_index,
):
    sharp = read_synspec(synspec_index, TARGET, vsini=0.0, resolution=115000.0)
    rotated = read_synspec(synspec_index, TARGET, vsini=30.0, resolution=20000.0)
    np.testing.assert_allclose(rotated.parameters[:, 2], 30.0)
    np.testing.assert_allclose(rotated.parameters[:, 5], 20000.0)
    assert 1 - rotated.flux[0].min() < 0.5 * (1 - sharp.flux[0].min())
    expected = 0.6 * 0.05 * np.sqrt(2 * np.pi)
    assert equivalent_width(TARGET, sharp.flux[0]) == pytest.approx(expected, rel=5e-3)
    assert equivalent_width(TARGET, rotated.flux[0]) == pytest.approx(expected, rel=5e-3)


def test_read_synspec_columns_override_broadening_keywords(synspec_files):
    index = write_index(
        synspec_files / "index.csv",
        [("s0.7", "s0.17", 5800.0, 4.5, 0.0, 1.0, 40.0, 30000.0)],
        columns=("flux_file", "continuum_file", "teff", "logg", "mh", "vmic", "VSINI",
                 "Resolution"),
    )
    grid = read_synspec(index, TARGET, vsini=5.0, resolution=100000.0)
    np.testing.assert_allclose(grid.parameters[0, [2, 5]], [40.0, 30000.0])
    plain = write_index(synspec_files / "plain.csv", [("s0.7", "s0.17", 5800.0, 4.5, 0.0, 1.0)])
    keyword = read_synspec(plain, TARGET, vsini=5.0, resolution=100000.0)
    np.testing.assert_allclose(keyword.parameters[0, [2, 5]], [5.0, 100000.0])
    # The 40 km/s column, not the 5 km/s keyword, shaped the stored spectrum.
    assert grid.flux[0].min() > keyword.flux[0].min() + 0.2


def test_read_synspec_accepts_table_and_already_normalized_files(synspec_files, monkeypatch):
    normalized = np.round(np.arange(4990.0, 5010.0 + 1e-9, 0.01), 4)
    write_columns(synspec_files / "norm.7", normalized, synspec_spectrum(normalized, 5003.0))
    monkeypatch.chdir(synspec_files)
    table = Table(
        {"flux_file": ["norm.7"], "teff": [6000.0], "logg": [4.0], "mh": [0.1], "vmic": [1.5]}
    )
    grid = read_synspec(table, TARGET)
    assert grid.flux[0].min() == pytest.approx(0.4, abs=0.05)
    assert TARGET[np.argmin(grid.flux[0])] == pytest.approx(5003.0, abs=0.011)
    np.testing.assert_allclose(grid.parameters[0], [6000.0, 4.0, 0.0, 0.1, 1.5, 115000.0])


def test_read_synspec_names_missing_parameter_column_and_csv(synspec_files):
    index = write_index(
        synspec_files / "index.csv", [("s0.7", "s0.17", 5800.0, 4.5, 0.0)],
        columns=("flux_file", "continuum_file", "teff", "logg", "mh"),
    )
    with pytest.raises(GridFileError, match=r"index\.csv: no column for parameter 'vmic'"):
        read_synspec(index, TARGET)


def test_read_synspec_names_missing_flux_file_column(synspec_files):
    index = write_index(synspec_files / "index.csv", [(5800.0, 4.5)], columns=("teff", "logg"))
    with pytest.raises(GridFileError, match=r"index\.csv: no 'flux_file' column"):
        read_synspec(index, TARGET)


def test_read_synspec_names_missing_index(tmp_path):
    with pytest.raises(GridFileError, match=r"absent\.csv: no such SYNSPEC index file"):
        read_synspec(tmp_path / "absent.csv", TARGET)


def test_read_synspec_names_row_of_empty_parameter(synspec_files):
    (synspec_files / "index.csv").write_text(
        "flux_file,continuum_file,teff,logg,mh,vmic\n"
        "s0.7,s0.17,5800,4.5,0.0,1.0\n"
        "s1.7,s1.17,7000,,0.0,1.0\n"
    )
    with pytest.raises(GridInputError, match=r"index\.csv, spectrum 1: parameter 'logg' is empty"):
        read_synspec(synspec_files / "index.csv", TARGET)


def test_read_synspec_names_row_of_non_numeric_parameter(synspec_files):
    (synspec_files / "index.csv").write_text(
        "flux_file,teff,logg,mh,vmic\ns0.7,5800,4.5,solar,1.0\n"
    )
    with pytest.raises(GridInputError, match=r"spectrum 0: parameter 'mh' is 'solar'"):
        read_synspec(synspec_files / "index.csv", TARGET)


def test_read_synspec_out_of_range_row_raises_before_reading_or_is_dropped(synspec_files):
    index = write_index(
        synspec_files / "index.csv",
        [("s0.7", "s0.17", 5800.0, 4.5, 0.0, 1.0), ("missing.7", "", 20000.0, 4.0, 0.0, 1.0)],
    )
    with pytest.raises(OutOfDomainError, match=r"index\.csv, spectrum 1: teff = 20000 K"):
        read_synspec(index, TARGET)
    grid = read_synspec(index, TARGET, on_out_of_range="drop")
    assert len(grid) == 1 and grid.parameters[0, 0] == 5800.0
    assert grid.provenance["n_dropped_out_of_range"] == 1


def test_read_synspec_names_row_and_file_that_do_not_cover_target(synspec_index):
    wide = uniform_grid(4980.0, 5005.0, 0.05)
    with pytest.raises(GridInputError, match=r"index\.csv, spectrum 0: .*s0\.7: spectrum covers"):
        read_synspec(synspec_index, wide)


def test_read_synspec_names_missing_spectrum_file(synspec_files):
    index = write_index(
        synspec_files / "index.csv", [("gone.7", "s0.17", 5800.0, 4.5, 0.0, 1.0)]
    )
    with pytest.raises(GridFileError, match=r"gone\.7: no such SYNSPEC file"):
        read_synspec(index, TARGET)


# -- PHOENIX -----------------------------------------------------------------------------
PHOENIX_VACUUM = np.arange(4900.0, 5100.0, 0.01)
PHOENIX_LINE = 5001.4  # vacuum Angstrom
PHOENIX_TARGET = uniform_grid(4960.0, 5040.0, 0.02)  # air Angstrom


def phoenix_flux(teff, depth=0.7):
    lines = line_forest(PHOENIX_VACUUM, seed=int(teff), n_lines=40, gaps=[(4995.0, 5008.0)])
    lines *= gaussian_line(PHOENIX_VACUUM, PHOENIX_LINE, depth, 0.05)
    return (planck(PHOENIX_VACUUM, teff) * lines).astype(np.float32), lines


def write_phoenix(folder, teff, logg, mh, vmic=1.0, flux=None, drop=()):
    header = fits.Header()
    header["PHXTEFF"], header["PHXLOGG"], header["PHXM_H"] = teff, logg, mh
    if vmic is not None:
        header["PHXXI_L"] = vmic
    for keyword in drop:
        del header[keyword]
    data = phoenix_flux(teff)[0] if flux is None else flux
    name = f"lte{teff:05.0f}-{logg:.2f}{mh:+.1f}.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits"
    fits.PrimaryHDU(data, header=header).writeto(folder / name)
    return folder / name


@pytest.fixture
def phoenix_folder(tmp_path):
    folder = tmp_path / "phoenix"
    folder.mkdir()
    fits.PrimaryHDU(PHOENIX_VACUUM).writeto(folder / "WAVE_PHOENIX-ACES-AGSS-COND-2011.fits")
    write_phoenix(folder, 5800, 4.5, 0.0, vmic=1.2)
    write_phoenix(folder, 6500, 4.0, -0.5, vmic=1.8)
    return folder


def wave_file(folder):
    return folder / "WAVE_PHOENIX-ACES-AGSS-COND-2011.fits"


def test_phoenix_spectrum_reader_converts_vacuum_to_air_and_reads_header(phoenix_folder):
    flux_file = sorted(phoenix_folder.glob("lte05800*"))[0]
    air, flux, parameters = read_phoenix_spectrum(flux_file, wave_file(phoenix_folder))
    vacuum, _, _ = read_phoenix_spectrum(flux_file, wave_file(phoenix_folder), air=False)
    np.testing.assert_array_equal(vacuum, PHOENIX_VACUUM)
    shift = np.interp(5000.0, vacuum, vacuum - air)
    assert shift == pytest.approx(1.394, abs=0.005)
    np.testing.assert_allclose(flux, phoenix_flux(5800)[0], rtol=1e-6)
    assert parameters == {"teff": 5800.0, "logg": 4.5, "mh": 0.0, "vmic": 1.2}


def test_phoenix_spectrum_reader_reads_only_the_window(phoenix_folder):
    flux_file = sorted(phoenix_folder.glob("lte05800*"))[0]
    wavelength, flux, _ = read_phoenix_spectrum(
        flux_file, wave_file(phoenix_folder), window=(5000.0, 5010.0)
    )
    assert wavelength[0] <= 5000.0 < wavelength[1] and wavelength[-2] < 5010.0 <= wavelength[-1]
    assert flux.size == wavelength.size < 1100
    full_air = vacuum_to_air(PHOENIX_VACUUM)
    start = int(np.searchsorted(full_air, wavelength[0]))
    np.testing.assert_allclose(flux, phoenix_flux(5800)[0][start : start + flux.size], rtol=1e-6)


def test_read_phoenix_normalizes_broadens_and_samples_in_air(phoenix_folder):
    files = sorted(phoenix_folder.glob("lte*.fits"))
    grid = read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET, vsini=0.0)
    np.testing.assert_array_equal(grid.wavelength, PHOENIX_TARGET)
    np.testing.assert_allclose(
        grid.parameters,
        [[5800.0, 4.5, 0.0, 0.0, 1.2, 115000.0], [6500.0, 4.0, 0.0, -0.5, 1.8, 115000.0]],
    )
    # The line-free gap around the line is at continuum level after normalization.
    line_air = vacuum_to_air(PHOENIX_LINE)
    gap = (PHOENIX_TARGET > vacuum_to_air(4996.0)) & (np.abs(PHOENIX_TARGET - line_air) > 0.6)
    gap &= PHOENIX_TARGET < vacuum_to_air(5007.0)
    np.testing.assert_allclose(grid.flux[:, gap], 1.0, atol=2e-3)
    # The line, put at a vacuum wavelength, appears at the air wavelength.
    near = np.flatnonzero(np.abs(PHOENIX_TARGET - line_air) < 1.0)
    for spectrum in grid.flux:
        assert PHOENIX_TARGET[near[np.argmin(spectrum[near])]] == pytest.approx(line_air, abs=0.011)
        assert spectrum[near].min() == pytest.approx(0.3, abs=0.05)


def test_read_phoenix_broadening_keeps_equivalent_width(phoenix_folder):
    files = sorted(phoenix_folder.glob("lte05800*.fits"))
    line_air = vacuum_to_air(PHOENIX_LINE)
    near = np.abs(PHOENIX_TARGET - line_air) < 2.5
    sharp = read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET)
    rotated = read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET, vsini=25.0)
    assert rotated.parameters[0, 2] == 25.0
    sharp_depth, rotated_depth = 1 - sharp.flux[0, near].min(), 1 - rotated.flux[0, near].min()
    assert sharp_depth > 0.6 and rotated_depth < 0.5 * sharp_depth
    ew_sharp = equivalent_width(PHOENIX_TARGET[near], sharp.flux[0, near])
    ew_rotated = equivalent_width(PHOENIX_TARGET[near], rotated.flux[0, near])
    assert ew_sharp == pytest.approx(0.7 * 0.05 * np.sqrt(2 * np.pi), rel=0.02)
    assert ew_rotated == pytest.approx(ew_sharp, rel=0.01)


def test_read_phoenix_vmic_keyword_overrides_header(phoenix_folder):
    files = sorted(phoenix_folder.glob("lte*.fits"))
    grid = read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET, vmic=2.5)
    np.testing.assert_allclose(grid.parameters[:, 4], 2.5)


def test_read_phoenix_without_vmic_names_parameter_and_file(tmp_path, phoenix_folder):
    path = write_phoenix(phoenix_folder, 6000, 4.0, 0.0, vmic=None)
    with pytest.raises(GridFileError, match=rf"{re.escape(path.name)}: no value for parameter "
                       r"'vmic': header keyword PHXXI_L is missing"):
        read_phoenix([path], wave_file(phoenix_folder), PHOENIX_TARGET)
    grid = read_phoenix([path], wave_file(phoenix_folder), PHOENIX_TARGET, vmic=1.0)
    assert grid.parameters[0, 4] == 1.0


def test_phoenix_reader_names_missing_header_keyword_and_file(phoenix_folder):
    path = write_phoenix(phoenix_folder, 6100, 4.0, 0.0, drop=("PHXLOGG",))
    with pytest.raises(GridFileError, match=rf"{re.escape(path.name)}: header keyword PHXLOGG"):
        read_phoenix_spectrum(path, wave_file(phoenix_folder))
    with pytest.raises(GridFileError, match="header keyword PHXLOGG"):
        read_phoenix([path], wave_file(phoenix_folder), PHOENIX_TARGET)


def test_phoenix_reader_names_both_files_when_lengths_differ(phoenix_folder):
    path = write_phoenix(phoenix_folder, 6200, 4.0, 0.0, flux=np.ones(100, dtype=np.float32))
    with pytest.raises(
        GridFileError, match=rf"{re.escape(path.name)} holds 100 flux values but .*WAVE_PHOENIX"
    ):
        read_phoenix_spectrum(path, wave_file(phoenix_folder))


def test_phoenix_reader_names_file_with_negative_flux(phoenix_folder):
    flux = phoenix_flux(6300)[0]
    flux[9000] = -1.0
    path = write_phoenix(phoenix_folder, 6300, 4.0, 0.0, flux=flux)
    with pytest.raises(GridInputError, match=rf"{re.escape(path.name)}: flux is -1\.0 at"):
        read_phoenix([path], wave_file(phoenix_folder), PHOENIX_TARGET)


def test_phoenix_reader_names_missing_and_corrupt_files(phoenix_folder):
    with pytest.raises(GridFileError, match=r"lte-absent\.fits: no such PHOENIX flux file"):
        read_phoenix_spectrum(phoenix_folder / "lte-absent.fits", wave_file(phoenix_folder))
    corrupt = phoenix_folder / "lte09999-corrupt.fits"
    corrupt.write_bytes(b"not a FITS file" * 300)
    with pytest.raises(GridFileError, match=r"lte09999-corrupt\.fits: cannot be read as FITS"):
        read_phoenix([corrupt], wave_file(phoenix_folder), PHOENIX_TARGET)
    good = sorted(phoenix_folder.glob("lte05800*"))[0].read_bytes()
    truncated = phoenix_folder / "lte09998-truncated.fits"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        with pytest.raises(GridFileError, match=r"lte09998-truncated\.fits: the file is trunc"):
            read_phoenix([truncated], wave_file(phoenix_folder), PHOENIX_TARGET)


def test_read_phoenix_names_wavelength_file_that_does_not_cover_target(phoenix_folder):
    files = sorted(phoenix_folder.glob("lte*.fits"))
    with pytest.raises(GridInputError, match=r"WAVE_PHOENIX.*cover .* not the requested 5050"):
        read_phoenix(files, wave_file(phoenix_folder), uniform_grid(5050.0, 5200.0, 0.05))


def test_read_phoenix_drops_or_rejects_out_of_range_headers(phoenix_folder):
    cool = write_phoenix(phoenix_folder, 3000, 4.5, 0.0)
    files = sorted(phoenix_folder.glob("lte*.fits"))
    with pytest.raises(OutOfDomainError, match=rf"{re.escape(cool.name)}.*teff = 3000 K"):
        read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET)
    grid = read_phoenix(files, wave_file(phoenix_folder), PHOENIX_TARGET, on_out_of_range="drop")
    np.testing.assert_array_equal(grid.parameters[:, 0], [5800.0, 6500.0])
    assert grid.provenance["n_dropped_out_of_range"] == 1


def test_read_grid_finds_phoenix_files_and_wavelength_file_in_folder(phoenix_folder):
    grid = read_grid(phoenix_folder, wavelength=PHOENIX_TARGET, vsini=5.0)
    np.testing.assert_array_equal(grid.parameters[:, 0], [5800.0, 6500.0])
    np.testing.assert_allclose(grid.parameters[:, 2], 5.0)
    one = read_grid(str(phoenix_folder / "lte065*.fits"), wavelength=PHOENIX_TARGET)
    np.testing.assert_array_equal(one.parameters[:, 0], [6500.0])


def test_read_grid_names_missing_phoenix_files(tmp_path, phoenix_folder):
    with pytest.raises(GridFileError, match=r"no PHOENIX flux files"):
        read_grid(tmp_path / "empty*.fits", wavelength=PHOENIX_TARGET)
    wave_file(phoenix_folder).unlink()
    with pytest.raises(GridFileError, match=r"phoenix: expected one WAVE_PHOENIX.*found none"):
        read_grid(phoenix_folder, wavelength=PHOENIX_TARGET)


# -- generic tables ----------------------------------------------------------------------
TABLE_WAVELENGTH = np.linspace(5000.0, 5010.0, 201)


def table_flux():
    """Three spectra: a linear ramp, a line, a constant."""
    return np.stack(
        [
            0.5 + 0.04 * (TABLE_WAVELENGTH - 5000.0),
            gaussian_line(TABLE_WAVELENGTH, 5005.0, 0.5, 0.3),
            np.full(TABLE_WAVELENGTH.size, 0.9),
        ]
    )


def write_hdf5(path, matrix=False, flux=None, wavelength=None, skip=(), unit=None):
    with h5py.File(path, "w") as handle:
        wave = handle.create_dataset(
            "wavelength", data=TABLE_WAVELENGTH if wavelength is None else wavelength
        )
        if unit:
            wave.attrs["unit"] = unit
        handle.create_dataset("flux", data=table_flux() if flux is None else flux, chunks=True)
        if matrix:
            order = [5, 0, 3, 1, 4, 2]  # stored in another order than the space's
            parameters = handle.create_dataset("parameters", data=POINTS[:, order])
            parameters.attrs["names"] = [NAMES[k] for k in order]
        else:
            for k, name in enumerate(NAMES):
                if name not in skip:
                    handle.create_dataset(name, data=POINTS[:, k])
    return path


def write_fits(path, wavelength_hdu="image", unit=None, flux=None, skip=(), spectra_name="SPECTRA"):
    flux = table_flux() if flux is None else flux
    columns = [fits.Column("FLUX", format=f"{flux.shape[1]}E", array=flux)]
    columns += [
        fits.Column(name.upper() if k % 2 else name, format="D", array=POINTS[:, k])
        for k, name in enumerate(NAMES)
        if name not in skip
    ]
    spectra = fits.BinTableHDU.from_columns(columns, name=spectra_name)
    wave = TABLE_WAVELENGTH if unit is None else (TABLE_WAVELENGTH * u.AA).to_value(unit)
    hdus = [fits.PrimaryHDU(), spectra]
    if wavelength_hdu == "image":
        image = fits.ImageHDU(wave, name="WAVELENGTH")
        if unit:
            image.header["BUNIT"] = unit
        hdus.append(image)
    elif wavelength_hdu == "table":
        column = fits.Column("wavelength", format="D", array=wave, unit=unit)
        hdus.append(fits.BinTableHDU.from_columns([column], name="WAVELENGTH"))
    fits.HDUList(hdus).writeto(path)
    return path


def write_npz(path, matrix=False, **overrides):
    arrays = {"wavelength": TABLE_WAVELENGTH, "flux": table_flux()}
    if matrix:
        arrays["parameters"], arrays["names"] = POINTS[:, ::-1], np.array(NAMES[::-1])
    else:
        arrays.update({name: POINTS[:, k] for k, name in enumerate(NAMES)})
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: write_hdf5(d / "grid.h5"),
        lambda d: write_hdf5(d / "grid.hdf5", matrix=True),
        lambda d: write_fits(d / "grid.fits"),
        lambda d: write_fits(d / "grid.fit", wavelength_hdu="table"),
        lambda d: write_fits(d / "nm.fits", unit="nm"),
        lambda d: write_fits(d / "um.fits", wavelength_hdu="table", unit="um"),
        lambda d: write_npz(d / "grid.npz"),
        lambda d: write_npz(d / "matrix.npz", matrix=True),
    ],
    ids=["hdf5", "hdf5-matrix", "fits", "fits-table-wavelength", "fits-nm", "fits-um", "npz",
         "npz-matrix"],
)
def test_read_table_keeps_file_grid_flux_and_parameters(tmp_path, make):
    grid = read_table(make(tmp_path))
    np.testing.assert_allclose(grid.wavelength, TABLE_WAVELENGTH, rtol=1e-12)
    np.testing.assert_allclose(grid.flux, table_flux(), rtol=1e-6)
    np.testing.assert_array_equal(grid.parameters, POINTS)
    assert grid.provenance["resampled"] is False


@pytest.mark.parametrize("suffix", ["h5", "fits", "npz"])
def test_read_table_resamples_onto_target(tmp_path, suffix):
    writer = {"h5": write_hdf5, "fits": write_fits, "npz": write_npz}[suffix]
    path = writer(tmp_path / f"grid.{suffix}")
    target = uniform_grid(5001.0, 5009.0, 0.1)
    grid = read_table(path, target)
    np.testing.assert_array_equal(grid.wavelength, target)
    # A linear ramp is reproduced exactly by either resampling.
    np.testing.assert_allclose(grid.flux[0], 0.5 + 0.04 * (target - 5000.0), rtol=1e-6)
    np.testing.assert_allclose(grid.flux[2], 0.9, rtol=1e-6)
    sampled = read_table(path, target, conserve_flux=False)
    np.testing.assert_allclose(
        sampled.flux[1], np.interp(target, TABLE_WAVELENGTH, table_flux()[1]), rtol=1e-6
    )
    # Averaging over 0.1 A pixels makes the line core shallower than point sampling.
    assert grid.flux[1].min() > sampled.flux[1].min()


def test_read_table_reads_a_saved_spectral_grid(tmp_path):
    grid = SpectralGrid(TABLE_WAVELENGTH, table_flux(), POINTS)
    path = grid.save(tmp_path / "saved.h5")
    again = read_table(path)
    np.testing.assert_array_equal(again.flux, grid.flux)
    np.testing.assert_array_equal(again.parameters, POINTS)


def test_read_table_reads_hdf5_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr("spectral_cvae.grid.readers.table.BATCH_BYTES", 8 * 201 * 2)
    grid = read_table(write_hdf5(tmp_path / "grid.h5"), uniform_grid(5001.0, 5009.0, 0.5))
    assert grid.flux.shape == (3, 16)
    np.testing.assert_allclose(grid.flux[2], 0.9, rtol=1e-6)


def touch(path):
    path.write_text("x")
    return path


BAD_FLUX = table_flux()
BAD_FLUX[1, 40] = np.nan
NEGATIVE_FLUX = table_flux()
NEGATIVE_FLUX[2, 10] = -0.5


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda d: write_hdf5(d / "g.h5", skip=("vmic",)), GridFileError,
         r"g\.h5: no dataset 'vmic' for parameter 'vmic'"),
        (lambda d: write_hdf5(d / "g.h5", flux=table_flux()[:, :-1]), GridInputError,
         r"g\.h5: flux of shape \(3, 200\) does not match the 201 wavelengths"),
        (lambda d: write_hdf5(d / "g.h5", wavelength=TABLE_WAVELENGTH[::-1]), GridInputError,
         r"g\.h5: wavelength is not strictly increasing at index 1"),
        (lambda d: write_hdf5(d / "g.h5", flux=BAD_FLUX), GridInputError,
         r"g\.h5, spectrum 1: flux is not finite in 1 pixel\(s\), first pixel 40"),
        (lambda d: write_hdf5(d / "g.h5", unit="kg"), GridInputError,
         r"g\.h5: wavelength unit 'kg' is not a length unit"),
        (lambda d: write_fits(d / "g.fits", skip=("logg",)), GridFileError,
         r"g\.fits: HDU 'SPECTRA' has no column 'LOGG' for parameter 'logg'"),
        (lambda d: write_fits(d / "g.fits", spectra_name="OTHER"), GridFileError,
         r"g\.fits: no HDU named 'SPECTRA'"),
        (lambda d: write_fits(d / "g.fits", wavelength_hdu=None), GridFileError,
         r"g\.fits: no HDU named 'WAVELENGTH'"),
        (lambda d: write_fits(d / "g.fits", flux=NEGATIVE_FLUX), GridInputError,
         r"g\.fits, spectrum 2: flux is negative in 1 pixel\(s\), first pixel 10"),
        (lambda d: write_npz(d / "g.npz", flux=None), GridFileError, r"g\.npz: no array 'flux'"),
        (lambda d: write_npz(d / "g.npz", teff=POINTS[:2, 0]), GridInputError,
         r"g\.npz: parameter 'teff' has shape \(2,\), but there are 3 spectra"),
        (lambda d: write_npz(d / "g.npz", matrix=True, names=np.array(NAMES[:5])),
         GridInputError, r"g\.npz: array 'parameters' has shape \(3, 6\) but 5 names"),
        (lambda d: write_npz(d / "g.npz", matrix=True, names=np.array(["a", "b", "c", "d", "e",
                                                                        "f"])),
         GridFileError, r"g\.npz: no array for parameter 'teff' \(found: a, b"),
        (lambda d: touch(d / "g.txt"), GridFileError,
         r"g\.txt: unknown grid file suffix '\.txt'"),
        (lambda d: d / "absent.h5", GridFileError, r"absent\.h5: no such file"),
    ],
    ids=["hdf5-missing-parameter", "hdf5-shape", "hdf5-decreasing", "hdf5-nan", "hdf5-unit",
         "fits-missing-column", "fits-no-spectra", "fits-no-wavelength", "fits-negative",
         "npz-missing-flux", "npz-parameter-length", "npz-names-count", "npz-names-missing",
         "suffix", "missing-file"],
)
def test_read_table_rejects_bad_files_naming_what_is_wrong(tmp_path, make, error, message):
    path = make(tmp_path)
    with pytest.raises(error, match=message):
        read_table(path)


def test_read_table_names_hdf5_parameters_without_names(tmp_path):
    path = write_hdf5(tmp_path / "g.h5", matrix=True)
    with h5py.File(path, "a") as handle:
        del handle["parameters"].attrs["names"]
    with pytest.raises(GridFileError, match=r"g\.h5: dataset 'parameters' has no attribute"):
        read_table(path)


def test_read_table_names_target_outside_file_range(tmp_path):
    path = write_npz(tmp_path / "g.npz")
    with pytest.raises(GridInputError, match=r"g\.npz: spectrum covers 5000\.000-5010\.000 A"):
        read_table(path, uniform_grid(4990.0, 5005.0, 0.1))


@pytest.mark.parametrize("suffix", ["h5", "fits", "npz"])
def test_read_table_names_truncated_or_corrupt_file(tmp_path, suffix):
    writer = {"h5": write_hdf5, "fits": write_fits, "npz": write_npz}[suffix]
    good = writer(tmp_path / f"good.{suffix}").read_bytes()
    truncated = tmp_path / f"truncated.{suffix}"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / f"corrupt.{suffix}"
    corrupt.write_bytes(b"\x00garbage" * 500)
    with pytest.raises(GridFileError, match=r"corrupt\." + suffix):
        read_table(corrupt)
    # astropy warns about a truncated FITS file before the read fails.
    with pytest.warns(UserWarning) if suffix == "fits" else nullcontext():
        with pytest.raises(GridFileError, match=r"truncated\." + suffix):
            read_table(truncated)


# -- dispatch ----------------------------------------------------------------------------
def test_read_grid_dispatches_by_suffix_and_format(tmp_path, synspec_index):
    np.testing.assert_array_equal(read_grid(write_npz(tmp_path / "g.npz")).parameters, POINTS)
    fits_grid = read_grid(write_fits(tmp_path / "g.fits"), wavelength=TABLE_WAVELENGTH[5:-5])
    assert fits_grid.n_pixels == TABLE_WAVELENGTH.size - 10
    synspec = read_grid(synspec_index, wavelength=TARGET)
    np.testing.assert_array_equal(synspec.parameters[:, 0], [5800.0, 7000.0])
    renamed = synspec_index.with_name("index.txt")
    renamed.write_text(synspec_index.read_text())
    with pytest.raises(GridFileError, match=r"index\.txt: cannot tell the grid format"):
        read_grid(renamed, wavelength=TARGET)
    assert read_grid(renamed, format="synspec", wavelength=TARGET).n_spectra == 2
    with pytest.raises(GridInputError, match="unknown grid format 'kurucz'"):
        read_grid(renamed, format="kurucz")
