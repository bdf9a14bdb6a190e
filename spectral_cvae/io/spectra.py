"""Spectra on one wavelength axis, as read from a file, with their parameters if recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import QTable

from ..errors import SpectrumInputError
from ..grid.wavelength import check_wavelength


@dataclass(frozen=True)
class Spectra:
    """Spectra read from a file.

    Attributes
    ----------
    wavelength
        Angstrom, float64, shape ``(n_pixels,)``, strictly increasing.
    flux
        Continuum-normalized flux, shape ``(n, n_pixels)``.
    std
        The spread of generated spectra over the latent draws, same shape, or None.
    parameters
        The stellar parameters the file records, one row per spectrum and one column per
        name with its unit (``QTable``), or None (observed spectra).
    source
        The file, for messages.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    std: np.ndarray | None
    parameters: QTable | None
    source: str

    @classmethod
    def checked(
        cls,
        wavelength: object,
        flux: object,
        source: str,
        std: object | None = None,
        parameters: QTable | None = None,
    ) -> Spectra:
        """Spectra whose wavelengths increase and whose flux matches them in length.

        Raises
        ------
        GridInputError
            If the wavelengths are not strictly increasing (:func:`check_wavelength`).
        SpectrumInputError
            If the shapes disagree.
        """
        wavelength = check_wavelength(np.asarray(wavelength, dtype=float), source)
        flux = np.atleast_2d(np.asarray(flux))
        if not np.issubdtype(flux.dtype, np.floating):
            flux = flux.astype(float)
        if flux.ndim != 2 or flux.shape[1] != wavelength.size:
            raise SpectrumInputError(
                f"{source}: flux of shape {flux.shape} does not match its {wavelength.size} "
                f"wavelengths; expected ({wavelength.size},) or (n, {wavelength.size})"
            )
        if std is not None:
            std = np.asarray(std, dtype=flux.dtype)
            if std.shape != flux.shape:
                raise SpectrumInputError(
                    f"{source}: a spread of shape {std.shape} for flux of shape {flux.shape}"
                )
        if parameters is not None and len(parameters) != len(flux):
            raise SpectrumInputError(
                f"{source}: {len(parameters)} rows of parameters for {len(flux)} spectra"
            )
        return cls(wavelength, flux, std, parameters, source)


def parameter_table(names: Sequence[str], units: Sequence[str], values: np.ndarray) -> QTable:
    """Parameters ``(n, k)`` as a ``QTable``: one column per name, with its unit."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    return QTable({n: values[:, k] * u.Unit(unit) for k, (n, unit) in enumerate(zip(names, units))})
