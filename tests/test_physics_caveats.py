"""What the grid's physics misses at a parameter point: physics_caveats."""

import pytest

from spectral_cvae.grid.physics import DEFAULT_PHYSICS, physics_caveats


def test_an_f_star_inside_every_limit_has_no_caveat():
    assert physics_caveats(7000.0, 4.0, 0.0) == []


@pytest.mark.parametrize(
    ("teff", "logg", "mh", "names"),
    [
        (4000.0, 4.5, 0.0, "TiO"),
        (4700.0, 4.5, 0.0, "MgH band"),
        (4700.0, 2.0, 0.0, "weak MgH and C2 Swan lines"),  # giants: MgH is weaker
        (4200.0, 4.5, -1.5, "MgH band"),  # metal-poor: TiO far weaker
        (5777.0, 4.44, 0.0, "weak MgH and C2 Swan lines"),
    ],
)
def test_cool_stars_are_told_which_molecular_bands_they_lack(teff, logg, mh, names):
    caveats = physics_caveats(teff, logg, mh)
    assert len(caveats) == 1
    assert caveats[0].startswith("no molecular lines") and names in caveats[0]


def test_a_grid_with_molecular_lines_has_no_molecular_caveat():
    assert physics_caveats(4000.0, 4.5, 0.0, {"molecular_lines": True}) == []


def test_late_b_stars_lack_he_i_unless_the_grid_has_it():
    assert any("He I" in c for c in physics_caveats(10500.0, 4.0, 0.0))
    assert physics_caveats(10500.0, 4.0, 0.0, {"helium_i_lines": True}) == []
    assert physics_caveats(7900.0, 4.0, 0.0) == []


def test_the_atmosphere_switch_is_flagged_unless_the_networks_are_blended():
    helium = {**DEFAULT_PHYSICS, "helium_i_lines": True}
    assert "8000 K" in physics_caveats(8050.0, 3.0, 0.0, helium)[0]
    assert physics_caveats(8050.0, 3.0, 0.0, {**helium, "atmosphere_blend": 200.0}) == []
    assert physics_caveats(8150.0, 3.0, 0.0, helium) == []


def test_the_metal_rich_edge_of_the_atmospheres_is_flagged():
    (caveat,) = physics_caveats(7000.0, 4.0, 1.4)
    assert "metal-rich edge" in caveat


def test_caveats_come_most_serious_first():
    caveats = physics_caveats(4000.0, 4.5, 1.5)
    assert "TiO" in caveats[0] and "metal-rich" in caveats[-1]


def test_a_model_is_judged_by_its_training_grid_physics_and_needs_teff_logg_mh():
    from spectral_cvae.grid.physics import model_caveats

    hot = {"teff": 10000.0, "logg": 4.0, "mh": 0.0, "vsini": 10.0}
    assert any("He I" in text for text in model_caveats({}, hot))
    helium = {"grid_provenance": {"physics": {"helium_i_lines": True}}}
    assert model_caveats(helium, hot) == []
    assert model_caveats({}, {"teff": 4000.0, "logg": 4.5}) == []  # no [M/H]: nothing said
