"""Spectrum files: what write_spectra writes, read_spectra and read_spectrum read back."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

import spectral_cvae
from spectral_cvae.errors import ConfigError, SpectrumFileError, SpectrumInputError
from spectral_cvae.grid import SpectralGrid
from spectral_cvae.grid.readers import read_table
from spectral_cvae.io import fits as fits_layout
from spectral_cvae.io import (
    read_parameters,
    read_spectra,
    read_spectrum,
    write_parameters,
    write_spectra,
)
from spectral_cvae.parameters import PAPER_SPACE

SUFFIXES = (".fits", ".csv", ".h5")


def generated(n: int, rng: np.random.Generator):
    """``n`` spectra on 40 pixels with a spread and parameters inside the paper's space."""
    wavelength = np.linspace(5160.0, 5190.0, 40)
    flux = rng.uniform(0.3, 1.0, (n, wavelength.size)).astype(np.float32)
    std = rng.uniform(0.0, 0.02, flux.shape).astype(np.float32)
    parameters = rng.uniform(PAPER_SPACE.minimum, PAPER_SPACE.maximum, (n, len(PAPER_SPACE)))
    return wavelength, flux, std, parameters


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("n", [1, 3])
def test_read_spectra_reads_back_what_write_spectra_wrote_with_units(tmp_path, rng, suffix, n):
    wavelength, flux, std, parameters = generated(n, rng)
    path = write_spectra(tmp_path / f"out{suffix}", wavelength, flux, parameters, PAPER_SPACE, std)
    spectra = read_spectra(path)
    np.testing.assert_allclose(spectra.wavelength, wavelength, rtol=1e-12)
    np.testing.assert_allclose(spectra.flux, flux, rtol=1e-6)
    np.testing.assert_allclose(spectra.std, std, rtol=1e-6)
    assert spectra.parameters.colnames == list(PAPER_SPACE.names)
    for k, parameter in enumerate(PAPER_SPACE.parameters):
        column = spectra.parameters[parameter.name]
        assert column.unit == u.Unit(parameter.unit)
        np.testing.assert_allclose(column.value, parameters[:, k], rtol=1e-12)
    np.testing.assert_allclose(PAPER_SPACE.as_array(spectra.parameters), parameters, rtol=1e-12)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_read_spectrum_reads_back_one_written_spectrum_and_its_parameters(tmp_path, rng, suffix):
    wavelength, flux, std, parameters = generated(1, rng)
    path = write_spectra(tmp_path / f"one{suffix}", wavelength, flux, parameters, PAPER_SPACE, std)
    star = read_spectrum(path)
    np.testing.assert_allclose(star.wavelength, wavelength, rtol=1e-12)
    np.testing.assert_allclose(star.flux, flux[0], rtol=1e-6)
    assert star.error is None  # the spread over z is no measurement error
    assert star.parameters["teff"].unit == u.K and star.parameters["vsini"].unit == u.km / u.s
    assert star.parameters["teff"].value == pytest.approx(parameters[0, 0], rel=1e-12)
    many = write_spectra(
        tmp_path / f"many{suffix}",
        wavelength,
        np.repeat(flux, 2, 0),
        np.repeat(parameters, 2, 0),
        PAPER_SPACE,
    )
    with pytest.raises(
        SpectrumFileError, match="holds 2 spectra, not one; read them with read_spectra"
    ):
        read_spectrum(many)


def test_the_fits_layout_is_the_grid_table_layout(tmp_path, rng):
    wavelength, flux, std, parameters = generated(3, rng)
    path = write_spectra(
        tmp_path / "g.fits",
        wavelength,
        flux,
        parameters,
        PAPER_SPACE,
        std,
        provenance={"generated_by": "test"},
    )
    with fits.open(path) as hdul:
        assert hdul["SPECTRA"].columns["FLUX"].format == "40E"
        assert hdul["SPECTRA"].columns["vsini"].unit == "km / s"
        assert hdul["WAVELENGTH"].header["BUNIT"] == "Angstrom"
        assert '"generated_by": "test"' in hdul[0].header["PROVENAN"]
    grid = read_table(path)  # the grid's reader takes generated spectra as a grid
    assert isinstance(grid, SpectralGrid) and grid.n_spectra == 3
    np.testing.assert_allclose(grid.parameters, parameters, rtol=1e-12)
    assert fits_layout.read_wavelength_hdu.__module__ == "spectral_cvae.io.fits"


def test_the_csv_layout_reads_in_any_csv_reader_and_keeps_its_units(tmp_path, rng):
    wavelength, flux, std, parameters = generated(2, rng)
    path = write_spectra(tmp_path / "s.csv", wavelength, flux, parameters, PAPER_SPACE, std)
    rows = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert rows[0] == "wavelength,flux_0,flux_std_0,flux_1,flux_std_1" and len(rows) == 41
    np.testing.assert_allclose(
        [float(v) for v in rows[1].split(",")[1:]],
        [flux[0, 0], std[0, 0], flux[1, 0], std[1, 0]],
        rtol=1e-6,
    )
    assert "unit: Angstrom" in path.read_text()


def test_writing_is_atomic_and_refuses_to_overwrite(tmp_path, rng, monkeypatch):
    wavelength, flux, std, parameters = generated(1, rng)
    path = tmp_path / "kept.fits"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="kept.fits already exists"):
        write_spectra(path, wavelength, flux, parameters, PAPER_SPACE)
    assert path.read_bytes() == b"keep"

    def half_then_fail(temporary, *args, **kwargs):
        Path(temporary).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(fits_layout, "write_fits", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_spectra(path, wavelength, flux, parameters, PAPER_SPACE, overwrite=True)
    assert path.read_bytes() == b"keep" and [p.name for p in tmp_path.iterdir()] == ["kept.fits"]
    with pytest.raises(ConfigError, match="unknown output format '.png'"):
        write_spectra(tmp_path / "s.png", wavelength, flux, parameters, PAPER_SPACE)
    with pytest.raises(SpectrumInputError, match="do not agree"):
        write_spectra(tmp_path / "s.csv", wavelength, flux, parameters[:, :3], PAPER_SPACE)


def test_a_specutils_spectrum_made_here_is_read_back_by_from_specutils(rng):
    from spectral_cvae.io import from_specutils
    from spectral_cvae.specutils_spectra import parameter_meta, to_specutils

    wavelength, flux, std, parameters = generated(1, rng)
    meta = parameter_meta(PAPER_SPACE.names, PAPER_SPACE.units, parameters[0])
    spectrum = to_specutils(wavelength, flux, meta, std)
    assert spectrum.meta["teff (K)"] == parameters[0, 0] and "resolution" in spectrum.meta
    star = from_specutils(spectrum)
    np.testing.assert_allclose(star.wavelength, wavelength)
    np.testing.assert_allclose(star.flux, flux[0], rtol=1e-6)
    np.testing.assert_allclose(star.error, std[0], rtol=1e-6)
    with pytest.raises(SpectrumInputError, match="expected one spectrum"):
        from_specutils(to_specutils(wavelength, np.repeat(flux, 2, 0), {}))


def test_parameter_tables_keep_their_units_through_a_round_trip(tmp_path):
    from astropy.table import QTable

    table = QTable(
        {
            "spectrum": [0, 1],
            "teff": [5800.0, 6100.0] * u.K,
            "vsini": [2000.0, 3500.0] * u.m / u.s,
            "in_domain": [True, False],
        }
    )
    path = write_parameters(tmp_path / "p.csv", table)
    assert path.read_text().splitlines()[0] == "spectrum,teff [K],vsini [m/s],in_domain"
    back = read_parameters(path)
    assert back.colnames == ["spectrum", "teff", "vsini", "in_domain"]
    assert back["vsini"].unit == u.m / u.s
    np.testing.assert_allclose(back["vsini"].to_value(u.km / u.s), [2.0, 3.5])
    with pytest.raises(FileExistsError):
        write_parameters(path, table)


def test_what_invert_writes_generate_reads_in_the_space_units(tmp_path):
    from astropy.table import QTable

    from spectral_cvae.io.spectra import parameter_table

    point = [[5800.0, 4.4, 2.0, 0.0, 1.0, 50000.0]]
    table = parameter_table(PAPER_SPACE.names, PAPER_SPACE.units, point)
    table["vsini"] = table["vsini"].to(u.m / u.s)
    table = QTable(table)
    table.add_column([0], name="spectrum", index=0)
    table["in_domain"] = [True]
    back = read_parameters(write_parameters(tmp_path / "inverted.csv", table))
    np.testing.assert_allclose(PAPER_SPACE.as_array(back), point, rtol=1e-6)


LIBRARY = Path(spectral_cvae.__file__).parent
FILE_CALLS = {"writeto", "savetxt", "loadtxt", "open_fits", "read"}
"""Calls that read or write files of spectra or tables (``fits.open``, ``Table.read``...)."""
OWNERS = ("io/", "grid/readers/", "grid/synthesis/", "grid/store.py", "starter.py")
"""Where spectra and tables may be read and written: the io package, the grid database."""


def file_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            name = node.func.attr
            if (
                name in ("writeto", "savetxt", "loadtxt")
                or (name in ("read", "write", "open") and owner in ("fits", "Table", "QTable"))
                or (name == "write" and any(k.arg == "format" for k in node.keywords))
            ):
                found.append(f"{path.relative_to(LIBRARY)}:{node.lineno} {owner}.{name}")
    return found


def test_spectrum_and_table_files_are_read_and_written_only_by_the_io_package():
    calls = [
        call
        for path in sorted(LIBRARY.rglob("*.py"))
        if not str(path.relative_to(LIBRARY)).startswith(OWNERS)
        for call in file_calls(path)
    ]
    assert calls == [], "spectrum or table files handled outside spectral_cvae.io: " + str(calls)
    assert file_calls(LIBRARY / "io" / "fits.py")  # the scan sees the calls where they are
