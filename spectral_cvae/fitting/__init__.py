"""Fitting observed spectra: stellar parameters, radial velocity and continuum with errors.

>>> from spectral_cvae.fitting import fit_spectrum               # doctest: +SKIP
>>> from spectral_cvae.io import read_spectrum
>>> from spectral_cvae.model import load_model
>>> result = fit_spectrum(load_model("model.keras"), read_spectrum("star.fits"), resolution=48000)
>>> result.parameters["teff"], result.uncertainties["teff"], result.radial_velocity
>>> result.plot("star-fit.png"); result.to_json("star-fit.json")

Modules: :mod:`.observation` (which pixels are fitted, air/vacuum, coverage),
:mod:`.model` (generated spectrum -> observed pixels), :mod:`.jacobian` (derivatives),
:mod:`.radial_velocity` (cross-correlation start), :mod:`.optimizer` (the bounded least
squares) and :mod:`.result` (:class:`FitResult`).
"""

from .model import Generator, ObservationModel
from .observation import MIN_SPAN, Observation, ObservationError, prepare_observation
from .optimizer import fit_spectrum
from .result import FitResult

__all__ = [
    "FitResult",
    "Generator",
    "MIN_SPAN",
    "Observation",
    "ObservationError",
    "ObservationModel",
    "fit_spectrum",
    "prepare_observation",
]
