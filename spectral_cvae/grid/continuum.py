"""Pseudo-continuum for synthetic spectra that come without a continuum (e.g. PHOENIX).

Model grids such as SYNSPEC write the true (line-free) continuum beside the spectrum, so a
spectrum is normalized by dividing by it. PHOENIX HiRes spectra come without one; for them
:func:`pseudo_continuum` estimates an *upper envelope* from the spectrum itself:

1. the spectrum is cut into windows of ``window`` Angstrom and the highest pixel of each
   window becomes an anchor point;
2. a cubic least-squares spline with knots about every ``knot_spacing`` Angstrom is fitted
   through the anchors;
3. anchors that lie clearly below the fit (windows filled with lines, or the wings of a
   Balmer line) are rejected and the spline is refitted, until no anchor is rejected.

Where the spectrum reaches its continuum somewhere in most stretches of ``knot_spacing``
Angstrom (FGK and A stars in the optical) the result is the continuum to a few 1e-4. In
heavily blanketed regions of cool stars (Teff below about 4500 K, where TiO, MgH and dense
atomic lines leave no continuum window) no pixel reaches the true continuum: the result
then passes through the highest local flux peaks, lies below the true continuum, and the
normalized lines are shallower than with the true continuum. It is a pseudo-continuum,
consistent between neighbouring models of a grid, not the theoretical continuum.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline, make_lsq_spline

from ..errors import GridInputError, where
from .wavelength import check_wavelength

SPLINE_DEGREE = 3


def pseudo_continuum(
    wavelength: np.ndarray,
    flux: np.ndarray,
    window: float = 5.0,
    knot_spacing: float = 100.0,
    rejection: float = 2.5,
    tolerance: float = 1e-4,
    max_iterations: int = 30,
    source: str | None = None,
) -> np.ndarray:
    """Upper-envelope pseudo-continuum of one spectrum.

    Parameters
    ----------
    wavelength
        Wavelengths in Angstrom, strictly increasing, shape ``(p,)``.
    flux
        Flux in any unit, shape ``(p,)``, finite and not negative.
    window
        Width in Angstrom of the windows whose highest pixel is an anchor. It should exceed
        the width of most blends so that most windows touch the continuum.
    knot_spacing
        Approximate distance in Angstrom between the spline's knots: the stiffness of the
        continuum. Keep it wider than the broadest lines (Balmer wings of A stars reach
        about 100 Angstrom) so that the fit does not follow them.
    rejection
        Anchors more than ``rejection`` robust standard deviations below the fit are
        rejected at each iteration.
    tolerance
        Anchors within this relative distance below the fit are never rejected: it stops
        the clipping once the anchors agree with the fit to numerical precision.
    max_iterations
        Upper bound on fit-and-reject cycles.
    source
        Where the spectrum came from, for error messages.

    Returns
    -------
    numpy.ndarray
        The pseudo-continuum on ``wavelength``, in the unit of ``flux``, shape ``(p,)``.

    Raises
    ------
    GridInputError
        If the shapes differ, the flux is not finite, negative or zero everywhere,
        ``window`` / ``knot_spacing`` are not positive or ``max_iterations`` is below 1.
    """
    x = check_wavelength(wavelength, source)
    y = np.asarray(flux, dtype=float)
    if y.shape != x.shape:
        raise GridInputError(
            f"{where(source)}flux of shape {y.shape} does not match {x.size} wavelengths"
        )
    if not (window > 0 and knot_spacing > 0 and max_iterations >= 1):
        raise GridInputError(
            f"window ({window}) and knot_spacing ({knot_spacing}) must be positive, in "
            f"Angstrom, and max_iterations ({max_iterations}) at least 1"
        )
    if not np.all(np.isfinite(y)) or (y < 0).any() or not (y > 0).any():
        raise GridInputError(
            f"{where(source)}flux must be finite, not negative and not zero everywhere to "
            f"estimate a continuum"
        )
    anchor_x, anchor_y = _anchors(x, y, window)
    keep = np.ones(anchor_x.size, dtype=bool)
    for _ in range(max_iterations):
        spline = _fit(anchor_x[keep], anchor_y[keep], knot_spacing)
        residual = anchor_y / spline(anchor_x) - 1.0
        spread = 1.4826 * np.median(np.abs(residual[keep] - np.median(residual[keep])))
        updated = keep & (residual > -max(rejection * spread, tolerance))
        # Never clip below what a cubic needs: a region without any continuum is then
        # still described by its highest peaks.
        if np.array_equal(updated, keep) or updated.sum() < SPLINE_DEGREE + 1:
            break
        keep = updated
    return spline(x)


def _anchors(x: np.ndarray, y: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength and flux of the highest pixel in each window of ``window`` Angstrom."""
    index = np.floor((x - x[0]) / window).astype(np.int64)
    order = np.lexsort((y, index))
    last_of_window = np.append(index[order][1:] != index[order][:-1], True)
    chosen = np.sort(order[last_of_window])
    return x[chosen], y[chosen]


def _fit(x: np.ndarray, y: np.ndarray, knot_spacing: float) -> BSpline:
    """Least-squares spline through anchors; fewer anchors give a lower degree."""
    degree = min(SPLINE_DEGREE, x.size - 1)
    if degree == 0:
        return BSpline(np.array([x[0] - 1.0, x[0] + 1.0]), y[:1], 0, extrapolate=True)
    # Knots at anchor quantiles give every knot interval anchors, which the
    # least-squares problem needs (Schoenberg-Whitney), even after rejection.
    n_interior = min(int((x[-1] - x[0]) // knot_spacing), x.size // (degree + 1) - 1)
    interior = np.quantile(x, np.linspace(0.0, 1.0, n_interior + 2)[1:-1])
    knots = np.concatenate([np.repeat(x[0], degree + 1), interior, np.repeat(x[-1], degree + 1)])
    return make_lsq_spline(x, y, knots, k=degree)
