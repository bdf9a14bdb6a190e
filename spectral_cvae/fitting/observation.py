"""An observed spectrum made ready for fitting: which pixels count, and where they lie.

Pixels are used when their flux is finite, they are not masked, their uncertainty (if
given) is finite and positive, and they fall inside the generator's window for every radial
velocity the fit may try. Vacuum wavelengths are converted to air, the medium of our grids,
with the IAU standard formula (Morton 2000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy import units as u

from ..constants import SPEED_OF_LIGHT
from ..errors import SpectrumInputError
from ..grid.wavelength import vacuum_to_air
from ..io import ObservedSpectrum, from_specutils

AIR_CONVERSION = "vacuum to air: Morton (2000), the IAU standard"
MIN_SPAN = 50.0
"""Smallest wavelength range (Angstrom) of usable pixels a fit accepts by default."""

Medium = Literal["air", "vacuum"]


class ObservationError(SpectrumInputError):
    """An observed spectrum that cannot be fitted as given (coverage, shapes, no pixels)."""


def doppler_factor(radial_velocity: np.ndarray | float) -> np.ndarray:
    """Observed over rest wavelength for a radial velocity (km/s, positive receding).

    The relativistic longitudinal factor sqrt((1 + beta) / (1 - beta)); below 500 km/s it
    differs from 1 + v/c by less than 1.5e-6.
    """
    beta = np.asarray(radial_velocity, dtype=float) / SPEED_OF_LIGHT
    return np.sqrt((1.0 + beta) / (1.0 - beta))


@dataclass(frozen=True)
class Observation:
    """An observed spectrum with the pixels a fit uses.

    Attributes
    ----------
    wavelength
        Every pixel's wavelength as given, Angstrom, in ``medium``; shape ``(n,)``.
    air_wavelength
        The same in air (equal to ``wavelength`` when ``medium == "air"``).
    flux
        Observed flux, shape ``(n,)``; NaN where none was given.
    error
        One-sigma uncertainties, shape ``(n,)``, or None (a constant noise is then
        estimated from the residuals of the fit).
    used
        True for the pixels the fit uses, shape ``(n,)``.
    lower_edge, upper_edge
        Air wavelength edges of each pixel, Angstrom, shape ``(n,)``: the model is averaged
        over them. A pixel reaches half-way to its nearer neighbour on both sides, so pixels
        beside a gap keep their own width.
    medium
        ``"air"`` or ``"vacuum"``: the wavelengths given.
    source
        Where the spectrum came from, for messages.
    excluded
        Number of pixels left out, by reason: ``"not finite"``, ``"masked"``, ``"bad error"``,
        ``"outside window"``.
    """

    wavelength: np.ndarray
    air_wavelength: np.ndarray
    flux: np.ndarray
    error: np.ndarray | None
    used: np.ndarray
    lower_edge: np.ndarray
    upper_edge: np.ndarray
    medium: Medium
    source: str
    excluded: dict

    @property
    def n_used(self) -> int:
        """Number of pixels the fit uses."""
        return int(self.used.sum())

    @property
    def span(self) -> tuple[float, float]:
        """First and last used air wavelength, Angstrom."""
        w = self.air_wavelength[self.used]
        return float(w[0]), float(w[-1])


def as_arrays(
    wavelength: object, flux: object, error: object, mask: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str, str | None]:
    """Unpack what a user may pass: arrays, Quantities, an ObservedSpectrum or a specutils
    spectrum (as ``wavelength`` with ``flux=None``).

    Returns
    -------
    wavelength (Angstrom), flux, error, mask, source, medium declared by the input (or None)
    """
    source, medium = "spectrum", None
    if flux is None:
        spectrum = wavelength
        if hasattr(spectrum, "spectral_axis"):
            spectrum = from_specutils(spectrum)
        if not isinstance(spectrum, ObservedSpectrum):
            raise ObservationError(
                "pass wavelength and flux arrays, an ObservedSpectrum or a specutils spectrum"
            )
        wavelength, flux, source, medium = (
            spectrum.wavelength, spectrum.flux, spectrum.source, spectrum.medium,
        )
        error = spectrum.error if error is None else error
        if spectrum.mask is not None:
            mask = spectrum.mask if mask is None else np.asarray(mask, bool) | spectrum.mask
    if isinstance(wavelength, u.Quantity):
        wavelength = wavelength.to_value(u.AA, equivalencies=u.spectral())
    if isinstance(flux, u.Quantity):
        flux = flux.value
    if isinstance(error, u.Quantity):
        error = error.value
    return (
        np.asarray(wavelength, dtype=float),
        np.asarray(flux, dtype=float),
        None if error is None else np.asarray(error, dtype=float),
        None if mask is None else np.asarray(mask, dtype=bool),
        source,
        medium,
    )


def prepare_observation(
    wavelength: object,
    flux: object,
    error: object = None,
    mask: object = None,
    *,
    window: tuple[float, float],
    medium: Medium = "air",
    radial_velocity_range: tuple[float, float] = (-400.0, 400.0),
    min_span: float = MIN_SPAN,
    source: str | None = None,
) -> Observation:
    """Check an observed spectrum and choose the pixels a fit uses.

    Parameters
    ----------
    wavelength
        Angstrom (or a Quantity of any spectral unit), shape ``(n,)``, strictly monotonic;
        or an :class:`~spectral_cvae.io.ObservedSpectrum` / specutils spectrum with
        ``flux=None``.
    flux
        Flux (continuum-normalized or not: the fit multiplies the model by a polynomial),
        shape ``(n,)``. NaN pixels are left out.
    error
        One-sigma uncertainties, shape ``(n,)``; pixels with a non-finite or non-positive
        error are left out. None: the noise is estimated by the fit.
    mask
        True for pixels to leave out (the numpy.ma / specutils convention), shape ``(n,)``.
    window
        First and last wavelength of the generator, air, Angstrom.
    medium
        ``"air"`` or ``"vacuum"``: the medium of ``wavelength``. Vacuum wavelengths are
        converted to air (Morton 2000).
    radial_velocity_range
        Radial velocities (km/s) the fit may try; pixels that would leave the generator's
        window at one of them are left out.
    min_span
        Smallest wavelength range of used pixels, Angstrom.
    source
        Where the spectrum came from, for messages.

    Raises
    ------
    ObservationError
        Mismatched shapes, a spectrum outside the generator's window, or usable pixels
        spanning less than ``min_span``.
    """
    wavelength, flux, error, mask, own_source, _ = as_arrays(wavelength, flux, error, mask)
    source = source or own_source
    if medium not in ("air", "vacuum"):
        raise ObservationError(f"{source}: medium must be 'air' or 'vacuum', not {medium!r}")
    if wavelength.ndim != 1 or wavelength.size < 2:
        raise ObservationError(
            f"{source}: wavelength must be 1-D with at least 2 pixels, got shape "
            f"{wavelength.shape}"
        )
    n = wavelength.size
    for name, value in (("flux", flux), ("error", error), ("mask", mask)):
        if value is not None and value.shape != (n,):
            raise ObservationError(
                f"{source}: {name} has shape {value.shape}; expected ({n},) like the wavelengths"
            )
    if not np.isfinite(wavelength).all() or (wavelength <= 0).any():
        raise ObservationError(f"{source}: wavelengths must be finite and positive")
    if wavelength[0] > wavelength[-1]:
        wavelength, flux = wavelength[::-1], flux[::-1]
        error = None if error is None else error[::-1]
        mask = None if mask is None else mask[::-1]
    steps = np.diff(wavelength)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise ObservationError(
            f"{source}: wavelengths are not strictly monotonic at pixel {i + 1} "
            f"({wavelength[i]:.4f} A, then {wavelength[i + 1]:.4f} A)"
        )
    air = vacuum_to_air(wavelength) if medium == "vacuum" else wavelength.copy()

    spacing = np.diff(air)
    left = np.concatenate([spacing[:1], spacing])
    right = np.concatenate([spacing, spacing[-1:]])
    half = 0.5 * np.minimum(left, right)
    lower_edge, upper_edge = air - half, air + half

    finite = np.isfinite(flux)
    masked = np.zeros(n, bool) if mask is None else mask
    bad_error = np.zeros(n, bool) if error is None else ~(np.isfinite(error) & (error > 0))
    v_low, v_high = sorted(radial_velocity_range)
    start, stop = window
    inside = (lower_edge / doppler_factor(v_high) >= start) & (
        upper_edge / doppler_factor(v_low) <= stop
    )
    used = finite & ~masked & ~bad_error & inside
    excluded = {
        "not finite": int((~finite).sum()),
        "masked": int((finite & masked).sum()),
        "bad error": int((finite & ~masked & bad_error).sum()),
        "outside window": int((finite & ~masked & ~bad_error & ~inside).sum()),
    }
    if air[-1] < start or air[0] > stop:
        raise ObservationError(
            f"{source}: the spectrum covers {air[0]:.1f}-{air[-1]:.1f} A (air), outside the "
            f"model's window {start:.1f}-{stop:.1f} A"
        )
    if not used.any():
        raise ObservationError(
            f"{source}: no usable pixel inside the model's window {start:.1f}-{stop:.1f} A "
            f"(left out: {_reasons(excluded)})"
        )
    covered = air[used]
    span = covered[-1] - covered[0]
    if span < min_span:
        raise ObservationError(
            f"{source}: usable pixels span only {span:.1f} A ({covered[0]:.1f}-{covered[-1]:.1f}"
            f" A) of the model's window {start:.1f}-{stop:.1f} A, less a margin for radial "
            f"velocities {v_low:g} to {v_high:g} km/s; at least {min_span:g} A are needed "
            f"(left out: {_reasons(excluded)})"
        )
    return Observation(
        wavelength=wavelength,
        air_wavelength=air,
        flux=flux,
        error=error,
        used=used,
        lower_edge=lower_edge,
        upper_edge=upper_edge,
        medium=medium,
        source=source,
        excluded=excluded,
    )


def _reasons(excluded: dict) -> str:
    parts = [f"{count} {why}" for why, count in excluded.items() if count]
    return ", ".join(parts) or "none"
