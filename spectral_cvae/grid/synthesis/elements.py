"""Element data used to set up a synthesis: solar abundances, atomic weights, isotopes."""

from __future__ import annotations

import numpy as np

SOLAR_LOG_EPSILON = np.array(
    # Asplund, Grevesse, Sauval & Scott (2009, ARA&A 47, 481), photospheric where measured,
    # else meteoritic; log eps = log10(N/N_H) + 12 for Z = 1..99, -9.99 for none.
    # Li takes the meteoritic value (the photosphere is depleted), as in ATLAS/C3K grids.
    [
        12.00, 10.93, 3.26, 1.38, 2.79, 8.43, 7.83, 8.69, 4.56, 7.93,
        6.24, 7.60, 6.45, 7.51, 5.41, 7.12, 5.50, 6.40, 5.08, 6.34,
        3.15, 4.95, 3.93, 5.64, 5.43, 7.50, 4.99, 6.22, 4.19, 4.56,
        3.04, 3.65, 2.30, 3.34, 2.54, 3.25, 2.36, 2.87, 2.21, 2.58,
        1.46, 1.88, -9.99, 1.75, 1.06, 1.65, 1.20, 1.71, 0.76, 2.04,
        1.01, 2.18, 1.55, 2.24, 1.08, 2.18, 1.10, 1.58, 0.72, 1.42,
        -9.99, 0.96, 0.52, 1.07, 0.30, 1.10, 0.48, 0.92, 0.10, 0.92,
        0.10, 0.85, -0.12, 0.65, 0.26, 1.40, 1.38, 1.62, 0.80, 1.17,
        0.77, 2.04, 0.65, -9.99, -9.99, -9.99, -9.99, -9.99, -9.99, 0.06,
        -9.99, -0.54, -9.99, -9.99, -9.99, -9.99, -9.99, -9.99, -9.99,
    ]
)  # fmt: skip

ATOMIC_WEIGHT = np.array(
    # Standard atomic weights (IUPAC), u, Z = 1..99; mass number of the longest-lived
    # isotope for elements without stable ones.
    [
        1.008, 4.0026, 6.94, 9.0122, 10.81, 12.011, 14.007, 15.999, 18.998, 20.180,
        22.990, 24.305, 26.982, 28.085, 30.974, 32.06, 35.45, 39.948, 39.098, 40.078,
        44.956, 47.867, 50.942, 51.996, 54.938, 55.845, 58.933, 58.693, 63.546, 65.38,
        69.723, 72.630, 74.922, 78.971, 79.904, 83.798, 85.468, 87.62, 88.906, 91.224,
        92.906, 95.95, 98.0, 101.07, 102.91, 106.42, 107.87, 112.41, 114.82, 118.71,
        121.76, 127.60, 126.90, 131.29, 132.91, 137.33, 138.91, 140.12, 140.91, 144.24,
        145.0, 150.36, 151.96, 157.25, 158.93, 162.50, 164.93, 167.26, 168.93, 173.05,
        174.97, 178.49, 180.95, 183.84, 186.21, 190.23, 192.22, 195.08, 196.97, 200.59,
        204.38, 207.2, 208.98, 209.0, 210.0, 222.0, 223.0, 226.0, 227.0, 232.04,
        231.04, 238.03, 237.0, 244.0, 243.0, 247.0, 247.0, 251.0, 252.0,
    ]
)  # fmt: skip

ISOTOPE_FRACTION = {
    # Solar-system isotopic fractions by number (Asplund et al. 2009, table 3) for the
    # isotopes that the Gaia-ESO line list tags individually: (Z, mass number) -> fraction.
    (3, 6): 0.0759, (3, 7): 0.9241,
    (29, 63): 0.6915, (29, 65): 0.3085,
    (56, 134): 0.02417, (56, 135): 0.06592, (56, 136): 0.07854, (56, 137): 0.11232,
    (56, 138): 0.71698,
    (57, 138): 0.0009, (57, 139): 0.9991,
    (59, 141): 1.0,
    (60, 142): 0.27152, (60, 143): 0.12174, (60, 144): 0.23798, (60, 145): 0.08293,
    (60, 146): 0.17189, (60, 148): 0.05756, (60, 150): 0.05638,
    (62, 144): 0.0307, (62, 147): 0.1499, (62, 148): 0.1124, (62, 149): 0.1382,
    (62, 150): 0.0738, (62, 152): 0.2675, (62, 154): 0.2275,
    (63, 151): 0.4781, (63, 153): 0.5219,
}  # fmt: skip


def abundances(mh: float) -> np.ndarray:
    """Number abundances N(X)/N(H) for Z = 1..99, metals scaled by [M/H].

    Parameters
    ----------
    mh
        Metallicity [M/H], dex: every element heavier than He is scaled by 10**mh (no
        alpha enhancement), as in the atmosphere networks at [alpha/Fe] = 0.

    Returns
    -------
    numpy.ndarray
        Shape ``(99,)``; H is 1.
    """
    log_epsilon = SOLAR_LOG_EPSILON.copy()
    present = log_epsilon > -9.0
    log_epsilon[2:][present[2:]] += mh
    return 10.0 ** (log_epsilon - 12.0)
