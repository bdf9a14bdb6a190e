"""Spectra as ``specutils`` objects: wavelength in Angstrom, stellar parameters in ``meta``.

The one place that builds a specutils spectrum, for grid spectra and generated ones alike.
specutils 2 renamed ``Spectrum1D`` to ``Spectrum``; both versions are accepted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def parameter_meta(names: Sequence[str], units: Sequence[str], values: np.ndarray) -> dict:
    """Stellar parameters as plain ``meta`` entries, keyed ``"name (unit)"``.

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
        f"{name} ({unit})" if unit else name: (
            float(values[k]) if values.ndim == 1 else values[:, k].tolist()
        )
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
