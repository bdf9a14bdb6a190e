"""Fitting observed spectra: stellar parameters, radial velocity and continuum with errors.

>>> from spectral_cvae.fitting import fit_spectrum               # doctest: +SKIP
>>> from spectral_cvae.io import read_spectrum
>>> from spectral_cvae.model import SpectrumGenerator
>>> generator = SpectrumGenerator.load("model.keras")
>>> result = fit_spectrum(generator, read_spectrum("star.fits"), resolution=48000)
>>> result.parameters["teff"], result.uncertainties["teff"], result.radial_velocity
>>> result.plot("star-fit.png"); result.to_json("star-fit.json")
>>> posterior = sample_posterior(generator, result, n_steps=2000)   # emcee, optional
>>> posterior.percentiles["teff"]; posterior.corner("star-corner.png")

Modules: :mod:`.observation` (which pixels are fitted, air/vacuum, coverage),
:mod:`.model` (generated spectrum -> observed pixels), :mod:`.jacobian` (derivatives),
:mod:`.radial_velocity` (cross-correlation start), :mod:`.optimizer` (the bounded least
squares), :mod:`.model_error` (the generator's own error, counted in the uncertainties:
:class:`ModelError`), :mod:`.result` (:class:`FitResult`), :mod:`.posterior` (emcee
sampling of the posterior, :class:`PosteriorSamples`), :mod:`.corner` (its corner plot) and
:mod:`.simulate` (a model spectrum made to look observed, for tests and demonstrations).
"""

from .model import ObservationModel
from .model_error import ModelError
from .observation import MIN_SPAN, Observation, ObservationError, prepare_observation
from .optimizer import fit_spectrum
from .posterior import PosteriorSamples, sample_posterior
from .result import FitResult
from .simulate import make_observation

__all__ = [
    "FitResult",
    "MIN_SPAN",
    "ModelError",
    "Observation",
    "ObservationError",
    "ObservationModel",
    "PosteriorSamples",
    "fit_spectrum",
    "make_observation",
    "prepare_observation",
    "sample_posterior",
]
