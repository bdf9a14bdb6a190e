"""Spectra as ``specutils`` objects and back: wavelength in Angstrom, parameters in ``meta``.

The one place that builds a specutils spectrum (grid spectra and generated ones alike) and
that takes one apart (spectra to fit). specutils 2 renamed ``Spectrum1D`` to ``Spectrum``;
both versions are accepted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .errors import SpectrumInputError
from .parameters import with_unit


def parameter_meta(names: Sequence[str], units: Sequence[str], values: np.ndarray) -> dict:
    """Stellar parameters as plain ``meta`` entries, keyed ``"name (unit)"`` (see
    :func:`~spectral_cvae.parameters.with_unit`).

    Parameters
    ----------
    names, units
        Parameter names and their units (``""`` for none), in the order of ``values``.
    values
        One point ``(n_parameters,)``: one float per name; or several
        ``(n, n_parameters)``: one list per name.

    Returns
    -------
    dict
        For example ``{"teff (K)": 5800.0, "resolution": 50000.0}``.
    """
    values = np.asarray(values, dtype=float)
    return {
        with_unit(name, unit): (float(values[k]) if values.ndim == 1 else values[:, k].tolist())
        for k, (name, unit) in enumerate(zip(names, units))
    }


def to_specutils(
    wavelength: np.ndarray, flux: np.ndarray, meta: dict, std: np.ndarray | None = None
):
    """A specutils spectrum of continuum-normalized flux.

    Parameters
    ----------
    wavelength
        Angstrom, shape ``(n_pixels,)``.
    flux
        Continuum-normalized flux, ``(n_pixels,)`` or ``(n, n_pixels)``; a single row is
        returned as a 1-D spectrum.
    meta
        Stored as the spectrum's ``meta`` (see :func:`parameter_meta`).
    std
        One-sigma spread of the flux, same shape, stored as a ``StdDevUncertainty``; or None.

    Returns
    -------
    specutils.Spectrum or specutils.Spectrum1D
    """
    import specutils
    from astropy import units as u
    from astropy.nddata import StdDevUncertainty

    spectrum_class = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    flux = np.asarray(flux)
    std = None if std is None else np.asarray(std).reshape(flux.shape)
    if flux.ndim == 2 and len(flux) == 1:
        flux = flux[0]
        std = None if std is None else std[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Spectrum1D under specutils 2
        return spectrum_class(
            spectral_axis=np.asarray(wavelength, dtype=float) * u.AA,
            flux=flux * u.dimensionless_unscaled,
            uncertainty=None if std is None else StdDevUncertainty(std),
            meta=meta,
        )


def specutils_arrays(
    spectrum: object, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Wavelength (Angstrom), flux, one-sigma error and bad-pixel mask of a specutils spectrum.

    The spectral axis may be in any length, frequency or energy unit; the uncertainty of
    any astropy kind (standard deviation, variance, inverse variance) becomes a standard
    deviation; ``mask`` is True for bad pixels. Error and mask are None when absent.

    Raises
    ------
    SpectrumInputError
        If ``spectrum`` has no spectral axis and flux, or its axis is not spectral; the
        message names ``source``.
    """
    from astropy import units as u
    from astropy.nddata import StdDevUncertainty

    axis = getattr(spectrum, "spectral_axis", None)
    flux = getattr(spectrum, "flux", None)
    if axis is None or flux is None:
        raise SpectrumInputError(f"{source}: not a specutils spectrum (no spectral_axis / flux)")
    try:
        wavelength = u.Quantity(axis).to_value(u.AA, equivalencies=u.spectral())
    except u.UnitsError as exc:
        raise SpectrumInputError(f"{source}: spectral axis unit is not a wavelength") from exc
    uncertainty = getattr(spectrum, "uncertainty", None)
    error = None
    if uncertainty is not None:
        error = np.asarray(uncertainty.represent_as(StdDevUncertainty).array, dtype=float)
    mask = getattr(spectrum, "mask", None)
    return (
        wavelength,
        np.asarray(u.Quantity(flux).value, dtype=float),
        error,
        None if mask is None else np.asarray(mask, dtype=bool),
    )
