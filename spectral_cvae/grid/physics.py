"""What physics a grid's spectra were computed with, so grids are never mixed blindly.

``spectral-cvae grid build`` records the physics of its SYNSPEC runs in the grid's provenance
(``{"helium_i_lines": bool, "molecular_lines": bool}``); grids made before it did are taken to
have the default physics (neither). Training on, or testing against, grids of different physics
is refused unless asked for: the generator would learn or be judged on a mixture.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import GridInputError

DEFAULT_PHYSICS = {"helium_i_lines": False, "molecular_lines": False}
"""The physics of grids that do not record theirs: the starter and reference grids."""


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


__all__ = ["DEFAULT_PHYSICS", "check_same_physics", "physics_of"]
