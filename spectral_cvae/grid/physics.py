"""What physics a grid's spectra were computed with, so grids are never mixed blindly.

``spectral-cvae grid build`` records the physics of its SYNSPEC runs in the grid's provenance
(``{"helium_i_lines": bool, "molecular_lines": bool, "atmosphere_blend": K}``); grids made
before it did are taken to have the default physics (none of them). Training on, or testing
against, grids of different physics is refused unless asked for: the generator would learn or
be judged on a mixture. :func:`physics_caveats` says, for one parameter point, what that
physics misses there.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import GridInputError

DEFAULT_PHYSICS = {"helium_i_lines": False, "molecular_lines": False, "atmosphere_blend": 0.0}
"""The physics of grids that do not record theirs: the starter and reference grids.
``atmosphere_blend`` is the half-width (K) of the band around 8000 K where the two atmosphere
networks are blended; 0 means they switch at 8000 K."""


def physics_of(provenance: Mapping) -> dict:
    """The physics a grid's provenance records, the default filled in."""
    recorded = provenance.get("physics") or {}
    if not recorded and isinstance(provenance.get("base_grids"), list):
        # A concatenation of base grids: they share one physics (checked when joined).
        parts = provenance["base_grids"]
        recorded = physics_of(parts[0].get("provenance", {})) if parts else {}
    return {**DEFAULT_PHYSICS, **recorded}


def check_same_physics(named: Mapping[str, Mapping], what: str) -> None:
    """Refuse provenances of different physics, naming each.

    Parameters
    ----------
    named
        ``{name: provenance}`` of the grids (or model) involved.
    what
        What is refused, for the message (e.g. ``"cannot join grids of different physics"``).

    Raises
    ------
    GridInputError
        If two of them differ.
    """
    physics = {name: physics_of(provenance) for name, provenance in named.items()}
    first_name, first = next(iter(physics.items()))
    for name, other in physics.items():
        if other != first:
            raise GridInputError(
                f"{what}: {first_name} was computed with physics {first}, {name} with {other}; "
                f"pass allow_other_physics=True (--allow-other-physics) to do it anyway"
            )


TIO_TEFF = 4300.0
"""K: below this, TiO alpha-system bands (heads at 4955 and 5167 A among others) appear
(spectral type ~K5 and later) and deepen quickly; with MgH they dominate 4950-5250 A by
type M."""
MGH_TEFF = {"dwarf": 4900.0, "giant": 4500.0}
"""K: below these, the MgH A-X band (4950-5250 A, head at 5211 A) depresses the spectrum by
several per cent, up to ~20 % in late-K dwarfs; it is pressure sensitive, far stronger in
dwarfs (log g >= :data:`DWARF_LOGG`) than in giants."""
WEAK_MOLECULES_TEFF = 5800.0
"""K: below this, single MgH and C2 Swan lines (heads at 5165 and 4737 A) of up to a few per
cent depth appear, as in the Sun: above the paper's 1.8e-3 accuracy target."""
DWARF_LOGG = 3.5
METAL_POOR_SHIFT = 300.0
"""K by which those Teff limits are lowered at [M/H] <= -1, where molecules of two metals
(TiO, C2) are ~100 times and MgH ~10 times weaker."""
HE_I_TEFF = 8000.0
"""K: above this, adding He I changes SYNSPEC's spectra at 4471 A by 0.4-23 % (8000-9500 K,
most at low gravity) and 1-28 % (9500-11,000 K) (``benchmarks/physics_change.py``)."""
SWITCH_TEFF = 8000.0
SWITCH_BAND = 100.0
"""K either side of :data:`SWITCH_TEFF` where the atmosphere networks' jump is flagged."""
NETWORK_MH_EDGE = 1.2
"""[M/H] above which the atmosphere networks approach their training edge (+1.5)."""


def physics_caveats(
    teff: float, logg: float, mh: float, physics: Mapping | None = None
) -> list[str]:
    """What the grid's physics misses or does approximately at one parameter point.

    The molecular limits are estimates from how the bands grow along the spectral types (no
    molecular line list was available to compute them); the others are measured on SYNSPEC
    spectra and atmospheres (``benchmarks/physics_change.py``,
    ``benchmarks/atmosphere_continuity.py``).

    Parameters
    ----------
    teff
        Effective temperature, K.
    logg
        log10 surface gravity, cgs.
    mh
        Metallicity [M/H], dex.
    physics
        The grid's physics, as :func:`physics_of` gives it; default :data:`DEFAULT_PHYSICS`
        (the starter and reference grids).

    Returns
    -------
    list of str
        One sentence per caveat, the most serious first; empty where none applies.
    """
    physics = {**DEFAULT_PHYSICS, **(physics or {})}
    caveats = []
    shift = METAL_POOR_SHIFT if mh <= -1.0 else 0.0
    if not physics["molecular_lines"]:
        kind = "dwarf" if logg >= DWARF_LOGG else "giant"
        if teff < TIO_TEFF - shift:
            caveats.append(
                "no molecular lines: real stars this cool show TiO bands (heads at 4955 and "
                "5167 A) and MgH (4950-5250 A) tens of per cent deep; the spectrum is "
                "unreliable there"
            )
        elif teff < MGH_TEFF[kind] - shift:
            caveats.append(
                f"no molecular lines: a {kind} this cool has an MgH band (4950-5250 A, head "
                "5211 A) several per cent deep, and C2 Swan lines near 5165 A, that these "
                "spectra lack"
            )
        elif teff < WEAK_MOLECULES_TEFF - shift:
            caveats.append(
                "no molecular lines: weak MgH and C2 Swan lines (up to a few per cent deep, "
                "near 4737 and 5100-5200 A) are missing"
            )
    if not physics["helium_i_lines"] and teff > HE_I_TEFF:
        caveats.append(
            "no He I lines: 4471 A (up to 23 % deep at 8000-9500 K and 28 % at 9500-11,000 K "
            "with the He I option), 4922 and 5016 A, and the weaker 4713 and 5048 A, are "
            "missing (grid build --helium adds them)"
        )
    if not physics["atmosphere_blend"] and abs(teff - SWITCH_TEFF) < SWITCH_BAND:
        caveats.append(
            "within 100 K of 8000 K, where the model atmospheres switch from one network to "
            "another: their temperatures jump by up to ~200 K at some depths there, though "
            "the spectra change no more than over 20 K of Teff"
        )
    if mh > NETWORK_MH_EDGE:
        caveats.append(
            "near the metal-rich edge of the model atmospheres' training range "
            "([M/H] <= +1.5), where their structure is least smooth"
        )
    return caveats


__all__ = ["DEFAULT_PHYSICS", "check_same_physics", "physics_caveats", "physics_of"]


def model_caveats(provenance: Mapping, star: Mapping[str, float]) -> list[str]:
    """:func:`physics_caveats` at a star, for a model trained on grids of recorded physics.

    Parameters
    ----------
    provenance
        The model's provenance (its ``grid_provenance`` holds the training grid's physics;
        a model without one counts as trained on the default physics).
    star
        Parameters by name; ``teff`` (K), ``logg`` (dex) and ``mh`` (dex) are used. Without
        all three there is nothing to say.
    """
    if not {"teff", "logg", "mh"} <= star.keys():
        return []
    physics = physics_of(provenance.get("grid_provenance", {}))
    return physics_caveats(star["teff"], star["logg"], star["mh"], physics)
