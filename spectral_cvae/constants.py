"""Physical constants in the units the package computes in, from :mod:`astropy.constants`."""

from __future__ import annotations

from astropy import constants
from astropy import units as u

SPEED_OF_LIGHT = constants.c.to_value(u.km / u.s)
"""Speed of light, km/s."""
BOLTZMANN = constants.k_B.to_value(u.erg / u.K)
"""Boltzmann constant, erg/K (the cgs of model atmospheres and line data)."""
